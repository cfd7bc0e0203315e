/**
 * CustomResourceDefinitions with the real kubectl against `hedge server`: the upstream CronTab
 * example (https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/),
 * schema validation, pruning and defaulting, the status and scale subresources, printer columns,
 * a second served version, CRD deletion removing its objects, and a restart reloading the CRDs.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startEtcd, type EtcdProcess } from '../../src/store/etcd/etcd-process.ts';
import { findKubectl, REPO_ROOT, run, startHedgeServer, type HedgeServer } from './harness.ts';

const kubectlPath = findKubectl();
const helm = [join(REPO_ROOT, '.tools/bin/helm'), '/usr/local/bin/helm', '/usr/bin/helm'].find((p) => existsSync(p));

const crontabCrd = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: crontabs.stable.example.com
spec:
  group: stable.example.com
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                cronSpec:
                  type: string
                  pattern: '^(\\d+|\\*)(/\\d+)?(\\s+(\\d+|\\*)(/\\d+)?){4}$'
                image:
                  type: string
                replicas:
                  type: integer
                  minimum: 1
                  maximum: 10
                  default: 1
                size:
                  type: string
                  enum: [small, large]
              required: [cronSpec]
            status:
              type: object
              properties:
                replicas:
                  type: integer
                labelSelector:
                  type: string
      subresources:
        status: {}
        scale:
          specReplicasPath: .spec.replicas
          statusReplicasPath: .status.replicas
          labelSelectorPath: .status.labelSelector
      additionalPrinterColumns:
        - name: Spec
          type: string
          description: The cron spec defining the interval a CronJob is run
          jsonPath: .spec.cronSpec
        - name: Replicas
          type: integer
          description: The number of jobs launched by the CronJob
          jsonPath: .spec.replicas
        - name: Age
          type: date
          jsonPath: .metadata.creationTimestamp
    - name: v2
      served: true
      storage: false
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
  scope: Namespaced
  names:
    plural: crontabs
    singular: crontab
    kind: CronTab
    shortNames:
    - ct
`;

const crontab = (name: string, extra = ''): string => `apiVersion: "stable.example.com/v1"
kind: CronTab
metadata:
  name: ${name}
spec:
  cronSpec: "* * * * */5"
  image: my-awesome-cron-image
${extra}`;

/** a CRD with CEL rules of the kinds Gateway API and cert-manager use */
const gatewayCrd = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gates.cel.example.com
spec:
  group: cel.example.com
  scope: Namespaced
  names: {plural: gates, singular: gate, kind: Gate}
  versions:
    - name: v1
      served: true
      storage: true
      subresources: {status: {}}
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              x-kubernetes-validations:
                - rule: 'self.minReplicas <= self.maxReplicas'
                  messageExpression: '"minReplicas (" + string(self.minReplicas) + ") must not exceed maxReplicas (" + string(self.maxReplicas) + ")"'
              properties:
                minReplicas: {type: integer}
                maxReplicas: {type: integer}
                mode:
                  type: string
                  x-kubernetes-validations:
                    - rule: 'self == oldSelf'
                      message: mode is immutable
                listeners:
                  type: array
                  x-kubernetes-list-type: map
                  x-kubernetes-list-map-keys: [name]
                  items:
                    type: object
                    required: [name]
                    properties:
                      name: {type: string}
                      port: {type: integer}
                    x-kubernetes-validations:
                      - rule: 'self.port >= 1 && self.port <= 65535'
                        message: port must be in 1-65535
                        fieldPath: .port
                        reason: FieldValueForbidden
            status:
              type: object
              properties:
                phase:
                  type: string
                  x-kubernetes-validations:
                    - rule: "self in ['Ready', 'Pending']"
`;

const gate = (name: string, spec: string): string => `apiVersion: cel.example.com/v1
kind: Gate
metadata:
  name: ${name}
spec:
  ${spec}
`;

