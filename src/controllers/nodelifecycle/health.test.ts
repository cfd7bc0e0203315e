import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makePod } from '../testing/objects.ts';
import { parseDuration } from '../../lib/duration.ts';
import { parseAutonomy, type Autonomy } from './autonomy.ts';
import { evictionTime } from './eviction.ts';
import { newTracker, step, type HealthInput, type NodeTracker } from './health.ts';

const GRACE = 40_000;
const T0 = Date.parse('2026-01-01T00:00:00Z');
const cfg = { gracePeriodMs: GRACE };
const ev = { defaultTolerationSeconds: 300 };

/** A little driver: feed observations at local times, read the state. */
class Sim {
  t: NodeTracker = newTracker(T0);
  private n = 0;
  constructor(autonomy: Autonomy = { kind: 'none' }) {
    this.node(T0, 'True', autonomy);
  }
  private go(i: HealthInput): this {
    this.t = step(this.t, i, cfg);
    return this;
  }
  lease(at: number, renewTime = `2026-01-01T00:00:${String(this.n++ % 60).padStart(2, '0')}.000000Z`): this {
    return this.go({ type: 'Lease', at, renewTime });
  }
  node(at: number, ready: 'True' | 'False' | 'Unknown', autonomy: Autonomy = this.t.autonomy, offlineHeartbeats?: string, heartbeat = this.t.heartbeat ?? 'hb0'): this {
    return this.go({ type: 'Node', at, ready, heartbeat, autonomy, offlineHeartbeats });
  }
  tick(at: number): this {
    return this.go({ type: 'Tick', at });
  }
  get kind(): string {
    return this.t.health.kind;
  }
}

test('renewals keep a node healthy; silence longer than the grace period makes it Unreachable', () => {
  const s = new Sim();
  s.lease(T0 + 10_000).tick(T0 + 50_000);
  assert.equal(s.kind, 'Healthy', 'exactly at grace is still reachable');
  s.tick(T0 + 50_001);
  assert.equal(s.kind, 'Unreachable');
  assert.equal(s.t.health.kind === 'Unreachable' && s.t.health.since, T0 + 50_001);
});

test('clock skew: a renewTime far in the future does not extend the grace period', () => {
  const s = new Sim();
  s.lease(T0 + 1000, '2027-06-01T00:00:00.000000Z'); // node clock a year ahead
  s.tick(T0 + 1000 + GRACE + 1);
  assert.equal(s.kind, 'Unreachable', 'judged by when WE saw the change');
});

test('clock skew: renewTimes in the past, even stepping backwards, still count as renewals', () => {
  const s = new Sim();
  s.lease(T0 + 30_000, '2025-01-01T00:00:10.000000Z');
  s.lease(T0 + 60_000, '2025-01-01T00:00:05.000000Z'); // node clock stepped back
  s.tick(T0 + 90_000);
  assert.equal(s.kind, 'Healthy');
  s.lease(T0 + 95_000, '2025-01-01T00:00:05.000000Z'); // same value again: not a renewal
  s.tick(T0 + 60_000 + GRACE + 1);
  assert.equal(s.kind, 'Unreachable');
});

test('a late renewal brings the node back; eviction timing restarts on the next partition (flapping)', () => {
  const s = new Sim();
  s.tick(T0 + GRACE + 1);
  assert.equal(s.kind, 'Unreachable');
  const pod = makePod('p', { nodeName: 'n' });
  const first = evictionTime(pod, s.t.health, ev);
  assert.equal(first, T0 + GRACE + 1 + 300_000);
  s.lease(T0 + 100_000); // late renewal
  assert.equal(s.kind, 'Healthy');
  assert.equal(evictionTime(pod, s.t.health, ev), undefined);
  // flap: down again later; the clock starts over from the new partition
  s.tick(T0 + 100_000 + GRACE + 1);
  assert.equal(s.kind, 'Unreachable');
  assert.equal(evictionTime(pod, s.t.health, ev), T0 + 100_000 + GRACE + 1 + 300_000);
  s.lease(T0 + 150_000).lease(T0 + 151_000);
  assert.equal(s.kind, 'Healthy');
});

test('Ready=False from a reachable node is NotReady; NotReady pods evict by the not-ready taint', () => {
  const s = new Sim();
  s.node(T0 + 5_000, 'False', undefined, undefined, 'hb1');
  assert.equal(s.kind, 'NotReady');
  const tolerant = makePod('p', { tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 30 }] });
  assert.equal(evictionTime(tolerant, s.t.health, ev), T0 + 5_000 + 30_000);
  s.node(T0 + 6_000, 'False', undefined, undefined, 'hb2');
  assert.equal(s.t.health.kind === 'NotReady' && s.t.health.since, T0 + 5_000, 'since is kept while NotReady');
  s.node(T0 + 7_000, 'True', undefined, undefined, 'hb3');
  assert.equal(s.kind, 'Healthy');
});

test('our own Ready=Unknown write is not a heartbeat', () => {
  const s = new Sim();
  s.tick(T0 + GRACE + 1);
  s.node(T0 + GRACE + 2, 'Unknown'); // the controller's patch comes back through the informer, same lastHeartbeatTime
  assert.equal(s.kind, 'Unreachable');
});

