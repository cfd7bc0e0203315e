import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makePod } from '../testing/objects.ts';
import { SchedulingQueue } from './queue.ts';

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
