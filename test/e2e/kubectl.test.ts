/**
 * The real kubectl against the real `hedge server` process.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import {
  findKubectl,
  findVersionedKubectls,
  startHedgeServer,
  readLines,
  writeSedEditor,
  type HedgeServer,
  type RunResult,
} from './harness.ts';

const KUBECTL = findKubectl();
const NS = 'e2e';

function ok(r: RunResult, what: string): string {
  assert.equal(r.code, 0, `${what} failed (exit ${r.code})\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  return r.stdout;
}

const configMap = (name: string, data: Record<string, string>, labels: Record<string, string> = {}): string =>
  JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: NS, labels }, data });

const POD_YAML = `apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: ${NS}
  labels:
    app: web
spec:
  containers:
  - name: nginx
    image: nginx:1.27
    ports:
    - containerPort: 80
  - name: sidecar
    image: busybox:stable
    command: ["sleep", "3600"]
`;

describe('kubectl against hedge server', { skip: KUBECTL === undefined && 'no kubectl (run scripts/setup.sh)' }, () => {
  let s: HedgeServer;
  const k = (args: string[], input?: string): Promise<RunResult> => s.kubectl(args, { input });

  before(async () => {
    s = await startHedgeServer({ store: 'sqlite' });
    ok(await k(['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } })), 'create namespace');
  });
  after(async () => {
    if (s === undefined) return;
    const r = await s.stop();
    await s.cleanup();
    assert.equal(r.code, 0, `server did not exit 0 on SIGTERM: ${JSON.stringify(r)}\n${s.output()}`);
  });

  it('version and api discovery', async () => {
    const v = JSON.parse(ok(await k(['version', '-o', 'json']), 'version'));
    assert.match(v.serverVersion.gitVersion, /^v1\.\d+/);
    const res = ok(await k(['api-resources', '--no-headers']), 'api-resources');
    for (const r of ['pods', 'configmaps', 'namespaces', 'nodes']) assert.match(res, new RegExp(`^${r}\\s`, 'm'));
  });

  it('create -f, get -o yaml/json/jsonpath/name, selectors, errors', async () => {
    assert.match(ok(await k(['create', '-f', '-'], POD_YAML), 'create pod'), /^pod\/web created$/m);
    assert.match(ok(await k(['create', '-f', '-'], configMap('literal', { a: '1', b: '2' })), 'create cm'), /configmap\/literal created/);
    const y = parseYaml(ok(await k(['get', 'pod', 'web', '-n', NS, '-o', 'yaml']), 'get -o yaml'));
    assert.equal(y.kind, 'Pod');
    assert.equal(y.metadata.name, 'web');
    assert.ok(y.metadata.uid && y.metadata.resourceVersion && y.metadata.creationTimestamp);
    assert.equal(y.spec.containers.length, 2);
    const j = JSON.parse(ok(await k(['get', 'configmap', 'literal', '-n', NS, '-o', 'json']), 'get -o json'));
    assert.deepEqual(j.data, { a: '1', b: '2' });
    assert.equal(ok(await k(['get', 'configmap', 'literal', '-n', NS, '-o', 'jsonpath={.data.b}']), 'jsonpath'), '2');
    assert.equal(ok(await k(['get', 'pods', '-n', NS, '-o', 'jsonpath={.items[*].spec.containers[*].name}']), 'jsonpath list'), 'nginx sidecar');
    assert.equal(ok(await k(['get', 'pods', '-n', NS, '-o', 'name']), '-o name').trim(), 'pod/web');
    assert.equal(ok(await k(['get', 'pods', '-n', NS, '-l', 'app=web', '-o', 'name']), 'selector').trim(), 'pod/web');
    assert.equal(ok(await k(['get', 'pods', '-n', NS, '-l', 'app=nope', '-o', 'name']), 'selector none').trim(), '');
    assert.equal(ok(await k(['get', 'pods', '-A', '--field-selector', `metadata.namespace=${NS}`, '-o', 'name']), 'field selector').trim(), 'pod/web');

    const missing = await k(['get', 'pod', 'nope', '-n', NS]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /Error from server \(NotFound\): pods "nope" not found/);
    const dup = await k(['create', '-f', '-'], configMap('literal', { a: '1' }));
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /AlreadyExists|already exists/);
  });

  it('get prints the same table columns as kube-apiserver (default and -o wide)', async () => {
    const table = ok(await k(['get', 'pods', '-n', NS]), 'get pods');
    assert.match(table, /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE$/m);
    assert.match(table, /^web\s+0\/2\s+Pending\s+0\s+\S+$/m);
    const wide = ok(await k(['get', 'pods', '-n', NS, '-o', 'wide']), 'get -o wide');
    assert.match(wide, /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE\s+NOMINATED NODE\s+READINESS GATES$/m);
    const cms = ok(await k(['get', 'configmaps', '-n', NS]), 'get cm');
    assert.match(cms, /^NAME\s+DATA\s+AGE$/m);
    assert.match(cms, /^literal\s+2\s+\S+$/m);
    assert.match(ok(await k(['get', 'namespaces']), 'get ns'), /^NAME\s+STATUS\s+AGE$/m);
  });

  it('describe', async () => {
    const d = ok(await k(['describe', 'pod', 'web', '-n', NS]), 'describe pod');
    assert.match(d, /^Name:\s+web$/m);
    assert.match(d, /^Namespace:\s+e2e$/m);
    assert.match(d, /nginx:\s*\n\s+Image:\s+nginx:1\.27/);
    assert.match(ok(await k(['describe', 'configmap', 'literal', '-n', NS]), 'describe cm'), /^Data\n====/m);
    assert.match(ok(await k(['describe', 'namespace', NS]), 'describe ns'), /^Name:\s+e2e$/m);
  });

  it('create generators (kubectl sends protobuf bodies for these)', async () => {
    assert.match(ok(await k(['create', 'namespace', 'gen-ns']), 'create namespace'), /namespace\/gen-ns created/);
    assert.match(
      ok(await k(['create', 'configmap', 'gen-cm', '-n', NS, '--from-literal=a=1', '--from-literal=b=2']), 'create configmap'),
      /configmap\/gen-cm created/,
    );
    assert.deepEqual(JSON.parse(ok(await k(['get', 'cm', 'gen-cm', '-n', NS, '-o', 'json']), 'get')).data, { a: '1', b: '2' });
  });

  it('apply (client-side) is idempotent and updates', async () => {
    const m = configMap('applied', { k: 'v1' });
    assert.match(ok(await k(['apply', '-f', '-'], m), 'apply 1'), /configmap\/applied created/);
    assert.match(ok(await k(['apply', '-f', '-'], m), 'apply 2'), /configmap\/applied unchanged/);
    assert.match(ok(await k(['apply', '-f', '-'], configMap('applied', { k: 'v2' })), 'apply 3'), /configmap\/applied configured/);
    const j = JSON.parse(ok(await k(['get', 'cm', 'applied', '-n', NS, '-o', 'json']), 'get'));
    assert.equal(j.data.k, 'v2');
    assert.ok(j.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']);
    // removing a key from the manifest removes it from the object (3-way merge)
    ok(await k(['apply', '-f', '-'], configMap('applied', { other: 'x' })), 'apply 4');
    const j2 = JSON.parse(ok(await k(['get', 'cm', 'applied', '-n', NS, '-o', 'json']), 'get'));
    assert.deepEqual(j2.data, { other: 'x' });
  });

  it('apply --server-side is idempotent and tracks managers', async () => {
    const m = configMap('ssa', { k: 'v1' });
    for (let i = 0; i < 2; i++) {
      assert.match(ok(await k(['apply', '--server-side', '-f', '-'], m), `ssa ${i}`), /configmap\/ssa serverside-applied/);
    }
    const j = JSON.parse(ok(await k(['get', 'cm', 'ssa', '-n', NS, '-o', 'json', '--show-managed-fields']), 'get'));
    assert.deepEqual(j.data, { k: 'v1' });
    assert.ok(
      (j.metadata.managedFields ?? []).some((f: { manager: string; operation: string }) => f.manager === 'kubectl' && f.operation === 'Apply'),
      JSON.stringify(j.metadata.managedFields),
    );
    ok(await k(['apply', '--server-side', '-f', '-'], configMap('ssa', { k: 'v2' })), 'ssa update');
    assert.equal(ok(await k(['get', 'cm', 'ssa', '-n', NS, '-o', 'jsonpath={.data.k}']), 'get'), 'v2');
  });

  it('patch: json, merge, strategic', async () => {
    ok(await k(['create', '-f', '-'], configMap('p', { a: '1' })), 'create');
    assert.match(ok(await k(['patch', 'cm', 'p', '-n', NS, '--type=json', '-p', '[{"op":"add","path":"/data/b","value":"2"}]']), 'json'), /configmap\/p patched/);
    ok(await k(['patch', 'cm', 'p', '-n', NS, '--type=merge', '-p', '{"data":{"a":null,"c":"3"}}']), 'merge');
    assert.deepEqual(JSON.parse(ok(await k(['get', 'cm', 'p', '-n', NS, '-o', 'json']), 'get')).data, { b: '2', c: '3' });
    // strategic: containers merge by name, so patching one keeps the other
    ok(await k(['patch', 'pod', 'web', '-n', NS, '-p', '{"spec":{"containers":[{"name":"nginx","image":"nginx:1.28"}]}}']), 'strategic');
    const pod = JSON.parse(ok(await k(['get', 'pod', 'web', '-n', NS, '-o', 'json']), 'get pod'));
    assert.deepEqual(
      pod.spec.containers.map((c: { name: string; image: string }) => `${c.name}=${c.image}`),
      ['nginx=nginx:1.28', 'sidecar=busybox:stable'],
    );
    const bad = await k(['patch', 'cm', 'p', '-n', NS, '--type=json', '-p', '[{"op":"test","path":"/data/a","value":"x"}]']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /test operation failed|invalid/i);
  });

  it('label and annotate', async () => {
    ok(await k(['create', '-f', '-'], configMap('la', { a: '1' })), 'create');
    assert.match(ok(await k(['label', 'cm', 'la', '-n', NS, 'tier=db']), 'label'), /configmap\/la labeled/);
    const clash = await k(['label', 'cm', 'la', '-n', NS, 'tier=web']);
    assert.notEqual(clash.code, 0, 'relabel without --overwrite must fail');
    ok(await k(['label', 'cm', 'la', '-n', NS, 'tier=web', '--overwrite']), 'label overwrite');
    assert.match(ok(await k(['annotate', 'cm', 'la', '-n', NS, 'note=hello world']), 'annotate'), /configmap\/la annotated/);
    const j = JSON.parse(ok(await k(['get', 'cm', 'la', '-n', NS, '-o', 'json']), 'get'));
    assert.equal(j.metadata.labels.tier, 'web');
    assert.equal(j.metadata.annotations.note, 'hello world');
    ok(await k(['label', 'cm', 'la', '-n', NS, 'tier-']), 'label remove');
    assert.equal(ok(await k(['get', 'cm', '-n', NS, '-l', 'tier', '-o', 'name']), 'get by label').trim(), '');
  });

  it('edit through KUBE_EDITOR', async () => {
    ok(await k(['create', '-f', '-'], configMap('ed', { color: 'red' })), 'create');
    const editor = await writeSedEditor(s.dataDir, 's/color: red/color: blue/');
    const r = await s.kubectl(['edit', 'cm', 'ed', '-n', NS], { env: { KUBE_EDITOR: editor } });
    assert.match(ok(r, 'edit'), /configmap\/ed edited/);
    assert.equal(ok(await k(['get', 'cm', 'ed', '-n', NS, '-o', 'jsonpath={.data.color}']), 'get'), 'blue');
  });

  it('get -w shows a change as it happens', async () => {
    ok(await k(['create', '-f', '-'], configMap('w0', { a: '1' })), 'create');
    const w = s.spawnKubectl(['get', 'configmaps', '-n', NS, '-w']);
    const out = readLines(w);
    try {
      await out.waitFor((l) => /^w0\s/.test(l));
      ok(await k(['create', '-f', '-'], configMap('w1', { a: '1', b: '2' })), 'create w1');
      await out.waitFor((l) => /^w1\s/.test(l));
      ok(await k(['label', 'cm', 'w1', '-n', NS, 'seen=yes']), 'label w1');
      // a modification shows as another row for the same object
      await out.waitFor((l) => /^w1\s/.test(l));
    } finally {
      w.kill('SIGKILL');
    }
  });

  it('wait --for=condition via the status subresource, and --for=delete', async () => {
    ok(await k(['create', '-f', '-'], POD_YAML.replace('name: web', 'name: waiter')), 'create');
    const waiter = s.spawnKubectl(['wait', '--for=condition=Ready', 'pod/waiter', '-n', NS, '--timeout=60s']);
    const done = new Promise<number | null>((r) => waiter.once('close', r));
    let out = '';
    waiter.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    let err = '';
    waiter.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const status = { status: { conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: new Date().toISOString() }] } };
    ok(await k(['patch', 'pod', 'waiter', '-n', NS, '--subresource=status', '--type=merge', '-p', JSON.stringify(status)]), 'patch status');
    assert.equal(await done, 0, `wait failed: ${out}\n${err}`);
    assert.match(out, /pod\/waiter condition met/);
    // the status write went through the status subresource only: spec untouched
    const pod = JSON.parse(ok(await k(['get', 'pod', 'waiter', '-n', NS, '-o', 'json']), 'get'));
    // the scheduler's binding may add PodScheduled beside it: find Ready, not index 0
    const ready = (pod.status.conditions as { type: string; status: string }[]).find((c) => c.type === 'Ready');
    assert.equal(ready?.status, 'True', JSON.stringify(pod.status.conditions));

    ok(await k(['create', '-f', '-'], configMap('doomed', { a: '1' })), 'create doomed');
    const delWaiter = s.spawnKubectl(['wait', '--for=delete', 'configmap/doomed', '-n', NS, '--timeout=60s']);
    const delDone = new Promise<number | null>((r) => delWaiter.once('close', r));
    assert.match(ok(await k(['delete', 'configmap', 'doomed', '-n', NS]), 'delete'), /configmap "doomed" deleted/);
    assert.equal(await delDone, 0);
  });

  it('delete by name and by label', async () => {
    ok(await k(['create', '-f', '-'], configMap('d1', { a: '1' }, { del: 'yes' })), 'create');
    ok(await k(['create', '-f', '-'], configMap('d2', { a: '1' }, { del: 'yes' })), 'create');
    const r = ok(await k(['delete', 'cm', '-n', NS, '-l', 'del=yes']), 'delete by label');
    assert.match(r, /configmap "d1" deleted/);
    assert.match(r, /configmap "d2" deleted/);
    const gone = await k(['delete', 'cm', 'd1', '-n', NS]);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /NotFound/);
    ok(await k(['delete', 'cm', 'd1', '-n', NS, '--ignore-not-found']), 'ignore-not-found');
  });

  // kubectl 1.27/1.28 apply fetches /openapi/v2 as protobuf only: the apiserver serves that encoding
  for (const { version, path } of findVersionedKubectls()) {
    it(`kubectl ${version}: get, apply, delete`, async () => {
      const name = `v${version.replace('.', '-')}`;
      const kv = (args: string[], input?: string): Promise<RunResult> => s.kubectl(args, { input, binary: path });
      assert.match(ok(await kv(['apply', '-f', '-'], configMap(name, { v: version })), `${version} apply`), new RegExp(`configmap/${name} created`));
      assert.match(ok(await kv(['apply', '-f', '-'], configMap(name, { v: version })), `${version} apply 2`), /unchanged/);
      assert.match(ok(await kv(['get', 'cm', name, '-n', NS]), `${version} get`), new RegExp(`^${name}\\s+1\\s`, 'm'));
      assert.match(ok(await kv(['delete', 'cm', name, '-n', NS]), `${version} delete`), /deleted/);
    });
  }
});
