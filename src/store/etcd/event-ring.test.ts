import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isHedgeError } from '../../lib/errors.ts';
import type { ChangeEvent } from '../watch-hub.ts';
import { EventRing } from './event-ring.ts';

const put = (key: string, rev: number, value = 'v'): ChangeEvent => ({ type: 'put', kv: { key, value, createRevision: rev, modRevision: rev } });
const revs = (evs: ChangeEvent[]): string[] => evs.map((e) => `${e.kv.key}@${e.kv.modRevision}`);

test('reads by prefix and revision range; a page never splits a revision', () => {
  const ring = new EventRing({ start: 10 });
  // revision 12 wrote two keys (an etcd transaction may)
  ring.append([put('/a/1', 10), put('/b/1', 11), put('/a/2', 12), put('/a/3', 12), put('/a/4', 13)]);
  assert.deepEqual(revs(ring.readHistory('/a/', 10, 13, 100)), ['/a/1@10', '/a/2@12', '/a/3@12', '/a/4@13']);
  assert.deepEqual(revs(ring.readHistory('/a/', 11, 12, 100)), ['/a/2@12', '/a/3@12']);
  assert.deepEqual(revs(ring.readHistory('/a/', 10, 13, 2)), ['/a/1@10', '/a/2@12', '/a/3@12']);
  assert.deepEqual(ring.readHistory('/a/', 14, 13, 100), []);
  assert.throws(() => ring.readHistory('/a/', 9, 13, 100), (err) => isHedgeError(err, 'Gone'));
});

test('bounded by count and by bytes: the oldest go, and reads from before them are Gone', () => {
  const byCount = new EventRing({ start: 1, maxEvents: 3 });
  for (let r = 1; r <= 5; r++) byCount.append([put(`/k/${r}`, r)]);
  assert.equal(byCount.size, 3);
  assert.equal(byCount.coveredFrom, 3);
  assert.deepEqual(revs(byCount.readHistory('/k/', 3, 5, 10)), ['/k/3@3', '/k/4@4', '/k/5@5']);
  assert.throws(() => byCount.readHistory('/k/', 2, 5, 10), (err) => isHedgeError(err, 'Gone'));

  const byBytes = new EventRing({ start: 1, maxBytes: 3_000 });
  for (let r = 1; r <= 10; r++) byBytes.append([put(`/k/${r}`, r, 'x'.repeat(1_000))]);
  assert.equal(byBytes.size, 2);
  assert.ok(byBytes.byteSize <= 3_000);
  assert.equal(byBytes.coveredFrom, 9);

  byCount.trimTo(5);
  assert.equal(byCount.size, 1);
  assert.throws(() => byCount.readHistory('/k/', 4, 5, 10), (err) => isHedgeError(err, 'Gone'));
});

test('history is held per resource: lease churn does not push pod events out', () => {
  const ring = new EventRing({ start: 1, maxEvents: 3 });
  const pod = '/registry/core/pods/ns/p';
  ring.append([put(pod, 1), put('/registry/core/nodes/n', 2)]);
  for (let r = 3; r <= 20; r++) ring.append([put(`/registry/coordination.k8s.io/leases/ns/n${r}`, r)]);
  // a pods watch resuming from revision 2 (its last bookmark) is inside the history: no pod event was dropped
  assert.equal(ring.coveredFor('/registry/core/pods/'), 1);
  assert.equal(ring.coveredFor('/registry/core/pods/ns/'), 1);
  assert.deepEqual(revs(ring.readHistory('/registry/core/pods/', 2, 20, 100)), []);
  assert.deepEqual(revs(ring.readHistory('/registry/core/pods/ns/', 1, 20, 100)), [`${pod}@1`]);
  // the leases lost theirs
  assert.equal(ring.coveredFor('/registry/coordination.k8s.io/leases/'), 18);
  assert.throws(() => ring.readHistory('/registry/coordination.k8s.io/leases/', 17, 20, 100), (err) => isHedgeError(err, 'Gone'));
  assert.equal(ring.size, 5);
  // a prefix over several resources is covered as its least covered one, and read merged by revision
  assert.equal(ring.coveredFor('/registry/'), 18);
  assert.equal(ring.coveredFrom, 18);
  ring.append([put(pod, 21)]);
  assert.deepEqual(revs(ring.readHistory('/registry/core/', 1, 21, 100)), [`${pod}@1`, '/registry/core/nodes/n@2', `${pod}@21`]);
  assert.deepEqual(revs(ring.readHistory('/registry/core/', 1, 21, 2)), [`${pod}@1`, '/registry/core/nodes/n@2']);
  assert.deepEqual(revs(ring.readHistory('/registry/', 19, 21, 100)), ['/registry/coordination.k8s.io/leases/ns/n19@19', '/registry/coordination.k8s.io/leases/ns/n20@20', `${pod}@21`]);
  // a resource first written after a compaction is covered from the compaction on
  ring.trimTo(21);
  assert.equal(ring.coveredFor('/registry/apps/deployments/'), 21);
  assert.equal(ring.coveredFor('/registry/core/pods/'), 21);
});

test('over the byte bound, the largest resource gives way first', () => {
  const ring = new EventRing({ start: 1, maxBytes: 10_000 });
  ring.append([put('/r/pods/a', 1, 'x'.repeat(1_000))]);
  for (let r = 2; r <= 20; r++) ring.append([put(`/r/leases/${r}`, r, 'y'.repeat(1_000))]);
  assert.ok(ring.byteSize <= 10_000);
  assert.equal(ring.coveredFor('/r/pods/'), 1);
  assert.deepEqual(revs(ring.readHistory('/r/pods/', 1, 20, 10)), ['/r/pods/a@1']);
  assert.ok(ring.coveredFor('/r/leases/') > 2);
});
