import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateCa, generateServingCert } from './auth/pki.ts';
import { startTestServer, testToken, type TestServer } from './testing/test-server.ts';
import { HttpKubeClient } from '../client/http-client.ts';
import { Resources } from '../client/resources.ts';
import { ResourceQuotaController } from '../controllers/resourcequota/controller.ts';
import { until } from '../controllers/testing/objects.ts';
import { silentLogger } from '../lib/log.ts';

/**
 * The real kubectl against the in-process server. kubectl never sends a bearer token over
 * plain HTTP, so this runs over TLS with a throwaway CA.
 */

const kubectlPath = ['/usr/bin/kubectl', '/usr/local/bin/kubectl'].find((p) => existsSync(p));

describe('real kubectl', { skip: kubectlPath ? false : 'kubectl not installed' }, () => {
  let t: TestServer;
  let dir: string;
  let kubeconfig: string;
  let caCert: string;

  const kubectl = (args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      const child = execFile(
        kubectlPath as string,
        ['--kubeconfig', kubeconfig, '--cache-dir', join(dir, 'cache'), ...args],
        { timeout: 20_000, env: { PATH: process.env.PATH ?? '', HOME: dir } },
        (err, stdout, stderr) => {
          const code = err ? (typeof (err as NodeJS.ErrnoException & { code?: unknown }).code === 'number' ? Number(err.code) : 1) : 0;
          resolve({ code, stdout, stderr });
        },
      );
      if (input !== undefined) child.stdin?.end(input);
    });
  const ok = async (args: string[], input?: string): Promise<string> => {
    const r = await kubectl(args, input);
    assert.equal(r.code, 0, `kubectl ${args.join(' ')} failed: ${r.stderr}`);
    return r.stdout;
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hedge-kubectl-'));
    const ca = await generateCa();
    caCert = ca.cert;
    const serving = await generateServingCert({ ca, hosts: ['127.0.0.1'] });
    t = await startTestServer({ tls: { cert: serving.cert, key: serving.key, clientCa: ca.cert } });
    kubeconfig = join(dir, 'kubeconfig');
    const b64 = (s: string): string => Buffer.from(s).toString('base64');
    await writeFile(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        '- name: hedge',
        '  cluster:',
        `    server: ${t.url}`,
        `    certificate-authority-data: ${b64(ca.cert)}`,
        'users:',
        '- name: admin',
        '  user:',
        `    token: ${testToken}`,
        'contexts:',
        '- name: hedge',
        '  context: {cluster: hedge, user: admin, namespace: default}',
        'current-context: hedge',
        '',
      ].join('\n'),
    );
  });
  after(async () => {
    await t?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const podYaml = (name: string, labels = 'app: web'): string =>
    `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\n  labels:\n    ${labels}\nspec:\n  containers:\n  - name: main\n    image: busybox:1.36\n`;

  it('reports the server version without a skew warning', async () => {
    const r = await kubectl(['version', '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const v = JSON.parse(r.stdout) as { serverVersion: { gitVersion: string } };
    assert.match(v.serverVersion.gitVersion, /^v1\.32\./);
    assert.doesNotMatch(r.stderr, /skew/i);
  });

  it('lists api-resources through aggregated discovery', async () => {
    const out = await ok(['api-resources']);
    assert.match(out, /^pods\s+po\s+v1\s+true\s+Pod$/m);
    assert.match(out, /^runtimeclasses\s+node\.k8s\.io\/v1\s+false\s+RuntimeClass$/m);
  });

  it('creates from a file and prints tables, yaml, json, wide and jsonpath', async () => {
    assert.match(await ok(['create', '-f', '-'], podYaml('web-1')), /pod\/web-1 created/);
    const table = await ok(['get', 'pods']);
    assert.match(table, /^NAME\b/m);
    assert.match(table, /^web-1\b/m);
    const all = await ok(['get', 'pods', '-A']);
    assert.match(all, /^default\s+web-1\b/m);
    assert.match(await ok(['get', 'pods', '-o', 'wide']), /web-1/);
    const y = await ok(['get', 'pod', 'web-1', '-o', 'yaml']);
    assert.match(y, /^kind: Pod$/m);
    assert.match(y, /^ {2}name: web-1$/m);
    const j = JSON.parse(await ok(['get', 'pod', 'web-1', '-o', 'json'])) as { metadata: { uid: string } };
    assert.ok(j.metadata.uid);
    assert.equal(await ok(['get', 'pod', 'web-1', '-o', 'jsonpath={.spec.containers[0].image}']), 'busybox:1.36');
    assert.match(await ok(['get', 'pods', '-l', 'app=web', '-o', 'name']), /^pod\/web-1$/m);
    assert.match(await ok(['describe', 'pod', 'web-1']), /^Name:\s+web-1$/m);
  });

  it('applies client-side twice (second is unchanged) and server-side twice', async () => {
    const cm = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: fast\n';
    assert.match(await ok(['apply', '-f', '-'], cm), /configmap\/settings created/);
    assert.match(await ok(['apply', '-f', '-'], cm), /configmap\/settings unchanged/);
    const cm2 = cm.replace('fast', 'slow');
    assert.match(await ok(['apply', '-f', '-'], cm2), /configmap\/settings configured/);
    const ssa = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa-settings\ndata:\n  a: "1"\n';
    assert.match(await ok(['apply', '--server-side', '-f', '-'], ssa), /serverside-applied/);
    assert.match(await ok(['apply', '--server-side', '-f', '-'], ssa), /serverside-applied/);
    assert.equal(await ok(['get', 'cm', 'ssa-settings', '-o', 'jsonpath={.data.a}']), '1');
  });

  it('patches (json, merge, strategic), labels and annotates', async () => {
    await ok(['patch', 'cm', 'settings', '--type', 'merge', '-p', '{"data":{"m":"1"}}']);
    await ok(['patch', 'cm', 'settings', '--type', 'json', '-p', '[{"op":"add","path":"/data/j","value":"2"}]']);
    await ok(['patch', 'pod', 'web-1', '-p', '{"metadata":{"labels":{"s":"3"}}}']);
    await ok(['label', 'cm', 'settings', 'tier=backend']);
    await ok(['annotate', 'cm', 'settings', 'owner=me']);
    const cm = JSON.parse(await ok(['get', 'cm', 'settings', '-o', 'json'])) as {
      data: Record<string, string>;
      metadata: { labels: Record<string, string>; annotations: Record<string, string> };
    };
    assert.equal(cm.data.m, '1');
    assert.equal(cm.data.j, '2');
    assert.equal(cm.metadata.labels.tier, 'backend');
    assert.equal(cm.metadata.annotations.owner, 'me');
    assert.equal(await ok(['get', 'pod', 'web-1', '-o', 'jsonpath={.metadata.labels.s}']), '3');
  });

  it('patches a node whose status a v1.32 kubelet wrote, without unknown-field warnings', async () => {
    await ok(['create', '-f', '-'], 'apiVersion: v1\nkind: Node\nmetadata:\n  name: edge-k\n');
    // what src/agent/node/node-status.ts writes: 1.32 added features.userNamespaces
    const status = { status: { runtimeHandlers: [{ name: 'runc', features: { recursiveReadOnlyMounts: false, userNamespaces: false } }] } };
    for (const args of [
      ['patch', 'node', 'edge-k', '--subresource=status', '--type=merge', '-p', JSON.stringify(status)],
      ['label', 'node', 'edge-k', 'zone=z1'],
      ['patch', 'node', 'edge-k', '-p', '{"metadata":{"annotations":{"a":"b"}}}'],
    ]) {
      const r = await kubectl(args);
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stderr, /Warning/, `kubectl ${args.join(' ')}`);
    }
    assert.equal(await ok(['get', 'node', 'edge-k', '-o', 'jsonpath={.status.runtimeHandlers[0].features.userNamespaces}']), 'false');
  });

  it('creates typed objects that kubectl sends as protobuf', async () => {
    assert.match(await ok(['create', 'namespace', 'team-a']), /namespace\/team-a created/);
    assert.match(await ok(['create', 'configmap', 'cfg', '-n', 'team-a', '--from-literal=k=v', '--from-literal=x=y']), /created/);
    assert.match(await ok(['create', 'secret', 'generic', 'sec', '-n', 'team-a', '--from-literal=pw=s3cret']), /created/);
    assert.match(await ok(['create', 'serviceaccount', 'robot', '-n', 'team-a']), /created/);
    const cm = JSON.parse(await ok(['get', 'cm', 'cfg', '-n', 'team-a', '-o', 'json'])) as { data: Record<string, string> };
    assert.deepEqual(cm.data, { k: 'v', x: 'y' });
    const sec = JSON.parse(await ok(['get', 'secret', 'sec', '-n', 'team-a', '-o', 'json'])) as { data: Record<string, string>; type: string };
    assert.equal(Buffer.from(sec.data.pw, 'base64').toString(), 's3cret');
    assert.equal(sec.type, 'Opaque');
    assert.match(await ok(['get', 'sa', '-n', 'team-a']), /^robot\b/m);
    assert.match(await ok(['get', 'sa', '-n', 'team-a']), /^default\b/m);
    // Services: each type, a target port given and not, headless, a fixed node port
    assert.match(await ok(['create', 'service', 'clusterip', 'web', '--tcp=80:8080', '-n', 'team-a']), /service\/web created/);
    assert.match(await ok(['create', 'service', 'clusterip', 'same', '--tcp=81', '-n', 'team-a']), /created/);
    assert.match(await ok(['create', 'service', 'clusterip', 'hl', '--clusterip=None', '--tcp=80', '-n', 'team-a']), /created/);
    assert.match(await ok(['create', 'service', 'nodeport', 'np', '--tcp=80:8080', '--node-port=30081', '-n', 'team-a']), /created/);
    assert.match(await ok(['create', 'service', 'externalname', 'ext', '--external-name=example.com', '-n', 'team-a']), /created/);
    const svc = (name: string): Promise<string> => ok(['get', 'svc', name, '-n', 'team-a', '-o', 'jsonpath={.spec.type} {.spec.clusterIP} {.spec.ports[0].port} {.spec.ports[0].targetPort} {.spec.ports[0].nodePort} {.spec.selector.app} {.spec.externalName}']);
    assert.match(await svc('web'), /^ClusterIP 10\.\d+\.\d+\.\d+ 80 8080 {2}web $/);
    assert.match(await svc('same'), /^ClusterIP \S+ 81 81 {2}same $/);
    assert.match(await svc('hl'), /^ClusterIP None 80 80 {2}hl $/);
    assert.match(await svc('np'), /^NodePort \S+ 80 8080 30081 np $/);
    assert.equal(await svc('ext'), 'ExternalName     ext example.com');
    assert.match(await ok(['delete', 'namespace', 'team-a']), /deleted/);
  });

  it('gets the API Priority and Fairness objects with upstream columns, applies a FlowSchema and reads its Dangling status', async () => {
    const out = await ok(['get', 'flowschemas,prioritylevelconfigurations']);
    assert.match(out, /^NAME\s+PRIORITYLEVEL\s+MATCHINGPRECEDENCE\s+DISTINGUISHERMETHOD\s+AGE\s+MISSINGPL$/m);
    assert.match(out, /^flowschema\.flowcontrol\.apiserver\.k8s\.io\/system-node-high\s+node-high\s+400\s+ByUser\s+\S+\s+False$/m);
    assert.match(out, /^flowschema\.flowcontrol\.apiserver\.k8s\.io\/exempt\s+exempt\s+1\s+<none>\s+\S+\s+False$/m);
    assert.match(out, /^NAME\s+TYPE\s+NOMINALCONCURRENCYSHARES\s+QUEUES\s+HANDSIZE\s+QUEUELENGTHLIMIT\s+AGE$/m);
    assert.match(out, /^prioritylevelconfiguration\.flowcontrol\.apiserver\.k8s\.io\/node-high\s+Limited\s+40\s+64\s+6\s+50\s+/m);
    assert.match(out, /^prioritylevelconfiguration\.flowcontrol\.apiserver\.k8s\.io\/exempt\s+Exempt\s+<none>\s+<none>\s+<none>\s+<none>\s+/m);
    const fs = ['apiVersion: flowcontrol.apiserver.k8s.io/v1', 'kind: FlowSchema', 'metadata:', '  name: kubectl-dangling', 'spec:', '  priorityLevelConfiguration:', '    name: no-such-level', '  matchingPrecedence: 300',
      '  rules:', '  - subjects:', '    - kind: User', '      user:', '        name: nobody', '    nonResourceRules:', '    - verbs: ["get"]', '      nonResourceURLs: ["/version"]', ''].join('\n');
    await ok(['apply', '-f', '-'], fs);
    await until(async () => /True$/m.test(await ok(['get', 'flowschema', 'kubectl-dangling', '--no-headers'])), 'the Dangling condition');
    const bad = await kubectl(['create', '-f', '-'], fs.replace('kubectl-dangling', 'kubectl-bad').replace('300', '0'));
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /spec\.matchingPrecedence: Invalid value: 0: must be between 1 and 10000, inclusive/);
  });

  it('creates a PriorityClass (protobuf), prints it, and a pod gets its priority', async () => {
    assert.match(await ok(['create', 'priorityclass', 'batch-high', '--value=1000', '--description=batch', '--preemption-policy=Never']), /priorityclass.scheduling.k8s.io\/batch-high created/);
    const table = await ok(['get', 'priorityclass']);
    assert.match(table, /^NAME\s+VALUE\s+GLOBAL-DEFAULT\s+AGE\s+PREEMPTIONPOLICY$/m);
    assert.match(table, /^batch-high\s+1000\s+false\s+\S+\s+Never$/m);
    assert.match(table, /^system-node-critical\s+2000001000\s+false\s+/m);
    await ok(['apply', '-f', '-'], `${podYaml('prio-pod')}  priorityClassName: batch-high\n`);
    assert.equal(await ok(['get', 'pod', 'prio-pod', '-o', 'jsonpath={.spec.priority} {.spec.preemptionPolicy}']), '1000 Never');
    const del = await kubectl(['delete', 'priorityclass', 'system-cluster-critical']);
    assert.notEqual(del.code, 0);
    assert.match(del.stderr, /this is a system priority class and cannot be deleted/);
    const tooHigh = await kubectl(['create', 'priorityclass', 'too-high', '--value=1000000001']);
    assert.match(tooHigh.stderr, /maximum allowed value of a user defined priority is 1000000000/);
    await ok(['delete', 'pod', 'prio-pod', '--wait=false']);
  });

  it('kubectl debug adds an ephemeral container through pods/ephemeralcontainers; it may only be added, not changed, nor set on create', async () => {
    await ok(['create', '-f', '-'], podYaml('debugme'));
    const out = await kubectl(['debug', 'debugme', '--image=busybox:1.36', '--target=main', '-c', 'dbg', '--', 'sleep', '60']);
    assert.equal(out.code, 0, out.stderr);
    const pod = JSON.parse(await ok(['get', 'pod', 'debugme', '-o', 'json'])) as {
      spec: { ephemeralContainers?: { name: string; image: string; targetContainerName?: string; command?: string[]; terminationMessagePath?: string }[] };
    };
    const e = pod.spec.ephemeralContainers?.[0];
    assert.deepEqual([e?.name, e?.image, e?.targetContainerName, e?.command], ['dbg', 'busybox:1.36', 'main', ['sleep', '60']]);
    assert.equal(e?.terminationMessagePath, '/dev/termination-log', 'defaulted like a container');
    // the main resource neither drops nor changes them (kubectl replace sends the pod as read)
    const replaced = await kubectl(['replace', '-f', '-'], JSON.stringify({ ...pod, spec: { ...pod.spec, ephemeralContainers: [] } }));
    assert.equal(replaced.code, 0, replaced.stderr);
    assert.equal(await ok(['get', 'pod', 'debugme', '-o', 'jsonpath={.spec.ephemeralContainers[0].name}']), 'dbg');
    // changing one through the subresource is refused, with the field
    const changed = await kubectl(['patch', 'pod', 'debugme', '--subresource=ephemeralcontainers', '--type=json', '-p', '[{"op":"replace","path":"/spec/ephemeralContainers/0/image","value":"busybox:1.37"}]']);
    assert.notEqual(changed.code, 0);
    assert.match(changed.stderr, /spec\.ephemeralContainers\[dbg\]: Forbidden: existing ephemeral containers may not be changed/);
    const badTarget = await kubectl(['debug', 'debugme', '--image=busybox:1.36', '--target=nope', '-c', 'dbg2']);
    assert.notEqual(badTarget.code, 0);
    assert.match(badTarget.stderr, /targetContainerName: Not found: "nope"/);
    const onCreate = await kubectl(['create', '-f', '-'], `${podYaml('born-debugged')}  ephemeralContainers:\n  - name: e\n    image: busybox:1.36\n`);
    assert.notEqual(onCreate.code, 0);
    assert.match(onCreate.stderr, /spec\.ephemeralContainers: Forbidden: cannot be set on create/);
  });

  it('kubectl create quota (protobuf), get and describe quota, get limitrange', async () => {
    const stop = new AbortController();
    const client = new HttpKubeClient({ server: t.url, ca: caCert, token: testToken });
    const running = new ResourceQuotaController({ client, logger: silentLogger() }).run(stop.signal);
    try {
      await ok(['create', 'namespace', 'quota-ns']);
      await ok(['create', 'quota', 'compute', '--hard=pods=2,requests.cpu=1,limits.memory=1Gi', '-n', 'quota-ns']);
      await until(async () => ((await client.get(Resources.resourcequotas, 'compute', { namespace: 'quota-ns' })).status as { used?: { pods?: string } } | undefined)?.used?.pods === '0', 'quota status');
      assert.match(await ok(['get', 'quota', '-n', 'quota-ns']), /^NAME\s+AGE\s+REQUEST\s+LIMIT\ncompute\s+\S+\s+pods: 0\/2, requests\.cpu: 0\/1\s+limits\.memory: 0\/1Gi\n$/);
      const described = await ok(['describe', 'quota', 'compute', '-n', 'quota-ns']);
      assert.match(described, /Resource\s+Used\s+Hard\n-+\s+-+\s+-+\nlimits\.memory\s+0\s+1Gi\npods\s+0\s+2\nrequests\.cpu\s+0\s+1\n/);
      await ok(['apply', '-n', 'quota-ns', '-f', '-'], 'apiVersion: v1\nkind: LimitRange\nmetadata:\n  name: limits\nspec:\n  limits:\n  - type: Container\n    max: {cpu: "1"}\n');
      assert.match(await ok(['get', 'limitrange', '-n', 'quota-ns']), /^NAME\s+CREATED AT\nlimits\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n$/);
      assert.match(await ok(['describe', 'limitrange', 'limits', '-n', 'quota-ns']), /Container\s+cpu\s+-\s+1\s+1\s+1\s+-/);
    } finally {
      stop.abort();
      await running;
    }
  });

  it('kubectl get sc shows the default class; apply and get a PVC', async () => {
    assert.match(await ok(['get', 'sc']), /^NAME\s+PROVISIONER\s+RECLAIMPOLICY\s+VOLUMEBINDINGMODE\s+ALLOWVOLUMEEXPANSION\s+AGE\nlocal-path \(default\)\s+hedge\.io\/local-path\s+Delete\s+WaitForFirstConsumer\s+false\s+\S+\n$/);
    await ok(['apply', '-f', '-'], 'apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: data\nspec:\n  accessModes: [ReadWriteOnce]\n  resources:\n    requests:\n      storage: 1Gi\n');
    assert.match(await ok(['get', 'pvc']), /^NAME\s+STATUS\s+VOLUME\s+CAPACITY\s+ACCESS MODES\s+STORAGECLASS\s+VOLUMEATTRIBUTESCLASS\s+AGE\ndata\s+Pending\s+local-path\s+<unset>\s+\S+\n$/);
    await ok(['apply', '-f', '-'], 'apiVersion: v1\nkind: PersistentVolume\nmetadata:\n  name: manual\nspec:\n  capacity: {storage: 5Gi}\n  accessModes: [ReadWriteOnce]\n  hostPath: {path: /srv/manual}\n');
    assert.match(await ok(['get', 'pv']), /^NAME\s+CAPACITY\s+ACCESS MODES\s+RECLAIM POLICY\s+STATUS\s+CLAIM\s+STORAGECLASS\s+VOLUMEATTRIBUTESCLASS\s+REASON\s+AGE\nmanual\s+5Gi\s+RWO\s+Retain\s+Pending\s+<unset>\s+\S+\n$/);
    const bad = await kubectl(['apply', '-f', '-'], 'apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: bad\nspec:\n  accessModes: [ReadWriteOnce]\n');
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /spec\.resources\[storage\]: Required value/);
    // kubernetes.io/pvc-protection holds it until the protection controller (not running here) lets go
    await ok(['delete', 'pvc', 'data', '--wait=false']);
    assert.match(await ok(['get', 'pvc', 'data', '--no-headers']), /^data\s+Terminating\s/);
  });

  it('kubectl apply/get/delete a ValidatingWebhookConfiguration (NAME WEBHOOKS AGE); a bad one is refused with its field', async () => {
    // an objectSelector nothing carries: the webhook never fires on the other tests' objects
    const cfg = (sideEffects: string) =>
      `apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\nmetadata:\n  name: policy\nwebhooks:\n- name: policy.example.com\n  clientConfig:\n    url: https://127.0.0.1:1/validate\n  rules:\n  - operations: [CREATE]\n    apiGroups: ['']\n    apiVersions: [v1]\n    resources: [configmaps]\n  objectSelector:\n    matchLabels: {never: matched}\n  failurePolicy: Ignore\n  sideEffects: ${sideEffects}\n  admissionReviewVersions: [v1]\n`;
    await ok(['apply', '-f', '-'], cfg('None'));
    assert.match(await ok(['get', 'validatingwebhookconfigurations']), /^NAME\s+WEBHOOKS\s+AGE\npolicy\s+1\s+\S+\n$/);
    const bad = await kubectl(['apply', '-f', '-'], cfg('Sometimes'));
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /webhooks\[0\]\.sideEffects: Unsupported value: "Sometimes"/);
    await ok(['delete', 'validatingwebhookconfiguration', 'policy']);
  });

  it('kubectl create ingress (protobuf), get ing and ingressclass columns, describe, and a chart-style Ingress applied', async () => {
    await ok(['create', 'namespace', 'ing-ns']);
    await ok(['apply', '-f', '-'], 'apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata:\n  name: x\nspec:\n  controller: example.com/ingress-controller\n');
    assert.match(await ok(['get', 'ingressclass']), /^NAME\s+CONTROLLER\s+PARAMETERS\s+AGE\nhedge\s+hedge\.io\/ingress\s+<none>\s+\S+\nx\s+example\.com\/ingress-controller\s+<none>\s+\S+\n$/);
    assert.match(await ok(['create', 'ingress', 'web', '--class=x', '--rule=foo.example.com/=svc:80', '-n', 'ing-ns']), /ingress.networking.k8s.io\/web created/);
    assert.match(await ok(['get', 'ing', '-n', 'ing-ns']), /^NAME\s+CLASS\s+HOSTS\s+ADDRESS\s+PORTS\s+AGE\nweb\s+x\s+foo\.example\.com\s+80\s+\S+\n$/);
    assert.equal(await ok(['get', 'ing', 'web', '-n', 'ing-ns', '-o', 'jsonpath={.spec.rules[0].http.paths[0].pathType} {.spec.rules[0].http.paths[0].backend.service.port.number}']), 'Exact 80');
    const described = await ok(['describe', 'ingress', 'web', '-n', 'ing-ns']);
    assert.match(described, /^Name:\s+web$/m);
    assert.match(described, /^Ingress Class:\s+x$/m);
    assert.match(described, /foo\.example\.com\s*\n\s+\/\s+svc:80 \(/);
    // what `helm template` renders for a typical chart with ingress.enabled: Prefix paths, TLS, annotations
    const chart = [
      'apiVersion: networking.k8s.io/v1',
      'kind: Ingress',
      'metadata:',
      '  name: release-app',
      '  labels: {app.kubernetes.io/name: app, app.kubernetes.io/instance: release}',
      '  annotations:',
      '    nginx.ingress.kubernetes.io/rewrite-target: /',
      '    cert-manager.io/cluster-issuer: letsencrypt',
      'spec:',
      '  ingressClassName: x',
      '  tls:',
      '  - hosts: [chart-example.local]',
      '    secretName: chart-example-tls',
      '  rules:',
      '  - host: chart-example.local',
      '    http:',
      '      paths:',
      '      - path: /',
      '        pathType: Prefix',
      '        backend:',
      '          service:',
      '            name: release-app',
      '            port: {number: 80}',
      '',
    ].join('\n');
    await ok(['apply', '-n', 'ing-ns', '-f', '-'], chart);
    assert.match(await ok(['get', 'ing', 'release-app', '-n', 'ing-ns', '--no-headers']), /^release-app\s+x\s+chart-example\.local\s+80, 443\s+\S+\n$/);
    // applied again unchanged, then changed: a server-side diff, no conflict
    assert.match(await ok(['apply', '-n', 'ing-ns', '-f', '-'], chart), /unchanged/);
    await ok(['apply', '-n', 'ing-ns', '-f', '-'], chart.replace('pathType: Prefix', 'pathType: ImplementationSpecific'));
    const bad = await kubectl(['create', 'ingress', 'bad', '--rule=10.0.0.1/=svc:80', '-n', 'ing-ns']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /spec\.rules\[0\]\.host: Invalid value: "10\.0\.0\.1": must be a DNS name, not an IP address/);
    await ok(['delete', 'namespace', 'ing-ns', '--wait=false']);
  });

  it('kubectl autoscale (autoscaling/v1, protobuf) makes an HPA that v2 reads; a v1 manifest applies client- and server-side', async () => {
    await ok(['create', 'namespace', 'hpa-ns']);
    await ok(['create', 'deployment', 'web', '--image=busybox', '-n', 'hpa-ns']);
    assert.match(await ok(['autoscale', 'deployment', 'web', '--min=2', '--max=5', '--cpu-percent=60', '-n', 'hpa-ns']), /horizontalpodautoscaler.autoscaling\/web autoscaled/);
    assert.match(await ok(['get', 'hpa', '-n', 'hpa-ns']), /^NAME\s+REFERENCE\s+TARGETS\s+MINPODS\s+MAXPODS\s+REPLICAS\s+AGE\nweb\s+Deployment\/web\s+cpu: <unknown>\/60%\s+2\s+5\s+/);
    assert.equal(await ok(['get', 'hpa', 'web', '-n', 'hpa-ns', '-o', 'jsonpath={.apiVersion} {.spec.metrics[0].resource.target.averageUtilization}']), 'autoscaling/v2 60');
    const manifest = (max: number): string =>
      `apiVersion: autoscaling/v1\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: h1\n  namespace: hpa-ns\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n  maxReplicas: ${max}\n  targetCPUUtilizationPercentage: 40\n`;
    assert.match(await ok(['apply', '-f', '-'], manifest(4)), /created/);
    assert.match(await ok(['apply', '-f', '-'], manifest(6)), /configured/);
    assert.match(await ok(['apply', '--server-side', '--force-conflicts', '-f', '-'], manifest(7)), /serverside-applied/);
    assert.equal(await ok(['get', 'hpa', 'h1', '-n', 'hpa-ns', '-o', 'jsonpath={.spec.maxReplicas} {.spec.metrics[0].resource.target.averageUtilization}']), '7 40');
    assert.equal((await kubectl(['diff', '-f', '-'], manifest(7))).code, 0);
    assert.match(await ok(['delete', 'namespace', 'hpa-ns']), /deleted/);
  });

  it('reports server errors the way kubectl users know them', async () => {
    const nf = await kubectl(['get', 'pod', 'missing']);
    assert.notEqual(nf.code, 0);
    assert.match(nf.stderr, /Error from server \(NotFound\): pods "missing" not found/);
    const strict = await kubectl(['create', '-f', '-'], 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad\nspec:\n  x: 1\n');
    assert.notEqual(strict.code, 0);
    assert.match(strict.stderr, /unknown field "spec"/);
  });

  it('streams get -w and waits for deletion', async () => {
    const child = spawn(kubectlPath as string, ['--kubeconfig', kubeconfig, '--cache-dir', join(dir, 'cache'), 'get', 'pods', '-w'], {
      env: { PATH: process.env.PATH ?? '', HOME: dir },
    });
    let out = '';
    const seen = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`get -w printed: ${out}`)), 15_000);
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (/^web-2\b/m.test(out)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    try {
      // the first line (header + existing pod) shows the watch is established
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no initial output')), 15_000);
        const check = (): void => {
          if (/^web-1\b/m.test(out)) {
            clearTimeout(timer);
            child.stdout.off('data', check);
            resolve();
          }
        };
        child.stdout.on('data', check);
        check();
      });
      await ok(['create', '-f', '-'], podYaml('web-2'));
      await seen;
    } finally {
      child.kill();
    }

    const waiter = kubectl(['wait', '--for=delete', 'pod/web-2', '--timeout=15s']);
    assert.match(await ok(['delete', 'pod', 'web-2']), /pod "web-2" deleted/);
    const w = await waiter;
    assert.equal(w.code, 0, w.stderr);
    assert.equal((await kubectl(['get', 'pod', 'web-2'])).code, 1);
  });
});
