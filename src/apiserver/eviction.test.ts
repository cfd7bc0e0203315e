import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { startTestServer, type TestServer } from './testing/test-server.ts';
import { canIgnoreBudget, checkAndDecrement, unhealthyPodMayGo } from './handlers/eviction.ts';

/**
 * The eviction subresource against PodDisruptionBudgets, through the real apiserver; budget
 * statuses are written by the test as the disruption controller would.
 */

const PODS = '/api/v1/namespaces/default/pods';
const PDBS = '/apis/policy/v1/namespaces/default/poddisruptionbudgets';

interface StatusBody {
  status?: string;
  code?: number;
  reason?: string;
  message?: string;
  details?: { causes?: { reason?: string; message?: string }[]; retryAfterSeconds?: number };
}

type Json = Record<string, unknown>;

describe('eviction rules (pure)', () => {
  const ready = (r: boolean, phase = 'Running') => ({ metadata: { name: 'p' }, status: { phase, conditions: [{ type: 'Ready', status: r ? 'True' : 'False' }] } });
  const budget = (st: { currentHealthy: number; desiredHealthy: number; disruptionsAllowed: number }, policy?: string) => ({
    metadata: { name: 'b', generation: 1 },
    spec: policy ? { unhealthyPodEvictionPolicy: policy } : {},
    status: { ...st, expectedPods: 2, observedGeneration: 1 },
  });

  it('finished, Pending and terminating pods skip the budget', () => {
    assert.equal(canIgnoreBudget(ready(true, 'Succeeded')), true);
    assert.equal(canIgnoreBudget(ready(false, 'Failed')), true);
    assert.equal(canIgnoreBudget(ready(false, 'Pending')), true);
    assert.equal(canIgnoreBudget({ metadata: { deletionTimestamp: '2026-01-01T00:00:00Z' }, status: { phase: 'Running' } }), true);
    assert.equal(canIgnoreBudget(ready(false)), false);
  });

  it('unready pods: IfHealthyBudget needs the budget met, AlwaysAllow does not', () => {
    assert.equal(unhealthyPodMayGo(ready(true), budget({ currentHealthy: 0, desiredHealthy: 1, disruptionsAllowed: 0 }, 'AlwaysAllow')), false);
    assert.equal(unhealthyPodMayGo(ready(false), budget({ currentHealthy: 0, desiredHealthy: 1, disruptionsAllowed: 0 }, 'AlwaysAllow')), true);
    assert.equal(unhealthyPodMayGo(ready(false), budget({ currentHealthy: 1, desiredHealthy: 1, disruptionsAllowed: 0 })), true);
    assert.equal(unhealthyPodMayGo(ready(false), budget({ currentHealthy: 0, desiredHealthy: 1, disruptionsAllowed: 0 }, 'IfHealthyBudget')), false);
    // desiredHealthy 0: the default policy still goes through the budget
    assert.equal(unhealthyPodMayGo(ready(false), budget({ currentHealthy: 0, desiredHealthy: 0, disruptionsAllowed: 0 })), false);
  });

  it('checkAndDecrement: spends one disruption, records the pod, refuses at 0 or an unobserved generation', () => {
    const now = new Date('2026-03-01T12:00:00Z');
    const st = checkAndDecrement({ ...budget({ currentHealthy: 2, desiredHealthy: 1, disruptionsAllowed: 1 }), apiVersion: 'policy/v1' as const, kind: 'PodDisruptionBudget' as const }, 'web-0', now);
    assert.equal(st.disruptionsAllowed, 0);
    assert.deepEqual(st.disruptedPods, { 'web-0': '2026-03-01T12:00:00Z' });
    assert.equal(st.conditions?.[0].reason, 'InsufficientPods');
    assert.throws(
      () => checkAndDecrement({ ...budget({ currentHealthy: 1, desiredHealthy: 1, disruptionsAllowed: 0 }), apiVersion: 'policy/v1' as const, kind: 'PodDisruptionBudget' as const }, 'web-0', now),
      /Cannot evict pod as it would violate the pod's disruption budget\./,
    );
    const stale = { ...budget({ currentHealthy: 2, desiredHealthy: 1, disruptionsAllowed: 1 }), apiVersion: 'policy/v1' as const, kind: 'PodDisruptionBudget' as const };
    stale.metadata.generation = 2;
    assert.throws(() => checkAndDecrement(stale, 'web-0', now), (e: { details?: { causes?: { message: string }[] } }) => e.details?.causes?.[0].message === 'The disruption budget b is still being processed by the server.');
  });
});