describe('CustomResourceDefinitions with the real kubectl', { skip: kubectlPath ? false : 'kubectl not installed', timeout: 300_000 }, () => {
  let server: HedgeServer;
  /** the first server: it owns the data dir that a restarted one reuses, and removes it */
  let owner: HedgeServer | undefined;

  const kubectl = async (args: string[], input?: string): Promise<string> => {
    const r = await server.kubectl(args, { input, timeoutMs: 60_000 });
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}\n${server.output().slice(-3000)}`);
    return r.stdout;
  };
  const kubectlFails = async (args: string[], input?: string): Promise<string> => {
    const r = await server.kubectl(args, { input, timeoutMs: 60_000 });
    assert.notEqual(r.code, 0, `kubectl ${args.join(' ')} should fail: ${r.stdout}`);
    return r.stderr;
  };

  before(async () => {
    server = owner = await startHedgeServer();
  });
  after(async () => {
    await server?.stop();
    await owner?.cleanup();
  });

  it('creates the CRD; it becomes Established and kubectl finds the new type', async () => {
    await kubectl(['apply', '-f', '-'], crontabCrd);
    await kubectl(['wait', '--for=condition=Established', 'crd/crontabs.stable.example.com', '--timeout=30s']);
    const crd = JSON.parse(await kubectl(['get', 'crd', 'crontabs.stable.example.com', '-o', 'json'])) as {
      metadata: { finalizers?: string[] };
      status: { conditions: { type: string; status: string }[]; acceptedNames: { kind: string }; storedVersions: string[] };
    };
    assert.deepEqual(crd.metadata.finalizers, ['customresourcecleanup.apiextensions.k8s.io']);
    assert.ok(crd.status.conditions.some((c) => c.type === 'NamesAccepted' && c.status === 'True'));
    assert.equal(crd.status.acceptedNames.kind, 'CronTab');
    assert.deepEqual(crd.status.storedVersions, ['v1']);
    const res = await kubectl(['api-resources', '--api-group=stable.example.com']);
    assert.match(res, /crontabs\s+ct\s+stable\.example\.com\/v1\s+true\s+CronTab/);
  });

  it('the CronTab example: create, get by plural and short name, printer columns, defaults', async () => {
    await kubectl(['apply', '-f', '-'], crontab('my-new-cron-object'));
    const table = await kubectl(['get', 'crontab']);
    assert.match(table, /^NAME\s+SPEC\s+REPLICAS\s+AGE\n/);
    assert.match(table, /my-new-cron-object\s+\* \* \* \* \*\/5\s+1\s+\d+s/);
    const short = await kubectl(['get', 'ct', 'my-new-cron-object', '-o', 'jsonpath={.spec.replicas}']);
    assert.equal(short, '1', 'replicas defaulted from the schema');
    const explain = await kubectl(['explain', 'crontab.spec.replicas']);
    assert.match(explain, /replicas\s+<integer>/);
  });

  it('rejects invalid objects with the field and the rule', async () => {
    let err = await kubectlFails(['apply', '-f', '-'], crontab('too-many', '  replicas: 15\n'));
    assert.match(err, /spec\.replicas: Invalid value: 15: spec\.replicas in body should be less than or equal to 10/);
    err = await kubectlFails(['apply', '-f', '-'], crontab('bad-size', '  size: medium\n'));
    assert.match(err, /spec\.size: Unsupported value: "medium": supported values: "small", "large"/);
    err = await kubectlFails(['create', '-f', '-'], 'apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata:\n  name: no-spec\nspec:\n  image: x\n');
    assert.match(err, /spec\.cronSpec: Required value/);
    err = await kubectlFails(['create', '-f', '-'], crontab('bad-cron').replace('* * * * */5', 'every minute'));
    assert.match(err, /spec\.cronSpec in body should match/);
    err = await kubectlFails(['create', '-f', '-'], crontab('bad-type', '  replicas: "three"\n'));
    assert.match(err, /spec\.replicas in body must be of type integer/);
    assert.equal((await server.kubectl(['get', 'ct', 'too-many'])).code, 1, 'nothing was written');
  });

  it('x-kubernetes-validations: CEL rules refuse what upstream refuses, on create, update and status', async () => {
    const badRule = gatewayCrd.replace("rule: 'self.minReplicas <= self.maxReplicas'", "rule: 'self.minReplicas <='");
    let err = await kubectlFails(['apply', '-f', '-'], badRule);
    assert.match(err, /spec\.versions\[0\]\.schema\.openAPIV3Schema\.properties\[spec\]\.x-kubernetes-validations\[0\]\.rule: Invalid value: .*compilation failed: ERROR: <input>:1:/);
    await kubectl(['apply', '-f', '-'], gatewayCrd);
    await kubectl(['wait', '--for=condition=Established', 'crd/gates.cel.example.com', '--timeout=30s']);
    await kubectl(['apply', '-f', '-'], gate('ok', 'minReplicas: 1\n  maxReplicas: 3\n  mode: fast'));
    err = await kubectlFails(['apply', '-f', '-'], gate('inverted', 'minReplicas: 5\n  maxReplicas: 3\n  mode: fast'));
    assert.match(err, /spec: Invalid value: minReplicas \(5\) must not exceed maxReplicas \(3\)/);
    err = await kubectlFails(['apply', '-f', '-'], gate('bad-listener', 'minReplicas: 1\n  maxReplicas: 3\n  mode: fast\n  listeners:\n  - name: a\n    port: 70000'));
    assert.match(err, /spec\.listeners\[0\]\.port: Forbidden: port must be in 1-65535/);
    // the transition rule: mode is immutable once set
    err = await kubectlFails(['apply', '-f', '-'], gate('ok', 'minReplicas: 1\n  maxReplicas: 3\n  mode: slow'));
    assert.match(err, /spec\.mode: Invalid value: "slow": mode is immutable/);
    await kubectl(['apply', '-f', '-'], gate('ok', 'minReplicas: 2\n  maxReplicas: 3\n  mode: fast'));
    // the status subresource is validated too
    err = await kubectlFails(['patch', 'gate', 'ok', '--subresource=status', '--type=merge', '-p', '{"status":{"phase":"Exploded"}}']);
    assert.match(err, /status\.phase: Invalid value: "Exploded": failed rule: self in \['Ready', 'Pending'\]/);
    await kubectl(['patch', 'gate', 'ok', '--subresource=status', '--type=merge', '-p', '{"status":{"phase":"Ready"}}']);
    await kubectl(['delete', 'crd', 'gates.cel.example.com', '--wait=true']);
  });

  it('prunes unknown fields (and refuses them under --validate=strict)', async () => {
    const err = await kubectlFails(['create', '--validate=strict', '-f', '-'], crontab('strict', '  color: blue\n'));
    assert.match(err, /unknown field "spec\.color"/);
    await kubectl(['create', '--validate=false', '-f', '-'], crontab('pruned', '  color: blue\nextra: 1\n'));
    const obj = JSON.parse(await kubectl(['get', 'ct', 'pruned', '-o', 'json'])) as Record<string, unknown> & { spec: Record<string, unknown> };
    assert.equal(obj.spec.color, undefined);
    assert.equal(obj.extra, undefined);
    assert.equal(obj.spec.image, 'my-awesome-cron-image');
  });

  it('patches with merge and JSON patch; strategic merge is refused with 415', async () => {
    await kubectl(['patch', 'ct', 'my-new-cron-object', '--type=merge', '-p', '{"spec":{"image":"img-2"}}']);
    await kubectl(['patch', 'ct', 'my-new-cron-object', '--type=json', '-p', '[{"op":"replace","path":"/spec/replicas","value":3}]']);
    const err = await kubectlFails(['patch', 'ct', 'my-new-cron-object', '--type=strategic', '-p', '{"spec":{"image":"img-3"}}']);
    assert.match(err, /UnsupportedMediaType|415|unknown format/i);
    const spec = JSON.parse(await kubectl(['get', 'ct', 'my-new-cron-object', '-o', 'jsonpath={.spec}'])) as { image: string; replicas: number };
    assert.deepEqual([spec.image, spec.replicas], ['img-2', 3]);
    // client-side apply of a changed manifest goes through too (kubectl must pick a merge patch)
    await kubectl(['apply', '-f', '-'], crontab('my-new-cron-object', '  replicas: 4\n'));
    assert.equal(await kubectl(['get', 'ct', 'my-new-cron-object', '-o', 'jsonpath={.spec.replicas}']), '4');
  });

  it('status and scale subresources: each ignores the other half; kubectl scale works', async () => {
    const before = JSON.parse(await kubectl(['get', 'ct', 'my-new-cron-object', '-o', 'json'])) as { metadata: { generation: number } };
    // status on the main resource is ignored
    await kubectl(['patch', 'ct', 'my-new-cron-object', '--type=merge', '-p', '{"status":{"replicas":7}}']);
    assert.equal(await kubectl(['get', 'ct', 'my-new-cron-object', '-o', 'jsonpath={.status.replicas}']), '');
    // spec on /status is ignored, status is written, generation stays
    await kubectl(['patch', 'ct', 'my-new-cron-object', '--subresource=status', '--type=merge', '-p', '{"spec":{"image":"ignored"},"status":{"replicas":2,"labelSelector":"app=cron"}}']);
    const after = JSON.parse(await kubectl(['get', 'ct', 'my-new-cron-object', '-o', 'json'])) as { metadata: { generation: number }; spec: { image: string }; status: { replicas: number } };
    assert.equal(after.status.replicas, 2);
    assert.equal(after.spec.image, 'my-awesome-cron-image', 'the last apply set the image back');
    assert.equal(after.metadata.generation, before.metadata.generation);
    await kubectl(['scale', 'ct', 'my-new-cron-object', '--replicas=5']);
    assert.equal(await kubectl(['get', 'ct', 'my-new-cron-object', '-o', 'jsonpath={.spec.replicas}']), '5');
    const scale = JSON.parse(await kubectl(['get', '--raw', '/apis/stable.example.com/v1/namespaces/default/crontabs/my-new-cron-object/scale'])) as {
      spec: { replicas: number };
      status: { replicas: number; selector: string };
    };
    assert.deepEqual([scale.spec.replicas, scale.status.replicas, scale.status.selector], [5, 2, 'app=cron']);
    const err = await kubectlFails(['scale', 'ct', 'my-new-cron-object', '--replicas=50']);
    assert.match(err, /spec\.replicas/);
  });

  it('serves the second version with the apiVersion rewritten (conversion None)', async () => {
    const v2 = JSON.parse(await kubectl(['get', '--raw', '/apis/stable.example.com/v2/namespaces/default/crontabs/my-new-cron-object'])) as { apiVersion: string; spec: { image: string } };
    assert.equal(v2.apiVersion, 'stable.example.com/v2');
    assert.equal(v2.spec.image, 'my-awesome-cron-image');
    const v1 = JSON.parse(await kubectl(['get', '--raw', '/apis/stable.example.com/v1/namespaces/default/crontabs/my-new-cron-object'])) as { apiVersion: string };
    assert.equal(v1.apiVersion, 'stable.example.com/v1');
  });

  it('survives a restart: the CRD is reloaded and its objects are served', async () => {
    await server.stop();
    server = await startHedgeServer({ dataDir: server.dataDir });
    const names = await kubectl(['get', 'ct', '-o', 'name']);
    assert.match(names, /crontab\.stable\.example\.com\/my-new-cron-object/);
  });

  it('owner references: the garbage collector deletes dependents of a custom resource, and custom resources owned by others', async () => {
    await kubectl(['apply', '-f', '-'], crontab('owner'));
    const uid = await kubectl(['get', 'ct', 'owner', '-o', 'jsonpath={.metadata.uid}']);
    const ownedCm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'owned-by-ct', ownerReferences: [{ apiVersion: 'stable.example.com/v1', kind: 'CronTab', name: 'owner', uid }] } };
    await kubectl(['create', '-f', '-'], JSON.stringify(ownedCm));
    await kubectl(['create', 'configmap', 'cm-owner']);
    const cmUid = await kubectl(['get', 'configmap', 'cm-owner', '-o', 'jsonpath={.metadata.uid}']);
    await kubectl(['apply', '-f', '-'], crontab('owned-ct').replace('  name: owned-ct\n', `  name: owned-ct\n  ownerReferences:\n  - {apiVersion: v1, kind: ConfigMap, name: cm-owner, uid: ${cmUid}}\n`));
    await kubectl(['delete', 'ct', 'owner']);
    await kubectl(['delete', 'configmap', 'cm-owner']);
    const deadline = Date.now() + 60_000;
    for (;;) {
      const cm = await server.api('GET', '/api/v1/namespaces/default/configmaps/owned-by-ct');
      const ct = await server.api('GET', '/apis/stable.example.com/v1/namespaces/default/crontabs/owned-ct');
      if (cm.status === 404 && ct.status === 404) break;
      if (Date.now() > deadline) assert.fail(`dependents not collected: configmap ${cm.status}, crontab ${ct.status}\n${server.output().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  });

  it('deleting a namespace deletes its custom resources', async () => {
    await kubectl(['create', 'namespace', 'doomed']);
    await kubectl(['apply', '-n', 'doomed', '-f', '-'], crontab('in-doomed'));
    await kubectl(['delete', 'namespace', 'doomed', '--timeout=60s']);
    const left = await server.api('GET', '/apis/stable.example.com/v1/namespaces/doomed/crontabs');
    assert.deepEqual((left.body as { items: unknown[] }).items, []);
  });

  it('deleting the CRD deletes its objects and the type stops being served', async () => {
    await kubectl(['create', 'namespace', 'other']);
    await kubectl(['apply', '-n', 'other', '-f', '-'], crontab('in-other'));
    await kubectl(['delete', 'crd', 'crontabs.stable.example.com', '--timeout=60s']);
    const r = await server.kubectl(['get', 'crontabs.stable.example.com', '-A']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /the server doesn't have a resource type|could not find the requested resource/);
    const raw = await server.api('GET', '/apis/stable.example.com/v1/crontabs');
    assert.equal(raw.status, 404);
    // a new CRD of the same name starts empty
    await kubectl(['apply', '-f', '-'], crontabCrd);
    await kubectl(['wait', '--for=condition=Established', 'crd/crontabs.stable.example.com', '--timeout=30s']);
    const list = await server.api('GET', '/apis/stable.example.com/v1/crontabs');
    assert.equal(list.status, 200);
    assert.deepEqual((list.body as { items: unknown[] }).items, []);
  });

  it('helm 3 installs, upgrades and uninstalls a chart with RBAC, a CRD and a custom resource', { skip: helm ? false : 'no helm (run scripts/setup.sh)' }, async () => {
    const tmp = await mkdtemp(join(tmpdir(), 'hedge-helm-crd-'));
    try {
      const h = async (args: string[]): Promise<string> => {
        const env = { ...process.env, KUBECONFIG: server.kubeconfig, HOME: tmp, HELM_CACHE_HOME: join(tmp, 'hc'), HELM_CONFIG_HOME: join(tmp, 'hcfg'), HELM_DATA_HOME: join(tmp, 'hd') };
        const r = await run(helm as string, args, { env, timeoutMs: 180_000, cwd: tmp });
        assert.equal(r.code, 0, `helm ${args.join(' ')}: ${r.stderr}\n${server.output().slice(-3000)}`);
        return r.stdout;
      };
      const chart = join(REPO_ROOT, 'test/fixtures/helm/widgets');
      await kubectl(['create', 'namespace', 'widgets']);
      await h(['install', 'shop', chart, '-n', 'widgets', '--wait', '--timeout', '2m']);
      const crd = JSON.parse(await kubectl(['get', 'crd', 'widgets.example.hedge.io', '-o', 'json'])) as { status: { conditions: { type: string; status: string }[] } };
      assert.ok(crd.status.conditions.some((c) => c.type === 'Established' && c.status === 'True'));
      assert.match(await kubectl(['-n', 'widgets', 'get', 'widgets']), /shop-widgets\s+small\s+1\s+/);
      assert.match(await kubectl(['-n', 'widgets', 'get', 'sa,role,rolebinding', '-o', 'name']), /serviceaccount\/shop-widgets[\s\S]*role\.rbac\.authorization\.k8s\.io\/shop-widgets[\s\S]*rolebinding\.rbac\.authorization\.k8s\.io\/shop-widgets/);
      // the chart's RBAC does what it says: its service account may update widgets, not delete them
      const as = ['-n', 'widgets', 'auth', 'can-i', '--as=system:serviceaccount:widgets:shop-widgets'];
      assert.equal((await kubectl([...as, 'patch', 'widgets.example.hedge.io'])).trim(), 'yes');
      assert.equal((await server.kubectl([...as, 'delete', 'widgets.example.hedge.io'])).stdout.trim(), 'no');
      await h(['upgrade', 'shop', chart, '-n', 'widgets', '--set', 'widget.size=large', '--set', 'widget.replicas=3', '--wait', '--timeout', '2m']);
      assert.match(await kubectl(['-n', 'widgets', 'get', 'wdg']), /shop-widgets\s+large\s+3\s+/);
      // a value the schema refuses fails the upgrade with the field, and changes nothing
      const bad = await run(helm as string, ['upgrade', 'shop', chart, '-n', 'widgets', '--set', 'widget.size=huge'], {
        env: { ...process.env, KUBECONFIG: server.kubeconfig, HOME: tmp, HELM_CACHE_HOME: join(tmp, 'hc'), HELM_CONFIG_HOME: join(tmp, 'hcfg'), HELM_DATA_HOME: join(tmp, 'hd') },
        timeoutMs: 180_000,
        cwd: tmp,
      });
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /spec\.size: Unsupported value: "huge"/);
      assert.match(await kubectl(['-n', 'widgets', 'get', 'wdg']), /shop-widgets\s+large\s+3\s+/);
      await h(['uninstall', 'shop', '-n', 'widgets', '--wait', '--timeout', '2m']);
      const left = await kubectl(['-n', 'widgets', 'get', 'widgets,sa,role,rolebinding,secrets', '-l', 'app.kubernetes.io/instance=shop', '-o', 'name']);
      assert.equal(left.trim(), '');
      assert.equal((await server.kubectl(['-n', 'widgets', 'get', 'secrets', '-l', 'owner=helm', '-o', 'name'])).stdout.trim(), '', 'no release records left');
      // helm never deletes CRDs from a chart's crds/ directory (by design); deleting it is the operator's call
      await kubectl(['delete', 'crd', 'widgets.example.hedge.io']);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });
});

