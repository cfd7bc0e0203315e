import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { describe, it } from 'node:test';
import { isHedgeError } from '../../lib/errors.ts';
import { Registry as MetricsRegistry } from '../../lib/prom.ts';
import { parseRequestInfo } from '../request-info.ts';
import { FLOW_SCHEMA_UID_HEADER, PriorityAndFairness } from './apf.ts';
import { MANDATORY_FLOW_SCHEMAS, MANDATORY_PRIORITY_LEVELS, SUGGESTED_FLOW_SCHEMAS, SUGGESTED_PRIORITY_LEVELS, type FlowSchema, type PriorityLevelConfiguration } from './bootstrap.ts';
import { classify, distinguisher, sortFlowSchemas } from './classify.ts';
import { FakeClock } from './fake-clock.ts';
import { MaxInFlight, type Ticket } from './gate.ts';
import { FlowControlMetrics } from './metrics.ts';
import { isWaiting, QueueSet, Rejected, type Seat, type Waiting } from './queue-set.ts';
import { Dealer, hashFlow } from './shuffle-sharding.ts';
import { validateFlowSchema, validatePriorityLevelConfiguration } from '../../api/validation/flowcontrol.ts';

const bootstrapFS = sortFlowSchemas([...MANDATORY_FLOW_SCHEMAS, ...SUGGESTED_FLOW_SCHEMAS]);
const req = (method: string, path: string) => parseRequestInfo(method, path, new URLSearchParams());
const node = { username: 'system:node:n1', groups: ['system:nodes', 'system:authenticated'] };
const admin = { username: 'admin', groups: ['system:masters', 'system:authenticated'] };
const alice = { username: 'alice', groups: ['system:authenticated'] };
const ksa = (name: string) => ({ username: `system:serviceaccount:kube-system:${name}`, groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'] });
const nameOf = (fs: FlowSchema | undefined) => fs?.metadata.name;

describe('classification (bootstrap FlowSchemas)', () => {
  it('puts node lease renewals and node status in system-node-high, other node requests in system-nodes', () => {
    assert.equal(nameOf(classify(bootstrapFS, node, req('PUT', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1'))), 'system-node-high');
    assert.equal(nameOf(classify(bootstrapFS, node, req('PATCH', '/api/v1/nodes/n1/status'))), 'system-node-high');
    assert.equal(nameOf(classify(bootstrapFS, node, req('GET', '/api/v1/namespaces/default/pods'))), 'system-nodes');
  });
  it('puts system:masters in exempt and probes of anyone in probes', () => {
    assert.equal(nameOf(classify(bootstrapFS, admin, req('GET', '/api/v1/pods'))), 'exempt');
    assert.equal(nameOf(classify(bootstrapFS, alice, req('GET', '/healthz'))), 'probes');
    assert.equal(nameOf(classify(bootstrapFS, alice, req('GET', '/metrics'))), 'global-default');
  });
  it('matches leader election leases of kube-system service accounts before their catch-all schema', () => {
    assert.equal(nameOf(classify(bootstrapFS, ksa('x'), req('PUT', '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/x'))), 'system-leader-election');
    assert.equal(nameOf(classify(bootstrapFS, ksa('endpoint-controller'), req('PUT', '/api/v1/namespaces/a/endpoints/e'))), 'endpoint-controller');
    assert.equal(nameOf(classify(bootstrapFS, ksa('x'), req('GET', '/api/v1/namespaces/a/pods'))), 'kube-system-service-accounts');
    const other = { username: 'system:serviceaccount:apps:web', groups: ['system:serviceaccounts', 'system:authenticated'] };
    assert.equal(nameOf(classify(bootstrapFS, other, req('GET', '/api/v1/namespaces/a/pods'))), 'service-accounts');
    assert.equal(nameOf(classify(bootstrapFS, alice, req('GET', '/api/v1/namespaces/a/pods'))), 'global-default');
  });
  it('respects clusterScope, namespaces, subresources and non-resource wildcards', () => {
    const fs: FlowSchema = {
      metadata: { name: 'x' },
      spec: {
        priorityLevelConfiguration: { name: 'p' },
        matchingPrecedence: 10,
        rules: [{ subjects: [{ kind: 'User', user: { name: 'alice' } }], resourceRules: [{ verbs: ['get'], apiGroups: [''], resources: ['pods/log'], namespaces: ['a'] }], nonResourceRules: [{ verbs: ['get'], nonResourceURLs: ['/apis/*'] }] }],
      },
    };
    assert.equal(nameOf(classify([fs], alice, req('GET', '/api/v1/namespaces/a/pods/p/log'))), 'x');
    assert.equal(classify([fs], alice, req('GET', '/api/v1/namespaces/b/pods/p/log')), undefined);
    assert.equal(classify([fs], alice, req('GET', '/api/v1/namespaces/a/pods/p')), undefined);
    assert.equal(classify([fs], alice, req('GET', '/api/v1/pods')), undefined, 'all namespaces is not namespace a, and the rule is not cluster-scoped');
    assert.equal(nameOf(classify([fs], alice, req('GET', '/apis'))), 'x');
    assert.equal(nameOf(classify([fs], alice, req('GET', '/apis/apps'))), 'x');
    assert.equal(classify([fs], alice, req('GET', '/api')), undefined);
    assert.equal(classify([fs], node, req('GET', '/apis')), undefined);
  });
  it('orders by matchingPrecedence then name, and computes the distinguisher', () => {
    const mk = (name: string, mp: number, dm?: 'ByUser' | 'ByNamespace'): FlowSchema => ({ metadata: { name }, spec: { priorityLevelConfiguration: { name: 'p' }, matchingPrecedence: mp, ...(dm ? { distinguisherMethod: { type: dm } } : {}), rules: [{ subjects: [{ kind: 'Group', group: { name: '*' } }], resourceRules: [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'], namespaces: ['*'], clusterScope: true }] }] } });
    const sorted = sortFlowSchemas([mk('b', 5), mk('c', 1), mk('a', 5)]);
    assert.deepEqual(sorted.map(nameOf), ['c', 'a', 'b']);
    const info = req('GET', '/api/v1/namespaces/ns1/pods');
    assert.equal(distinguisher(mk('u', 1, 'ByUser'), alice, info), 'alice');
    assert.equal(distinguisher(mk('n', 1, 'ByNamespace'), alice, info), 'ns1');
    assert.equal(distinguisher(mk('n', 1), alice, info), '');
  });
});

describe('bootstrap objects', () => {
  it('are valid and have upstream precedence, levels and queues', () => {
    for (const o of [...MANDATORY_FLOW_SCHEMAS, ...SUGGESTED_FLOW_SCHEMAS]) assert.deepEqual(validateFlowSchema(o), [], o.metadata.name);
    for (const o of [...MANDATORY_PRIORITY_LEVELS, ...SUGGESTED_PRIORITY_LEVELS]) assert.deepEqual(validatePriorityLevelConfiguration(o), [], o.metadata.name);
    const levels = new Set([...MANDATORY_PRIORITY_LEVELS, ...SUGGESTED_PRIORITY_LEVELS].map((p) => p.metadata.name));
    for (const fs of SUGGESTED_FLOW_SCHEMAS) assert.ok(levels.has(fs.spec.priorityLevelConfiguration.name), fs.metadata.name);
    const nh = SUGGESTED_PRIORITY_LEVELS.find((p) => p.metadata.name === 'node-high')!;
    assert.deepEqual(nh.spec.limited?.limitResponse.queuing, { queues: 64, handSize: 6, queueLengthLimit: 50 });
    assert.equal(nh.spec.limited?.nominalConcurrencyShares, 40);
    assert.deepEqual(Object.fromEntries(bootstrapFS.map((f) => [f.metadata.name, f.spec.matchingPrecedence])), {
      exempt: 1, probes: 2, 'system-leader-election': 100, 'endpoint-controller': 150, 'workload-leader-election': 200, 'system-node-high': 400, 'system-nodes': 500,
      'kube-controller-manager': 800, 'kube-scheduler': 800, 'kube-system-service-accounts': 900, 'service-accounts': 9000, 'global-default': 9900, 'catch-all': 10000,
    });
  });
  it('validation names the field at fault', () => {
    const pl = { metadata: { name: 'p' }, spec: { type: 'Limited', limited: { nominalConcurrencyShares: -1, limitResponse: { type: 'Queue', queuing: { queues: 4, handSize: 8, queueLengthLimit: 0 } } } } };
    const fields = validatePriorityLevelConfiguration(pl).map((c) => c.field);
    assert.deepEqual(fields.sort(), ['spec.limited.limitResponse.queuing.handSize', 'spec.limited.limitResponse.queuing.queueLengthLimit', 'spec.limited.nominalConcurrencyShares']);
    const fs = { metadata: { name: 'f' }, spec: { matchingPrecedence: 0, priorityLevelConfiguration: {}, distinguisherMethod: { type: 'ByGroup' }, rules: [{ subjects: [{ kind: 'User' }] }] } };
    assert.deepEqual(validateFlowSchema(fs).map((c) => c.field).sort(), ['spec.distinguisherMethod.type', 'spec.matchingPrecedence', 'spec.priorityLevelConfiguration.name', 'spec.rules[0]', 'spec.rules[0].subjects[0].user']);
  });
});

describe('shuffle sharding', () => {
  it('deals distinct cards within the deck, the same hand for the same hash', () => {
    const d = new Dealer(64, 6);
    for (let i = 0; i < 500; i++) {
      const hand = d.deal(hashFlow('fs', `user-${i}`));
      assert.equal(new Set(hand).size, 6);
      assert.ok(hand.every((c) => c >= 0 && c < 64));
    }
    assert.deepEqual(d.deal(hashFlow('fs', 'a')), d.deal(hashFlow('fs', 'a')));
    // upstream's mixed-radix example: hash 0 deals 0,1,2,...
    assert.deepEqual(new Dealer(8, 3).deal(0n), [0, 1, 2]);
    assert.throws(() => new Dealer(4, 5), RangeError);
  });
  it('spreads flows over the queues', () => {
    const d = new Dealer(16, 1);
    const counts = new Array<number>(16).fill(0);
    for (let i = 0; i < 1600; i++) counts[d.deal(hashFlow('fs', `u${i}`))[0]!]++;
    assert.ok(Math.min(...counts) > 50 && Math.max(...counts) < 160, counts.join(','));
  });
});

describe('queue set', () => {
  const queuing = { queues: 8, handSize: 2, queueLengthLimit: 2 };
  const h = (s: string) => () => hashFlow('fs', s);

  it('dispatches at once up to the limit, then queues, then rejects a full queue', async () => {
    const clock = new FakeClock();
    const qs = new QueueSet({ concurrencyLimit: 1, queuing }, { clock, maxWaitMs: 60_000 });
    const first = qs.acquire(h('a'));
    assert.ok(!isWaiting(first));
    const w1 = qs.acquire(h('a')) as Waiting;
    const w2 = qs.acquire(h('a')) as Waiting;
    const w3 = qs.acquire(h('a')) as Waiting;
    const w4 = qs.acquire(h('a')) as Waiting;
    assert.ok(isWaiting(w1) && isWaiting(w4));
    // hand of 2 queues x 2 each: the fifth waiting request of one flow is refused
    assert.throws(() => qs.acquire(h('a')), (e: unknown) => e instanceof Rejected && e.reason === 'queue-full');
    assert.equal(qs.waiting, 4);
    assert.deepEqual(qs.queueLengths().filter((n) => n > 0), [2, 2], 'the flow joins the shorter queue of its hand');
    // the first to get the seat is the head of one of the two queues (least virtual finish time), FIFO within a queue
    const heads = [w1, w2];
    clock.advance(250);
    (first as Seat).release();
    const s1 = await Promise.race(heads.map((w) => w.seat));
    assert.equal(s1.waitedMs, 250);
    assert.equal(qs.executing, 1);
    assert.equal(qs.waiting, 3);
    s1.release();
    s1.release(); // twice is once
    assert.equal(qs.executing, 1);
    let rest = 3;
    const all = [w1, w2, w3, w4].map((w) => w.seat.then((s) => { if (s !== s1) { rest--; s.release(); } }));
    await Promise.all(all);
    assert.equal(rest, 0);
    assert.equal(qs.executing, 0);
  });

  it('rejects a request that waited 60 s (time-out) and one whose client left (cancelled)', async () => {
    const clock = new FakeClock();
    const qs = new QueueSet({ concurrencyLimit: 1, queuing }, { clock, maxWaitMs: 60_000 });
    const held = qs.acquire(h('a')) as Seat;
    const w = qs.acquire(h('a')) as Waiting;
    const c = qs.acquire(h('b')) as Waiting;
    c.cancel();
    await assert.rejects(c.seat, (e: unknown) => e instanceof Rejected && e.reason === 'cancelled');
    clock.advance(59_999);
    assert.equal(qs.waiting, 1);
    clock.advance(1);
    await assert.rejects(w.seat, (e: unknown) => e instanceof Rejected && e.reason === 'time-out');
    assert.equal(qs.waiting, 0);
    assert.equal(clock.pending, 0, 'no timer left behind');
    held.release();
    assert.equal(qs.executing, 0);
  });

  it('takes turns between flows: a heavy flow does not starve a light one', async () => {
    const clock = new FakeClock();
    const qs = new QueueSet({ concurrencyLimit: 1, queuing: { queues: 64, handSize: 1, queueLengthLimit: 100 } }, { clock, maxWaitMs: 60_000 });
    const held = qs.acquire(h('heavy')) as Seat;
    const order: string[] = [];
    const waits: Promise<void>[] = [];
    const add = (flow: string) => {
      const w = qs.acquire(h(flow)) as Waiting;
      waits.push(w.seat.then((s) => { order.push(flow); s.release(); }));
    };
    for (let i = 0; i < 10; i++) add('heavy');
    add('light');
    held.release();
    await Promise.all(waits);
    // the light flow's one request is served within the first two, not after the ten heavy ones
    assert.ok(order.indexOf('light') <= 1, order.join(','));
  });

  it('Reject levels refuse at once over the limit; a lower limit holds new requests back', () => {
    const qs = new QueueSet({ concurrencyLimit: 2 }, { maxWaitMs: 1 });
    const a = qs.acquire(h('a')) as Seat;
    qs.acquire(h('a'));
    assert.throws(() => qs.acquire(h('a')), (e: unknown) => e instanceof Rejected && e.reason === 'concurrency-limit');
    qs.setConfig({ concurrencyLimit: 1 });
    a.release();
    assert.throws(() => qs.acquire(h('a')), (e: unknown) => e instanceof Rejected);
  });
});

class FakeRes extends EventEmitter {
  headers: Record<string, string> = {};
  setHeader(k: string, v: string) {
    this.headers[k] = v;
  }
}

describe('PriorityAndFairness', () => {
  const withUid = <T extends { metadata: { name?: string; uid?: string } }>(o: T): T => ({ ...o, metadata: { ...o.metadata, uid: `uid-${o.metadata.name}` } });
  const pls = (extra: PriorityLevelConfiguration[] = []) => [...MANDATORY_PRIORITY_LEVELS, ...SUGGESTED_PRIORITY_LEVELS, ...extra].map(withUid);
  const fss = (extra: FlowSchema[] = []) => [...MANDATORY_FLOW_SCHEMAS, ...SUGGESTED_FLOW_SCHEMAS, ...extra].map(withUid);

  it('splits the server concurrency limit by nominal shares, as upstream', () => {
    const apf = new PriorityAndFairness({ serverConcurrencyLimit: 600, maxWaitMs: 60_000 });
    apf.setConfig(fss(), pls());
    // shares: catch-all 5, system 30, node-high 40, leader-election 10, workload-high 40, workload-low 100, global-default 20 = 245
    assert.equal(apf.nominalLimits.get('node-high'), Math.ceil((600 * 40) / 245));
    assert.equal(apf.nominalLimits.get('catch-all'), Math.ceil((600 * 5) / 245));
    assert.equal(apf.nominalLimits.has('exempt'), false);
  });

  it('admits, queues and rejects with 429 + metrics; headers carry the UIDs; a new FlowSchema applies at once', async () => {
    const clock = new FakeClock();
    const registry = new MetricsRegistry();
    const apf = new PriorityAndFairness({ serverConcurrencyLimit: 1, maxWaitMs: 1000, clock, metrics: new FlowControlMetrics(registry) });
    const tiny: PriorityLevelConfiguration = { metadata: { name: 'tiny' }, spec: { type: 'Limited', limited: { nominalConcurrencyShares: 1000, limitResponse: { type: 'Queue', queuing: { queues: 1, handSize: 1, queueLengthLimit: 1 } } } } };
    const aliceFS: FlowSchema = { metadata: { name: 'alice' }, spec: { priorityLevelConfiguration: { name: 'tiny' }, matchingPrecedence: 50, distinguisherMethod: { type: 'ByUser' }, rules: [{ subjects: [{ kind: 'User', user: { name: 'alice' } }], resourceRules: [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'], namespaces: ['*'], clusterScope: true }] }] } };
    apf.setConfig(fss(), pls([tiny]));
    const list = req('GET', '/api/v1/pods');
    const r1 = new FakeRes();
    assert.equal(apf.classify(alice, list).flowSchema.metadata.name, 'global-default');
    apf.setConfig(fss([aliceFS]), pls([tiny]));
    const t1 = apf.admit(alice, list, r1 as unknown as ServerResponse) as Ticket;
    assert.equal(r1.headers[FLOW_SCHEMA_UID_HEADER], 'uid-alice');
    const p2 = apf.admit(alice, list, new FakeRes() as unknown as ServerResponse);
    assert.ok(p2 instanceof Promise);
    assert.throws(() => apf.admit(alice, list, new FakeRes() as unknown as ServerResponse), (e: unknown) => isHedgeError(e, 'TooManyRequests') && e.details.retryAfterSeconds === 1);
    // exempt (masters) and long-running requests other than watches are never held; those are not even classified (upstream)
    assert.ok(!(apf.admit(admin, list, new FakeRes() as unknown as ServerResponse) instanceof Promise));
    const logRes = new FakeRes();
    assert.ok(!(apf.admit(alice, req('GET', '/api/v1/namespaces/a/pods/p/log'), logRes as unknown as ServerResponse) instanceof Promise));
    assert.equal(logRes.headers[FLOW_SCHEMA_UID_HEADER], undefined);
    const text1 = await registry.metrics();
    assert.match(text1, /apiserver_flowcontrol_current_inqueue_requests\{priority_level="tiny",flow_schema="alice"\} 1/);
    assert.match(text1, /apiserver_flowcontrol_current_executing_requests\{priority_level="tiny",flow_schema="alice"\} 1/);
    assert.match(text1, /apiserver_flowcontrol_rejected_requests_total\{flow_schema="alice",priority_level="tiny",reason="queue-full"\} 1/);
    assert.match(text1, /apiserver_flowcontrol_nominal_limit_seats\{priority_level="tiny"\} 1/);
    // a client that leaves while queued frees its place
    const r3 = new FakeRes();
    clock.advance(1000);
    await assert.rejects(p2 as Promise<Ticket>, (e: unknown) => isHedgeError(e, 'TooManyRequests'));
    const p3 = apf.admit(alice, list, r3 as unknown as ServerResponse) as Promise<Ticket>;
    r3.emit('close');
    await assert.rejects(p3);
    t1.release();
    const text2 = await registry.metrics();
    assert.match(text2, /reason="time-out"\} 1/);
    assert.match(text2, /reason="cancelled"\} 1/);
    assert.match(text2, /apiserver_flowcontrol_current_executing_requests\{priority_level="tiny",flow_schema="alice"\} 0/);
  });

  it('skips a FlowSchema whose level is missing and reports it Dangling', () => {
    const apf = new PriorityAndFairness({ serverConcurrencyLimit: 10, maxWaitMs: 1000 });
    const dangling: FlowSchema = { metadata: { name: 'd' }, spec: { priorityLevelConfiguration: { name: 'nope' }, matchingPrecedence: 2, rules: [{ subjects: [{ kind: 'Group', group: { name: 'system:authenticated' } }], nonResourceRules: [{ verbs: ['*'], nonResourceURLs: ['*'] }] }] } };
    apf.setConfig(fss([dangling]), pls());
    assert.equal(apf.classify(alice, req('GET', '/version')).flowSchema.metadata.name, 'global-default');
    assert.equal(apf.danglingCondition(dangling, pls()).status, 'True');
    assert.match(apf.danglingCondition(dangling, pls()).message ?? '', /named "nope" but there is no such object/);
    assert.equal(apf.danglingCondition(fss()[0]!, pls()).status, 'False');
  });
});

describe('max in flight (APF off)', () => {
  it('limits read-only and mutating requests apart; masters and watches are not limited', () => {
    const g = new MaxInFlight({ readonly: 1, mutating: 1 });
    const t = g.admit(alice, req('GET', '/api/v1/pods'));
    assert.throws(() => g.admit(alice, req('GET', '/api/v1/pods')), (e: unknown) => isHedgeError(e, 'TooManyRequests'));
    const m = g.admit(alice, req('POST', '/api/v1/namespaces/a/pods'));
    assert.throws(() => g.admit(alice, req('DELETE', '/api/v1/namespaces/a/pods/x')), (e: unknown) => isHedgeError(e, 'TooManyRequests'));
    g.admit(admin, req('GET', '/api/v1/pods'));
    g.admit(alice, parseRequestInfo('GET', '/api/v1/pods', new URLSearchParams('watch=true')));
    t.release();
    t.release();
    m.release();
    assert.deepEqual(g.inFlight, { readonly: 0, mutating: 0 });
  });
});
