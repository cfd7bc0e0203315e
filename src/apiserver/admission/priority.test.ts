import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../testing/test-server.ts';

interface Out {
  message?: string;
  reason?: string;
  code?: number;
  details?: { causes?: { field: string; reason: string; message: string }[] };
  metadata?: { name?: string };
  value?: number;
  preemptionPolicy?: string;
  spec?: { priority?: number; priorityClassName?: string; preemptionPolicy?: string };
}

const PCS = '/apis/scheduling.k8s.io/v1/priorityclasses';
const PODS = '/api/v1/namespaces/default/pods';

describe('PriorityClass and Priority admission over HTTP', () => {
  let t: TestServer;
  const send = (method: string, path: string, body?: unknown, type = 'application/json') =>
    t.json<Out>(path, { method, body: body === undefined ? undefined : JSON.stringify(body), headers: { 'content-type': type } });
  const pc = (name: string, value: unknown, extra: Record<string, unknown> = {}) => ({ apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: { name }, value, ...extra });
  const pod = (name: string, spec: Record<string, unknown> = {}) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { containers: [{ name: 'c', image: 'busybox' }], ...spec } });

  before(async () => {
    t = await startTestServer();
  });
  after(() => t.close());

  it('serves the two system classes from bootstrap, and they cannot be deleted', async () => {
    const list = await t.json<{ items: { metadata: { name: string }; value: number; preemptionPolicy: string }[] }>(PCS);
    const byName = Object.fromEntries(list.body.items.map((i) => [i.metadata.name, i]));
    assert.equal(byName['system-cluster-critical']?.value, 2000000000);
    assert.equal(byName['system-node-critical']?.value, 2000001000);
    assert.equal(byName['system-node-critical']?.preemptionPolicy, 'PreemptLowerPriority');
    const del = await send('DELETE', `${PCS}/system-node-critical`);
    assert.equal(del.status, 403, JSON.stringify(del.body));
    assert.equal(del.body.message, 'priorityclasses.scheduling.k8s.io "system-node-critical" is forbidden: this is a system priority class and cannot be deleted');
  });

  it('validates as upstream: value bound, reserved prefix, immutable value and preemptionPolicy, a 32-bit value', async () => {
    const big = await send('POST', PCS, pc('too-high', 1_000_000_001));
    assert.equal(big.status, 422);
    assert.deepEqual(big.body.details?.causes?.map((c) => [c.field, c.reason]), [['value', 'FieldValueForbidden']]);
    assert.match(big.body.message ?? '', /maximum allowed value of a user defined priority is 1000000000/);
    const sys = await send('POST', PCS, pc('system-mine', 10));
    assert.equal(sys.status, 422);
    assert.match(sys.body.message ?? '', /priority class names with 'system-' prefix are reserved for system use only. error: system-mine is not a known system priority class/);
    const notInt = await send('POST', PCS, pc('frac', 1.5));
    assert.equal(notInt.status, 400, JSON.stringify(notInt.body));
    const badPolicy = await send('POST', PCS, pc('bad-policy', 1, { preemptionPolicy: 'Sometimes' }));
    assert.equal(badPolicy.status, 422);
    assert.equal(badPolicy.body.details?.causes?.[0]?.field, 'preemptionPolicy');

    const ok = await send('POST', PCS, pc('high', 1000, { description: 'high' }));
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    assert.equal(ok.body.preemptionPolicy, 'PreemptLowerPriority');
    const moved = await send('PATCH', `${PCS}/high`, { value: 2000 }, 'application/merge-patch+json');
    assert.equal(moved.status, 422);
    assert.deepEqual(moved.body.details?.causes?.map((c) => [c.field, c.message]), [['value', 'Forbidden: may not be changed in an update.']]);
    const policy = await send('PATCH', `${PCS}/high`, { preemptionPolicy: 'Never' }, 'application/merge-patch+json');
    assert.equal(policy.status, 422);
    assert.equal(policy.body.details?.causes?.[0]?.field, 'preemptionPolicy');
    const described = await send('PATCH', `${PCS}/high`, { description: 'changed' }, 'application/merge-patch+json');
    assert.equal(described.status, 200, JSON.stringify(described.body));
  });

  it('allows one globalDefault only', async () => {
    const a = await send('POST', PCS, pc('default-a', 5, { globalDefault: true, preemptionPolicy: 'Never' }));
    assert.equal(a.status, 201, JSON.stringify(a.body));
    const b = await send('POST', PCS, pc('default-b', 6, { globalDefault: true }));
    assert.equal(b.status, 403);
    assert.equal(b.body.message, 'priorityclasses.scheduling.k8s.io "default-b" is forbidden: PriorityClass default-a is already marked as default. Only one default can exist');
    const c = await send('POST', PCS, pc('default-c', 6));
    assert.equal(c.status, 201);
    const flip = await send('PATCH', `${PCS}/default-c`, { globalDefault: true }, 'application/merge-patch+json');
    assert.equal(flip.status, 403);
  });

  it("resolves a pod's priority from its class, the globalDefault class, or refuses", async () => {
    const high = await send('POST', PODS, pod('p-high', { priorityClassName: 'high' }));
    assert.equal(high.status, 201, JSON.stringify(high.body));
    assert.equal(high.body.spec?.priority, 1000);
    assert.equal(high.body.spec?.preemptionPolicy, 'PreemptLowerPriority');

    // the globalDefault class (default-a, created above, preemptionPolicy Never)
    const plain = await send('POST', PODS, pod('p-plain'));
    assert.equal(plain.status, 201, JSON.stringify(plain.body));
    assert.equal(plain.body.spec?.priorityClassName, 'default-a');
    assert.equal(plain.body.spec?.priority, 5);
    assert.equal(plain.body.spec?.preemptionPolicy, 'Never');

    const same = await send('POST', PODS, pod('p-same', { priorityClassName: 'high', priority: 1000 }));
    assert.equal(same.status, 201, JSON.stringify(same.body));

    const unknown = await send('POST', PODS, pod('p-unknown', { priorityClassName: 'nope' }));
    assert.equal(unknown.status, 403);
    assert.equal(unknown.body.message, 'pods "p-unknown" is forbidden: no PriorityClass with name nope was found');

    const own = await send('POST', PODS, pod('p-own', { priorityClassName: 'high', priority: 7 }));
    assert.equal(own.status, 403);
    assert.equal(own.body.message, 'pods "p-own" is forbidden: the integer value of priority (7) must not be provided in pod spec; priority admission controller computed 1000 from the given PriorityClass name');

    const policy = await send('POST', PODS, pod('p-policy', { preemptionPolicy: 'PreemptLowerPriority' }));
    assert.equal(policy.status, 403);
    assert.match(policy.body.message ?? '', /the string value of PreemptionPolicy \(PreemptLowerPriority\) must not be provided in pod spec; priority admission controller computed Never/);

    // system classes in any namespace since upstream 1.17
    const crit = await send('POST', PODS, pod('p-crit', { priorityClassName: 'system-cluster-critical' }));
    assert.equal(crit.status, 201, JSON.stringify(crit.body));
    assert.equal(crit.body.spec?.priority, 2000000000);

    // a full update that leaves priority out keeps it; changing it is refused by pod update validation
    const cur = await t.json<Out & { spec: Record<string, unknown> }>(`${PODS}/p-high`);
    const { priority: _drop, ...spec } = cur.body.spec;
    const put = await send('PUT', `${PODS}/p-high`, { ...cur.body, spec });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    assert.equal(put.body.spec?.priority, 1000);
    const changed = await send('PUT', `${PODS}/p-high`, { ...cur.body, spec: { ...cur.body.spec, priority: 1 } });
    assert.equal(changed.status, 422);
  });

  it('leaves pod templates alone: a Deployment naming a class is stored as written (its pods resolve at creation)', async () => {
    const d = await t.json<{ spec?: { template?: { spec?: Out['spec'] } } }>('/apis/apps/v1/namespaces/default/deployments', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'web' },
        spec: {
          selector: { matchLabels: { app: 'web' } },
          template: { metadata: { labels: { app: 'web' } }, spec: { priorityClassName: 'high', containers: [{ name: 'c', image: 'busybox' }] } },
        },
      }),
    });
    assert.equal(d.status, 201, JSON.stringify(d.body));
    assert.equal(d.body.spec?.template?.spec?.priorityClassName, 'high');
    assert.equal(d.body.spec?.template?.spec?.priority, undefined);
  });

  it('prints NAME VALUE GLOBAL-DEFAULT AGE PREEMPTIONPOLICY', async () => {
    const r = await t.json<{ columnDefinitions: { name: string }[]; rows: { cells: unknown[] }[] }>(`${PCS}/default-a`, { headers: { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' } });
    assert.deepEqual(r.body.columnDefinitions.map((c) => c.name), ['Name', 'Value', 'Global-Default', 'Age', 'PreemptionPolicy']);
    const [cells] = r.body.rows.map((x) => x.cells);
    assert.deepEqual([cells?.[0], cells?.[1], cells?.[2], cells?.[4]], ['default-a', 5, true, 'Never']);
  });
});