describe('pods/eviction with PodDisruptionBudgets', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(async () => {
    await t?.close();
  });

  const send = (method: string, path: string, body?: unknown) =>
    t.json<StatusBody & Json>(path, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const evict = (name: string, query = '', deleteOptions?: Json) =>
    send('POST', `${PODS}/${name}/eviction${query}`, { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name }, ...(deleteOptions ? { deleteOptions } : {}) });

  async function makePod(name: string, o: { phase?: string; ready?: boolean; labels?: Json } = {}): Promise<void> {
    const c = await send('POST', PODS, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, labels: o.labels ?? { app: 'web' } },
      spec: { nodeName: 'edge-1', containers: [{ name: 'c', image: 'busybox' }] },
    });
    assert.equal(c.status, 201, JSON.stringify(c.body));
    const r = await t.json(`${PODS}/${name}/status`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/merge-patch+json' },
      body: JSON.stringify({ status: { phase: o.phase ?? 'Running', conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }] } }),
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
  }

  async function makePdb(name: string, status: { currentHealthy: number; desiredHealthy: number; disruptionsAllowed: number; expectedPods?: number }, spec: Json = {}): Promise<void> {
    const c = await send('POST', PDBS, { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name }, spec: { minAvailable: 1, selector: { matchLabels: { app: 'web' } }, ...spec } });
    assert.equal(c.status, 201, JSON.stringify(c.body));
    const cur = c.body as { metadata: Json };
    const u = await send('PUT', `${PDBS}/${name}/status`, { ...c.body, metadata: cur.metadata, status: { expectedPods: 2, observedGeneration: 1, ...status } });
    assert.equal(u.status, 200, JSON.stringify(u.body));
  }

  beforeEach(async () => {
    await send('DELETE', `${PODS}?gracePeriodSeconds=0`);
    await send('DELETE', PDBS);
  });

  const podGone = async (name: string): Promise<boolean> => (await t.json(`${PODS}/${name}`)).status === 404;
  const pdbStatus = async (name: string) => ((await t.json<{ status: { disruptionsAllowed: number; disruptedPods?: Json } }>(`${PDBS}/${name}`)).body).status;

  it('no disruptions left: 429 with the budget named as the cause, the pod stays', async () => {
    await makePod('web-0');
    await makePdb('web', { currentHealthy: 1, desiredHealthy: 1, disruptionsAllowed: 0 });
    const r = await evict('web-0');
    assert.equal(r.status, 429);
    assert.equal(r.body.reason, 'TooManyRequests');
    assert.equal(r.body.message, "Cannot evict pod as it would violate the pod's disruption budget.");
    assert.deepEqual(r.body.details?.causes, [{ reason: 'DisruptionBudget', message: 'The disruption budget web needs 1 healthy pods and has 1 currently' }]);
    assert.equal(r.headers.get('retry-after'), null);
    assert.equal(await podGone('web-0'), false);
  });

  it('an allowed eviction spends the budget, records the pod, marks it DisruptionTarget and deletes it', async () => {
    await makePod('web-0');
    await makePdb('web', { currentHealthy: 2, desiredHealthy: 1, disruptionsAllowed: 1 });
    // grace 30 (the default): the pod is left terminating with its condition visible
    const r = await evict('web-0');
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.status, 'Success');
    const st = await pdbStatus('web');
    assert.equal(st.disruptionsAllowed, 0);
    assert.ok(st.disruptedPods?.['web-0']);
    const pod = (await t.json<{ metadata: { deletionTimestamp?: string }; status: { conditions: Json[] } }>(`${PODS}/web-0`)).body;
    assert.ok(pod.metadata.deletionTimestamp, 'terminating');
    const cond = pod.status.conditions.find((c) => c.type === 'DisruptionTarget');
    assert.equal(cond?.status, 'True');
    assert.equal(cond?.reason, 'EvictionByEvictionAPI');
    assert.equal(cond?.message, 'Eviction API: evicting');
    // the next one is refused: the budget is spent
    await makePod('web-1');
    assert.equal((await evict('web-1')).status, 429);
  });

  it('dryRun checks the budget but writes neither the budget nor the pod', async () => {
    await makePod('web-0');
    await makePdb('web', { currentHealthy: 2, desiredHealthy: 1, disruptionsAllowed: 1 });
    const r = await evict('web-0', '?dryRun=All');
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal((await pdbStatus('web')).disruptionsAllowed, 1);
    const pod = (await t.json<{ metadata: { deletionTimestamp?: string }; status: { conditions: Json[] } }>(`${PODS}/web-0`)).body;
    assert.equal(pod.metadata.deletionTimestamp, undefined);
    assert.equal(pod.status.conditions.some((c) => c.type === 'DisruptionTarget'), false);
    // dryRun in the Eviction's deleteOptions counts too
    assert.equal((await evict('web-0', '', { dryRun: ['All'] })).status, 201);
    assert.equal((await pdbStatus('web')).disruptionsAllowed, 1);
    assert.equal(await podGone('web-0'), false);
  });

  it('a pod matched by two budgets: 500 with upstream’s message', async () => {
    await makePod('web-0');
    await makePdb('a', { currentHealthy: 2, desiredHealthy: 1, disruptionsAllowed: 1 });
    await makePdb('b', { currentHealthy: 2, desiredHealthy: 1, disruptionsAllowed: 1 });
    const r = await evict('web-0');
    assert.equal(r.status, 500);
    assert.equal(r.body.status, 'Failure');
    assert.equal(r.body.code, 500);
    assert.equal(r.body.message, 'This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.');
    assert.equal(await podGone('web-0'), false);
  });

  it('Pending, finished and already terminating pods go without asking the budget', async () => {
    await makePdb('web', { currentHealthy: 1, desiredHealthy: 1, disruptionsAllowed: 0 });
    await makePod('pending', { phase: 'Pending', ready: false });
    await makePod('done', { phase: 'Succeeded', ready: false });
    for (const n of ['pending', 'done']) assert.equal((await evict(n, '', { gracePeriodSeconds: 0 })).status, 201);
    assert.equal(await podGone('pending'), true);
    assert.equal(await podGone('done'), true);
  });

  it('an unready pod: IfHealthyBudget lets it go while the budget is met; AlwaysAllow always; neither spends the allowance', async () => {
    await makePod('sick', { ready: false });
    await makePdb('web', { currentHealthy: 0, desiredHealthy: 1, disruptionsAllowed: 0 });
    assert.equal((await evict('sick')).status, 429, 'budget not met');
    await send('DELETE', `${PDBS}/web`);
    await makePdb('web', { currentHealthy: 1, desiredHealthy: 1, disruptionsAllowed: 0 });
    assert.equal((await evict('sick', '', { gracePeriodSeconds: 0 })).status, 201);
    assert.equal(await podGone('sick'), true);
    assert.equal((await pdbStatus('web')).disruptionsAllowed, 0);

    await send('DELETE', `${PDBS}/web`);
    await makePod('sick2', { ready: false });
    await makePdb('web', { currentHealthy: 0, desiredHealthy: 1, disruptionsAllowed: 0 }, { unhealthyPodEvictionPolicy: 'AlwaysAllow' });
    assert.equal((await evict('sick2', '', { gracePeriodSeconds: 0 })).status, 201);
    assert.equal(await podGone('sick2'), true);
  });

  it('a pod no budget selects is simply evicted; a budget with an empty selector selects nothing', async () => {
    await makePod('other', { labels: { app: 'other' } });
    await makePdb('web', { currentHealthy: 0, desiredHealthy: 1, disruptionsAllowed: 0 });
    assert.equal((await evict('other', '', { gracePeriodSeconds: 0 })).status, 201);
    assert.equal(await podGone('other'), true);
  });

  it('a budget whose spec changed since the controller looked: 429 "still being processed" with Retry-After', async () => {
    await makePod('web-0');
    await makePdb('web', { currentHealthy: 2, desiredHealthy: 1, disruptionsAllowed: 1 });
    const cur = (await t.json<Json & { spec: Json }>(`${PDBS}/web`)).body;
    const u = await send('PUT', `${PDBS}/web`, { ...cur, spec: { ...cur.spec, minAvailable: 2 } });
    assert.equal(u.status, 200, JSON.stringify(u.body));
    const r = await evict('web-0');
    assert.equal(r.status, 429);
    assert.equal(r.body.details?.causes?.[0].message, 'The disruption budget web is still being processed by the server.');
    assert.equal(r.headers.get('retry-after'), '10');
  });
});