test('tolerations: explicit seconds, forever, zero, and the default', () => {
  const s = new Sim();
  s.tick(T0 + GRACE + 1);
  const since = T0 + GRACE + 1;
  const tol = (tolerationSeconds?: number) => makePod('p', { tolerations: [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds }] });
  assert.equal(evictionTime(tol(60), s.t.health, ev), since + 60_000);
  assert.equal(evictionTime(tol(undefined), s.t.health, ev), undefined);
  assert.equal(evictionTime(tol(-5), s.t.health, ev), since);
  assert.equal(evictionTime(makePod('p'), s.t.health, { defaultTolerationSeconds: 2 }), since + 2_000);
  const wrongEffect = makePod('p', { tolerations: [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoSchedule' }] });
  assert.equal(evictionTime(wrongEffect, s.t.health, ev), since + 300_000);
  const base = makePod('p');
  const terminating = { ...base, metadata: { ...base.metadata, deletionTimestamp: '2026-01-01T00:00:00Z' } };
  assert.equal(evictionTime(terminating, s.t.health, ev), undefined);
});

test('autonomous nodes never evict while unreachable', () => {
  const s = new Sim({ kind: 'forever' });
  s.tick(T0 + GRACE + 1).tick(T0 + 10 * 24 * 3600_000);
  assert.equal(s.kind, 'Unreachable');
  assert.equal(evictionTime(makePod('p'), s.t.health, ev), undefined);
});

test('autonomy added while unreachable stops evictions; removed restarts the clock from the removal', () => {
  const s = new Sim();
  s.tick(T0 + GRACE + 1);
  assert.ok(evictionTime(makePod('p'), s.t.health, ev) !== undefined);
  s.node(T0 + 60_000, 'Unknown', { kind: 'forever' });
  assert.equal(evictionTime(makePod('p'), s.t.health, ev), undefined);
  s.node(T0 + 3_600_000, 'Unknown', { kind: 'none' });
  assert.equal(evictionTime(makePod('p'), s.t.health, ev), T0 + 3_600_000 + 300_000, 'not from the partition start');
});

test('duration autonomy protects for that long after the partition began', () => {
  const s = new Sim({ kind: 'for', ms: 3_600_000 });
  s.tick(T0 + GRACE + 1);
  const since = T0 + GRACE + 1;
  s.tick(since + 3_599_000);
  assert.equal(evictionTime(makePod('p'), s.t.health, ev), undefined);
  s.tick(since + 3_605_000);
  assert.equal(evictionTime(makePod('p'), s.t.health, ev), since + 3_600_000 + 300_000);
});

test('verdict: journaled heartbeats mean partition, none mean down; late evidence revises it', () => {
  const before = JSON.stringify({ count: 3, last: '2025-12-01T00:00:00Z' });
  const a = new Sim({ kind: 'forever' });
  a.node(T0 + 1, 'True', { kind: 'forever' }, before, 'hb1');
  a.tick(T0 + GRACE + 2);
  a.node(T0 + 600_000, 'True', { kind: 'forever' }, JSON.stringify({ count: 55, last: '2026-01-01T00:09:59Z' }), 'hb2');
  assert.equal(a.kind, 'Healthy');
  assert.equal(a.t.lastPartition?.verdict, 'EdgeWasPartitioned');
  assert.equal(a.t.lastPartition?.heartbeats, 55);

  const b = new Sim({ kind: 'forever' });
  b.node(T0 + 1, 'True', { kind: 'forever' }, before, 'hb1');
  b.tick(T0 + GRACE + 2);
  b.lease(T0 + 600_000); // lease resumes first; the old annotation is no evidence
  assert.equal(b.t.lastPartition?.verdict, 'NodeWasDown');
  b.node(T0 + 601_000, 'True', { kind: 'forever' }, JSON.stringify({ count: 12 }), 'hb2');
  assert.equal(b.t.lastPartition?.verdict, 'EdgeWasPartitioned');
});

test('autonomy annotation parsing', () => {
  assert.deepEqual(parseAutonomy('true'), { kind: 'forever' });
  assert.deepEqual(parseAutonomy(undefined), { kind: 'none' });
  assert.deepEqual(parseAutonomy('false'), { kind: 'none' });
  assert.deepEqual(parseAutonomy('24h'), { kind: 'for', ms: 86_400_000 });
  assert.deepEqual(parseAutonomy('bogus'), { kind: 'forever', invalid: true });
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(parseDuration('1.5s'), 1500);
  assert.equal(parseDuration('-1h'), undefined);
});

test('a mirror pod is never evicted (its node re-creates it; the static pod runs on regardless)', () => {
  const s = new Sim();
  s.tick(T0 + GRACE + 1);
  assert.equal(s.kind, 'Unreachable');
  const pod = makePod('etcd-n', { nodeName: 'n' });
  assert.notEqual(evictionTime(pod, s.t.health, ev), undefined);
  pod.metadata.annotations = { 'kubernetes.io/config.mirror': 'abc' };
  assert.equal(evictionTime(pod, s.t.health, ev), undefined);
});
