/**
 * ValidatingAdmissionPolicies in a running apiserver: a CONNECT of pods/exec (PodExecOptions as
 * `object`) refused before the node is dialled, and params served from a cache that follows the
 * store rather than read per request.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../lib/log.ts';
import { MemoryStore } from '../store/index.ts';
import { PolicyParamCaches } from './admission/policy/index.ts';
import { startTestServer, type TestServer } from './testing/test-server.ts';
import { upgradeRequest } from './testing/upgrade-request.ts';
import { eventually } from './testing/webhook-server.ts';

/** a store that counts reads of ConfigMaps (gets and lists under their prefix) */
class ConfigMapReads extends MemoryStore {
  reads = 0;
  override get(...args: Parameters<MemoryStore['get']>): ReturnType<MemoryStore['get']> {
    if (args[0].includes('/configmaps/')) this.reads++;
    return super.get(...args);
  }
  override list(...args: Parameters<MemoryStore['list']>): ReturnType<MemoryStore['list']> {
    if (args[0].includes('/configmaps/')) this.reads++;
    return super.list(...args);
  }
}

const VAP = '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies';
const VAPB = '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings';

describe('ValidatingAdmissionPolicy through the API', () => {
  let t: TestServer;
  let store: ConfigMapReads;
  const post = async (path: string, body: unknown) => t.json<{ message?: string; metadata?: { name?: string } }>(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const policy = (name: string, spec: Record<string, unknown>) => ({ apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicy', metadata: { name }, spec: { failurePolicy: 'Fail', ...spec } });
  const binding = (name: string, spec: Record<string, unknown>) => ({ apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicyBinding', metadata: { name }, spec: { policyName: name, validationActions: ['Deny'], ...spec } });

  before(async () => {
    store = new ConfigMapReads();
    t = await startTestServer({ store });
  });
  after(async () => {
    await t.close();
  });

  it('pods/exec is a CONNECT with PodExecOptions as object: a policy refuses a shell', async () => {
    assert.equal((await post('/api/v1/nodes', { metadata: { name: 'n1' } })).status, 201);
    assert.equal((await post('/api/v1/namespaces/default/pods', { metadata: { name: 'web' }, spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'busybox' }] } })).status, 201);
    const rules = [{ operations: ['CONNECT'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods/exec'] }];
    const p = policy('no-shell', {
      matchConstraints: { resourceRules: rules },
      validations: [{ expression: "!object.command.exists(c, c.matches('(^|/)(ba)?sh\\\\z'))", messageExpression: "'no shells in ' + request.name + ' (' + object.container + ')'" }],
    });
    assert.equal((await post(VAP, p)).status, 201);
    assert.equal((await post(VAPB, binding('no-shell', {}))).status, 201);
    const exec = (cmd: string) => upgradeRequest(`${t.url}/api/v1/namespaces/default/pods/web/exec?command=${cmd}&stdin=true&stdout=true`);
    const refused = await eventually(() => exec('%2Fbin%2Fsh'), (r) => r.status !== 101 && r.body.includes('no-shell'));
    assert.equal(refused.status, 422, 'a validation without a reason is Invalid');
    assert.match(refused.body, /pods \\"web\\" is forbidden: ValidatingAdmissionPolicy 'no-shell' with binding 'no-shell' denied request: no shells in web \(c\)/);
    // another command passes admission (and then fails only at the node, which does not exist here)
    const other = await exec('date');
    assert.doesNotMatch(other.body, /no-shell/);
  });

  it('params come from a cache that follows the store: no ConfigMap read per request, and a change is seen', async () => {
    assert.equal((await post('/api/v1/namespaces/default/configmaps', { metadata: { name: 'limits' }, data: { maxKeys: '2' } })).status, 201);
    const p = policy('max-keys', {
      paramKind: { apiVersion: 'v1', kind: 'ConfigMap' },
      matchConstraints: { resourceRules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['secrets'] }] },
      validations: [{ expression: "size(object.?data.orValue({})) <= int(params.data.maxKeys)", messageExpression: "'at most ' + params.data.maxKeys + ' keys'" }],
    });
    assert.equal((await post(VAP, p)).status, 201);
    assert.equal((await post(VAPB, binding('max-keys', { paramRef: { name: 'limits', namespace: 'default' } }))).status, 201);
    const secret = (name: string, n: number) => ({ metadata: { name }, data: Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'eA=='])) });
    const refused = await eventually((i) => post('/api/v1/namespaces/default/secrets', secret(`three-${i}`, 3)), (r) => r.status === 422);
    assert.match(refused.body.message ?? '', /denied request: at most 2 keys$/);
    // once the cache has listed, requests read no ConfigMap from the store
    await eventually(async () => {
      const before = store.reads;
      await post('/api/v1/namespaces/default/secrets', secret('probe', 3));
      return store.reads - before;
    }, (n) => n === 0);
    const before = store.reads;
    for (let i = 0; i < 5; i++) {
      const r = await post('/api/v1/namespaces/default/secrets', secret(`many-${i}`, 3));
      assert.equal(r.status, 422, JSON.stringify(r.body)); // a validation without a reason is Invalid
    }
    assert.equal(store.reads, before, 'no ConfigMap was read from the store for the 5 requests');
    // a change to the param reaches the cache
    const put = await t.json('/api/v1/namespaces/default/configmaps/limits', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ metadata: { name: 'limits' }, data: { maxKeys: '3' } }) });
    assert.equal(put.status, 200);
    assert.equal((await eventually((i) => post('/api/v1/namespaces/default/secrets', secret(`ok-${i}`, 3)), (r) => r.status === 201)).status, 201);
    // a param that is deleted: no params found (parameterNotFoundAction Deny)
    assert.equal((await t.request('/api/v1/namespaces/default/configmaps/limits', { method: 'DELETE' })).status, 200);
    const gone = await eventually((i) => post('/api/v1/namespaces/default/secrets', secret(`gone-${i}`, 1)), (r) => r.status !== 201);
    assert.match(gone.body.message ?? '', /no params found for policy binding with `Deny` parameterNotFoundAction/);
  });

  it('PolicyParamCaches: the store until the kind is listed, then the cache; retain stops kinds no policy names', async () => {
    const reg = t.server.registry;
    const cmDef = reg.defFor('', 'configmaps')!;
    assert.equal((await post('/api/v1/namespaces/default/configmaps', { metadata: { name: 'p1', labels: { team: 'a' } }, data: { v: '1' } })).status, 201);
    const stop = new AbortController();
    let storeReads = 0;
    const caches = new PolicyParamCaches({
      registry: reg,
      logger: silentLogger(),
      signal: stop.signal,
      read: {
        get: async (def, ns, name) => (storeReads++, (await reg.storeFor(def).tryGet(ns, name))?.obj),
        list: async () => (storeReads++, []),
      },
    });
    try {
      assert.equal((await caches.get(cmDef, 'default', 'p1'))?.metadata.name, 'p1');
      assert.equal(storeReads, 1, 'the first request reads the store');
      assert.deepEqual(caches.followed(), ['/configmaps']);
      await eventually(async () => (await caches.list(cmDef, 'default')).some((o) => o.metadata.name === 'p1'), (ok) => ok);
      const reads = storeReads;
      assert.equal((await caches.get(cmDef, 'default', 'p1'))?.metadata.name, 'p1');
      assert.equal(await caches.get(cmDef, 'default', 'nope'), undefined);
      assert.equal(storeReads, reads, 'a listed kind is read from the cache');
      caches.retain([reg.defFor('', 'secrets')]);
      assert.deepEqual(caches.followed(), []);
    } finally {
      stop.abort();
    }
  });
});
