import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PodObject } from '../common/types.ts';
import { makeNode, makePod } from '../testing/objects.ts';
import { ActionType, nodeUpdateActions } from './events.ts';
import { nodeAffinity, nodeResourcesFit, taintToleration } from './filters/index.ts';
import { podInfo } from './node-info.ts';
import { DEFAULT_MAX_UNSCHEDULABLE_MS, SchedulingQueue, type QueueEntry } from './queue.ts';

const popAll = (q: SchedulingQueue, now: number): string[] => {
  const out: string[] = [];
  for (let e = q.pop(now); e; e = q.pop(now)) out.push(e.pod.metadata.name ?? '');
  return out;
};

test('active queue: highest priority first, FIFO within a priority, unset priority is 0', () => {
  const q = new SchedulingQueue({ initialBackoffMs: 1000, maxBackoffMs: 10_000 });
  q.addOrUpdate(makePod('a'), 0);
  q.addOrUpdate(makePod('b', { priority: 100 }), 0);
  q.addOrUpdate(makePod('c', { priority: -5 }), 0);
  q.addOrUpdate(makePod('d', { priority: 100 }), 0);
  q.addOrUpdate(makePod('e', { priority: 0 }), 0);
  q.addOrUpdate(makePod('f', { priority: 2_000_000_000 }), 0);
  // an update keeps the pod's place
  q.addOrUpdate(makePod('b', { priority: 100, labels: { x: 'y' } }), 0);
  q.delete('default/e');
  assert.deepEqual(popAll(q, 0), ['f', 'b', 'd', 'a', 'c']);
  assert.equal(q.size, 0);
});

test('a due high-priority pod in back-off passes active pods of lower priority within a second', () => {
  const q = new SchedulingQueue({ initialBackoffMs: 1000, maxBackoffMs: 10_000 });
  q.addOrUpdate(makePod('high', { priority: 10 }), 0);
  const high = q.pop(0);
  assert.ok(high);
  q.requeue(high, 0);
  for (let i = 0; i < 5; i++) q.addOrUpdate(makePod(`low-${i}`), 0);
  assert.equal(q.pop(500)?.pod.metadata.name, 'low-0');
  assert.equal(q.pop(1000)?.pod.metadata.name, 'high');
  assert.deepEqual(popAll(q, 1000), ['low-1', 'low-2', 'low-3', 'low-4']);
});

/** a popped entry for `pod`, as the scheduler hands it back */
function attempt(q: SchedulingQueue, pod: PodObject, now: number): QueueEntry {
  q.addOrUpdate(pod, now);
  const e = q.pop(now);
  assert.equal(e?.pod.metadata.name, pod.metadata.name);
  return e as QueueEntry;
}

