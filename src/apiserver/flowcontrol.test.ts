import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AdmissionPlugin } from './admission/types.ts';
import { allowAllAuthorizer } from './auth/authorizer.ts';
import { FLOW_SCHEMA_UID_HEADER, PRIORITY_LEVEL_UID_HEADER } from './flowcontrol/index.ts';
import { startTestServer, type TestServer } from './testing/test-server.ts';
import { until } from './testing/until.ts';

/**
 * API Priority and Fairness over HTTP: a level with one seat and short queues, flooded by slow
 * requests, refuses the excess with 429 + Retry-After while other levels go through at once.
 */
describe('API Priority and Fairness (real server over HTTP)', () => {
  let t: TestServer;
  // configmap creates by user `flood` wait here until the test lets them go (slow requests, no sleeping)
  let release!: () => void;
  let gate = new Promise<void>((r) => (release = r));
  let inAdmission = 0;
  const slowFlood: AdmissionPlugin = {
    name: 'SlowFlood',
    async validate(req) {
      if (req.user?.username !== 'flood' || req.def.plural !== 'configmaps') return;
      inAdmission++;
      await gate;
    },
  };
  const fc = 'flowcontrol.apiserver.k8s.io/v1';
  const post = (path: string, body: unknown, token = 'test-token') =>
    t.json(path, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(body) });

  before(async () => {
    // one server seat: every Limited level's nominal limit is ceil(1 * shares / sum) = 1; no borrowing (the flood would borrow the idle levels' seats)
    t = await startTestServer({ authorizer: allowAllAuthorizer(), admissionPlugins: [slowFlood], flowControl: { maxRequestsInflight: 1, maxMutatingRequestsInflight: 0, borrowingAdjustmentPeriodMs: 0 } });
  });
  after(async () => {
    release();
    await t.close();
  });

  it('serves the bootstrap objects with the autoupdate annotation, discovery and status', async () => {
    const r = await t.json<{ items: { metadata: { name: string; annotations?: Record<string, string> }; status?: { conditions?: { type: string; status: string }[] } }[] }>('/apis/flowcontrol.apiserver.k8s.io/v1/flowschemas');
    assert.equal(r.status, 200);
    const names = r.body.items.map((i) => i.metadata.name).sort();
    for (const n of ['catch-all', 'exempt', 'global-default', 'probes', 'system-node-high', 'system-nodes', 'service-accounts', 'workload-leader-election']) assert.ok(names.includes(n), n);
    assert.ok(r.body.items.every((i) => i.metadata.annotations?.['apf.kubernetes.io/autoupdate-spec'] === 'true'));
    await until('the Dangling conditions', async () => {
      const x = await t.json<{ status?: { conditions?: { type: string; status: string }[] } }>('/apis/flowcontrol.apiserver.k8s.io/v1/flowschemas/system-nodes');
      return x.body.status?.conditions?.some((c) => c.type === 'Dangling' && c.status === 'False') === true;
    });
    const d = await t.json<{ resources: { name: string }[] }>('/apis/flowcontrol.apiserver.k8s.io/v1');
    assert.deepEqual(d.body.resources.map((x) => x.name).sort(), ['flowschemas', 'flowschemas/status', 'prioritylevelconfigurations', 'prioritylevelconfigurations/status']);
    // a mandatory object deleted is made again; a changed mandatory spec is put back
    assert.equal((await t.request('/apis/flowcontrol.apiserver.k8s.io/v1/prioritylevelconfigurations/catch-all', { method: 'DELETE' })).status, 200);
    await until('catch-all made again', async () => (await t.request('/apis/flowcontrol.apiserver.k8s.io/v1/prioritylevelconfigurations/catch-all')).status === 200);
  });

  it('refuses invalid objects with a Status naming the field', async () => {
    const r = await post('/apis/flowcontrol.apiserver.k8s.io/v1/prioritylevelconfigurations', { apiVersion: fc, kind: 'PriorityLevelConfiguration', metadata: { name: 'bad' }, spec: { type: 'Limited', limited: { limitResponse: { type: 'Queue', queuing: { queues: 2, handSize: 3 } } } } });
    assert.equal(r.status, 422);
    const body = r.body as { reason: string; details: { causes: { field: string; message: string }[] } };
    assert.equal(body.reason, 'Invalid');
    assert.deepEqual(body.details.causes.map((c) => c.field), ['spec.limited.limitResponse.queuing.handSize']);
    assert.match(body.details.causes[0]!.message, /should not be greater than queues \(2\)/);
  });

  it('a flood in a one-seat level gets 429 + Retry-After for the excess while node-high and exempt requests go through at once', async () => {
    // a level of one seat, one queue of two; a new FlowSchema takes effect without a restart
    let r = await post('/apis/flowcontrol.apiserver.k8s.io/v1/prioritylevelconfigurations', { apiVersion: fc, kind: 'PriorityLevelConfiguration', metadata: { name: 'tiny' }, spec: { type: 'Limited', limited: { nominalConcurrencyShares: 1, limitResponse: { type: 'Queue', queuing: { queues: 1, handSize: 1, queueLengthLimit: 2 } } } } });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    r = await post('/apis/flowcontrol.apiserver.k8s.io/v1/flowschemas', {
      apiVersion: fc, kind: 'FlowSchema', metadata: { name: 'flood' },
      spec: { priorityLevelConfiguration: { name: 'tiny' }, matchingPrecedence: 300, distinguisherMethod: { type: 'ByUser' }, rules: [{ subjects: [{ kind: 'User', user: { name: 'flood' } }], resourceRules: [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'], namespaces: ['*'], clusterScope: true }] }] },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const fsUid = (r.body as { metadata: { uid: string } }).metadata.uid;
    await until('the flood FlowSchema in effect', async () => (await t.request('/api/v1/namespaces/default/configmaps', { headers: { authorization: 'Bearer user-flood' } })).headers.get(FLOW_SCHEMA_UID_HEADER) === fsUid);
    // a node's lease, to renew under the flood
    assert.equal((await post('/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'n1' }, spec: { holderIdentity: 'n1' } })).status, 201);

    const flood = Array.from({ length: 6 }, (_, i) => post('/api/v1/namespaces/default/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `flood-${i}` } }, 'user-flood').then((x) => ({ ...x, i })));
    // one executes (held in admission), two wait in the queue, three are refused at once
    const settled: { status: number; headers: Headers; body: unknown }[] = [];
    for (const p of flood) void p.then((x) => settled.push(x));
    await until('three refusals', async () => settled.length >= 3);
    assert.equal(inAdmission, 1);
    assert.equal(settled.length, 3);
    for (const x of settled) {
      assert.equal(x.status, 429);
      assert.equal(x.headers.get('retry-after'), '1');
      assert.equal(x.headers.get(FLOW_SCHEMA_UID_HEADER), fsUid);
      const s = x.body as { kind: string; reason: string; message: string; code: number; details: { retryAfterSeconds: number } };
      assert.deepEqual([s.kind, s.reason, s.code, s.details.retryAfterSeconds], ['Status', 'TooManyRequests', 429, 1]);
      assert.equal(s.message, 'Too many requests, please try again later.');
    }
    assert.equal(t.server.priorityAndFairness?.levelState('tiny')?.waiting, 2);

    // upstream's debug dumps show the same: one executing, two queued in queue 0, three rejected
    const table = async (path: string) => {
      const r = await t.request(`/debug/api_priority_and_fairness/${path}`);
      assert.equal(r.status, 200, path);
      assert.equal(r.headers.get('content-type'), 'text/plain; charset=utf-8');
      const rows = (await r.text()).trimEnd().split('\n').map((l) => l.split(',').map((c) => c.trim()));
      return { header: rows[0]!, rows: rows.slice(1) };
    };
    const levels = await table('dump_priority_levels');
    assert.deepEqual(levels.header, ['PriorityLevelName', 'ActiveQueues', 'IsIdle', 'IsQuiescing', 'WaitingRequests', 'ExecutingRequests', 'DispatchedRequests', 'RejectedRequests', 'TimedoutRequests', 'CancelledRequests']);
    const tiny = levels.rows.find((x) => x[0] === 'tiny')!;
    assert.deepEqual([tiny[1], tiny[2], tiny[3], tiny[4], tiny[5], tiny[7], tiny[8], tiny[9]], ['1', 'false', 'false', '2', '1', '3', '0', '0']);
    assert.deepEqual(levels.rows.map((x) => x[0]), [...levels.rows.map((x) => x[0])].sort(), 'by name');
    assert.ok(levels.rows.some((x) => x[0] === 'exempt' && x[5] === '1'), 'this request, exempt, executing');
    const queues = await table('dump_queues');
    assert.deepEqual(queues.header, ['PriorityLevelName', 'Index', 'PendingRequests', 'ExecutingRequests', 'SeatsInUse', 'NextDispatchR', 'InitialSeatsSum', 'MaxSeatsSum', 'TotalWorkSum']);
    // the executing request came from queue 0 too (upstream: every request of a level with queues goes
    // through one); NextDispatchR: its work so far in the virtual time, TotalWorkSum: 2 x G (3 ms)
    const tinyQueues = queues.rows.filter((x) => x[0] === 'tiny');
    assert.deepEqual(tinyQueues.map((x) => [...x.slice(0, 5), ...x.slice(6)]), [['tiny', '0', '2', '1', '1', '2', '2', '0.00600000ss']]);
    assert.match(tinyQueues[0]![5]!, /^\d+\.\d{8}ss$/);
    assert.ok(Number(tinyQueues[0]![5]!.slice(0, -2)) >= 0.003, 'at least the executing request\'s estimate');
    const requests = await table('dump_requests');
    assert.deepEqual(requests.header, ['PriorityLevelName', 'FlowSchemaName', 'QueueIndex', 'RequestIndexInQueue', 'FlowDistingsher', 'ArriveTime', 'InitialSeats', 'FinalSeats', 'AdditionalLatency', 'StartTime']);
    const tinyRequests = requests.rows.filter((x) => x[0] === 'tiny');
    assert.deepEqual(tinyRequests.map((x) => [x[1], x[2], x[3], x[4], x[9] === '0001-01-01T00:00:00Z']), [
      ['flood', '0', '0', 'flood', true],
      ['flood', '0', '1', 'flood', true],
      ['flood', '0', '-1', 'flood', false],
    ]);
    assert.match(tinyRequests[0]![5]!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    const detailed = await table('dump_requests?includeRequestDetails=1');
    assert.deepEqual(detailed.header.slice(10), ['UserName', 'Verb', 'APIPath', 'Namespace', 'Name', 'APIVersion', 'Resource', 'SubResource']);
    assert.deepEqual(detailed.rows.find((x) => x[0] === 'tiny')!.slice(10), ['flood', 'create', '/api/v1/namespaces/default/configmaps', 'default', '', 'v1', 'configmaps', '']);

    // the node's lease renewal (system-node-high → node-high) and the admin (exempt) go through meanwhile
    const started = performance.now();
    const lease = await t.json('/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1', { method: 'PATCH', headers: { authorization: 'Bearer node-n1', 'content-type': 'application/merge-patch+json' }, body: JSON.stringify({ spec: { renewTime: new Date().toISOString().replace('Z', '000Z') } }) });
    assert.equal(lease.status, 200, JSON.stringify(lease.body));
    assert.ok(lease.headers.get(PRIORITY_LEVEL_UID_HEADER), 'classified');
    const nodeHigh = await t.json<{ metadata: { uid: string } }>('/apis/flowcontrol.apiserver.k8s.io/v1/prioritylevelconfigurations/node-high');
    assert.equal(lease.headers.get(PRIORITY_LEVEL_UID_HEADER), nodeHigh.body.metadata.uid);
    assert.equal((await t.request('/api/v1/namespaces/default/configmaps')).status, 200);
    assert.ok(performance.now() - started < 2000);
    assert.equal(settled.length, 3, 'the queued flood is still waiting');

    // let the flood go: the executing and the two queued ones are created
    release();
    const all = await Promise.all(flood);
    assert.deepEqual(all.map((x) => x.status).sort(), [201, 201, 201, 429, 429, 429]);
    const metrics = await (await t.request('/metrics')).text();
    assert.match(metrics, /apiserver_flowcontrol_rejected_requests_total\{flow_schema="flood",priority_level="tiny",reason="queue-full"\} 3/);
    assert.match(metrics, /apiserver_flowcontrol_current_executing_requests\{priority_level="tiny",flow_schema="flood"\} 0/);
    assert.match(metrics, /apiserver_flowcontrol_nominal_limit_seats\{priority_level="tiny"\} 1/);
    assert.match(metrics, /apiserver_flowcontrol_request_wait_duration_seconds_count\{flow_schema="flood",priority_level="tiny",execute="true"\} \d+/);
    gate = Promise.resolve();
  });

  it("a watch in the one-seat level gives its seat back once its initial events are sent; exec-like long-running requests are not classified", async () => {
    const auth = { authorization: 'Bearer user-flood' };
    const watching = new AbortController();
    const w = await t.request('/api/v1/namespaces/default/configmaps?watch=1', { headers: auth, signal: watching.signal });
    try {
      assert.equal(w.status, 200);
      assert.ok(w.headers.get(FLOW_SCHEMA_UID_HEADER), 'a watch is classified');
      const reader = w.body!.getReader();
      assert.match(new TextDecoder().decode((await reader.read()).value), /"type":"ADDED"/, 'the initial events');
      await until('the seat given back', async () => t.server.priorityAndFairness?.levelState('tiny')?.seatsInUse === 0);
      // the level's one seat is free for the next request while the watch stays open
      const r = await t.request('/api/v1/namespaces/default/configmaps', { headers: auth, signal: AbortSignal.timeout(10_000) });
      assert.equal(r.status, 200);
    } finally {
      watching.abort();
    }
    // pods/log is long-running: upstream serves it before classifying (no APF headers)
    const log = await t.request('/api/v1/namespaces/default/pods/nope/log', { headers: auth });
    assert.equal(log.headers.get(FLOW_SCHEMA_UID_HEADER), null);
  });

  it('--enable-priority-and-fairness=false: plain max-in-flight, no APF headers', async () => {
    const off = await startTestServer({ flowControl: { enablePriorityAndFairness: false } });
    try {
      const r = await off.request('/api/v1/namespaces');
      assert.equal(r.status, 200);
      assert.equal(r.headers.get(FLOW_SCHEMA_UID_HEADER), null);
      assert.equal(off.server.priorityAndFairness, undefined);
    } finally {
      await off.close();
    }
  });
});