const ETCD = '/usr/bin/etcd';
const etcdSkip = !existsSync(ETCD) ? `${ETCD} not installed (scripts/setup.sh installs etcd-server)` : kubectlPath ? false : 'kubectl not installed';

describe('CustomResourceDefinitions on etcd, two apiservers', { skip: etcdSkip, timeout: 300_000 }, () => {
  let etcd: EtcdProcess;
  let a: HedgeServer;
  let b: HedgeServer;
  before(async () => {
    etcd = await startEtcd(ETCD);
    const args = ['--etcd-servers', etcd.endpoint, '--no-controllers'];
    a = await startHedgeServer({ store: 'etcd', extraArgs: args });
    b = await startHedgeServer({ store: 'etcd', extraArgs: args });
  });
  after(async () => {
    await a?.stop();
    await b?.stop();
    await a?.cleanup();
    await b?.cleanup();
    await etcd?.stop();
  });
  const ok = async (s: HedgeServer, args: string[], input?: string): Promise<string> => {
    const r = await s.kubectl(args, { input, timeoutMs: 60_000 });
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}\n${s.output().slice(-3000)}`);
    return r.stdout;
  };
  const until = async (what: string, check: () => Promise<boolean>): Promise<void> => {
    const deadline = Date.now() + 30_000;
    while (!(await check())) {
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  it('a CRD made through one server is served by the other; deleting it stops both', async () => {
    await ok(a, ['apply', '-f', '-'], crontabCrd);
    await ok(a, ['wait', '--for=condition=Established', 'crd/crontabs.stable.example.com', '--timeout=30s']);
    await until('the second server to serve crontabs', async () => (await b.api('GET', '/apis/stable.example.com/v1/crontabs')).status === 200);
    await ok(b, ['apply', '-f', '-'], crontab('from-b'));
    assert.match(await ok(a, ['get', 'ct']), /from-b\s+\* \* \* \* \*\/5\s+1\s+/);
    const bad = await b.kubectl(['apply', '-f', '-'], { input: crontab('bad', '  replicas: 11\n') });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /spec\.replicas in body should be less than or equal to 10/);
    await ok(a, ['delete', 'crd', 'crontabs.stable.example.com', '--timeout=60s']);
    await until('the second server to stop serving crontabs', async () => (await b.api('GET', '/apis/stable.example.com/v1/crontabs')).status === 404);
  });
});