test('unschedulable pods move only on an event a plugin that rejected them registered, and its hint says Queue', () => {
  const filters = [nodeAffinity, nodeResourcesFit, taintToleration];
  const q = new SchedulingQueue({ initialBackoffMs: 1000, maxBackoffMs: 10_000, registrations: new Map(filters.map((f) => [f.name, f.events ?? []])) });
  const affine = Array.from({ length: 50 }, (_, i) => makePod(`ssd-${i}`, { nodeSelector: { disk: 'ssd' } }));
  const big = Array.from({ length: 50 }, (_, i) => makePod(`big-${i}`, { cpu: '16' }));
  for (const p of affine) q.markUnschedulable(attempt(q, p, 0), new Set(['NodeAffinity']), podInfo(p), 0);
  for (const p of big) q.markUnschedulable(attempt(q, p, 0), new Set(['NodeResourcesFit']), podInfo(p), 0);
  assert.equal(q.unschedulableSize, 100);
  assert.equal(q.pop(60_000), undefined, 'back-off expiry alone moves none');

  const plain = makeNode('a');
  const beat = makeNode('a', { heartbeat: '2026-01-01T00:01:00Z' });
  assert.equal(nodeUpdateActions(plain, beat), 0, 'the scheduler sends no event for a heartbeat');
  // a label that matches no pod: only NodeAffinity registered label changes, its 50 pods are asked
  const rack = makeNode('a', { labels: { rack: 'r1' } });
  assert.equal(q.onEvent({ resource: 'Node', action: nodeUpdateActions(plain, rack), old: plain, new: rack }, 60_000), 0);
  assert.equal(q.stats.hintCalls, 50);
  // a taint change: nobody registered it for these plugins, no hint runs
  const tainted = makeNode('a', { taints: [{ key: 'k', effect: 'NoSchedule' }] });
  assert.equal(q.onEvent({ resource: 'Node', action: nodeUpdateActions(plain, tainted), old: plain, new: tainted }, 60_000), 0);
  assert.equal(q.stats.hintCalls, 50);
  // a PV changed: no plugin here registered PVs
  assert.equal(q.onEvent({ resource: 'PersistentVolume', action: ActionType.UpdateOther, new: { apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: 'pv' } } }, 60_000), 0);

  const ssd = makeNode('a', { labels: { disk: 'ssd' } });
  assert.equal(q.onEvent({ resource: 'Node', action: nodeUpdateActions(plain, ssd), old: plain, new: ssd }, 60_000), 50);
  const moved = popAll(q, 60_000);
  assert.equal(moved.length, 50);
  assert.ok(moved.every((n) => n.startsWith('ssd-')));
  // a placed pod leaving frees room: NodeResourcesFit has no hint for it, every pod it rejected moves
  assert.equal(q.onEvent({ resource: 'AssignedPod', action: ActionType.Delete, old: makePod('gone', { nodeName: 'a', cpu: '1' }) }, 60_000), 50);
  assert.equal(q.stats.movedByEvent, 100);
  assert.equal(q.unschedulableSize, 0);
});

test('a plugin without registrations, or no plugin at all, is moved by any event; the flush moves the rest after 5 min', () => {
  const q = new SchedulingQueue({ initialBackoffMs: 1000, maxBackoffMs: 10_000, registrations: new Map([['NodeAffinity', nodeAffinity.events ?? []]]) });
  const custom = makePod('custom');
  const none = makePod('none');
  const affine = makePod('affine', { nodeSelector: { disk: 'ssd' } });
  q.markUnschedulable(attempt(q, custom, 0), new Set(['Custom']), podInfo(custom), 0);
  q.markUnschedulable(attempt(q, none, 0), new Set(), podInfo(none), 0);
  q.markUnschedulable(attempt(q, affine, 100), new Set(['NodeAffinity']), podInfo(affine), 100);
  assert.equal(q.onEvent({ resource: 'Namespace', action: ActionType.UpdateOther, new: { metadata: { name: 'x' } } }, 500), 2);
  // moved, but not tried sooner than the initial back-off after their last attempt
  assert.equal(q.where('default/custom'), 'backoff');
  assert.equal(q.pop(999), undefined);
  assert.deepEqual(popAll(q, 1000).sort(), ['custom', 'none']);
  assert.equal(q.where('default/affine'), 'unschedulable');
  assert.equal(q.nextReadyAt(), 100 + DEFAULT_MAX_UNSCHEDULABLE_MS);
  assert.equal(q.pop(100 + DEFAULT_MAX_UNSCHEDULABLE_MS - 1), undefined);
  assert.equal(q.pop(100 + DEFAULT_MAX_UNSCHEDULABLE_MS)?.pod.metadata.name, 'affine');
  assert.equal(q.stats.flushed, 1);
});

test('an unschedulable pod whose spec or labels change is tried at once; a status update leaves it waiting', () => {
  const q = new SchedulingQueue({ initialBackoffMs: 1000, maxBackoffMs: 10_000, registrations: new Map([['NodeAffinity', nodeAffinity.events ?? []]]) });
  const p = makePod('p', { nodeSelector: { disk: 'ssd' } });
  q.markUnschedulable(attempt(q, p, 0), new Set(['NodeAffinity']), podInfo(p), 0);
  q.addOrUpdate({ ...p, status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False' }] } }, 10);
  assert.equal(q.where('default/p'), 'unschedulable');
  q.addOrUpdate(makePod('p', { nodeSelector: { disk: 'hdd' } }), 20);
  assert.equal(q.pop(20)?.pod.spec?.nodeSelector?.disk, 'hdd');
});
