import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../lib/log.ts';
import type { KubeObject } from '../api/object.ts';
import { FakeClock } from './clock.ts';
import { FakeKubeClient } from './fake-client.ts';
import { LeaderElector } from './leader-election.ts';
import { Resources } from './resources.ts';

const elector = (client: FakeKubeClient, clock: FakeClock, identity: string): LeaderElector =>
  new LeaderElector({ client, clock, identity, logger: silentLogger(), namespace: 'kube-system', name: 'hedge-scheduler', leaseDurationSeconds: 15 });

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (cond()) return;
    await new Promise((r) => setImmediate(r));
  }
  assert.fail(`timed out waiting for ${what}`);
}

/** a candidate running its election until it leads; `lead()` is its current term's signal */
async function runUntilLeading(c: FakeKubeClient, clock: FakeClock, identity: string): Promise<{ e: LeaderElector; ac: AbortController; done: Promise<void>; lead: () => AbortSignal | undefined }> {
  const e = elector(c, clock, identity);
  const ac = new AbortController();
  let leadSignal: AbortSignal | undefined;
  const done = e.run(ac.signal, (s) => {
    leadSignal = s;
  });
  await until(() => e.isLeader() && leadSignal !== undefined, `${identity} leading`);
  return { e, ac, done, lead: () => leadSignal };
}

test('first candidate creates the Lease with a MicroTime renewTime; the second waits', async () => {
  const c = new FakeKubeClient();
  const clock = new FakeClock(Date.parse('2026-01-01T00:00:00Z'));
  const a = elector(c, clock, 'a');
  const b = elector(c, clock, 'b');
  assert.equal(await a.tryAcquireOrRenew(), true);
  const lease = await c.get<KubeObject & { spec: Record<string, unknown> }>(Resources.leases, 'hedge-scheduler', { namespace: 'kube-system' });
  assert.equal(lease.spec.holderIdentity, 'a');
  assert.equal(lease.spec.renewTime, '2026-01-01T00:00:00.000000Z');
  assert.equal(lease.spec.leaseDurationSeconds, 15);
  assert.equal(await b.tryAcquireOrRenew(), false);
  clock.advance(5_000);
  assert.equal(await a.tryAcquireOrRenew(), true);
  // b measures expiry from when IT saw the record change, not from renewTime.
  clock.advance(14_000);
  assert.equal(await b.tryAcquireOrRenew(), false);
  clock.advance(15_000);
  assert.equal(await b.tryAcquireOrRenew(), true);
  const after = await c.get<KubeObject & { spec: Record<string, unknown> }>(Resources.leases, 'hedge-scheduler', { namespace: 'kube-system' });
  assert.equal(after.spec.holderIdentity, 'b');
  assert.equal(after.spec.leaseTransitions, 1);
});

test('run leads, and releases on stop so another candidate takes over at once', async () => {
  const c = new FakeKubeClient();
  const clock = new FakeClock();
  const { e: a, ac, done, lead } = await runUntilLeading(c, clock, 'a');
  ac.abort();
  await done;
  assert.equal(lead()?.aborted, true);
  assert.equal(a.isLeader(), false);
  const b = elector(c, clock, 'b');
  assert.equal(await b.tryAcquireOrRenew(), true);
});

test('a leader that cannot renew steps down after the renew deadline', async () => {
  const c = new FakeKubeClient();
  const clock = new FakeClock();
  const a = new LeaderElector({ client: c, clock, identity: 'a', logger: silentLogger(), namespace: 'kube-system', name: 'l', renewDeadlineSeconds: 4, retryPeriodSeconds: 2 });
  const ac = new AbortController();
  let leadSignal: AbortSignal | undefined;
  const done = a.run(ac.signal, (s) => {
    leadSignal = s;
  });
  await until(() => leadSignal !== undefined && clock.pending === 1, 'leading');
  // Someone else grabbed the lease (e.g. after a long GC pause): renewals now fail.
  const lease = await c.get(Resources.leases, 'l', { namespace: 'kube-system' });
  await c.update(Resources.leases, { ...lease, spec: { ...(lease.spec as object), holderIdentity: 'z' } });
  clock.advance(2_000);
  await until(() => leadSignal?.aborted === true, 'stepped down');
  ac.abort();
  await done;
});

test('a renewal that hangs is cut off at the renew deadline: the leader steps down instead of leading on', async () => {
  // an apiserver too busy to answer: the leader's requests hang while its lease runs out and another takes it
  const c = new FakeKubeClient();
  const clock = new FakeClock();
  let hang = false;
  const hung = <T>(signal: AbortSignal | undefined): Promise<T> =>
    new Promise((_, reject) => signal?.addEventListener('abort', () => reject(signal.reason), { once: true }));
  const get = c.get.bind(c);
  c.get = ((resource, name, opts) => (hang ? hung(opts?.signal) : get(resource, name, opts))) as typeof c.get;
  const update = c.update.bind(c);
  c.update = ((resource, obj, opts) => (hang ? hung(opts?.signal) : update(resource, obj, opts))) as typeof c.update;
  const { ac, done, lead } = await runUntilLeading(c, clock, 'a');
  hang = true;
  // retry period 2 s, renew deadline 10 s: the attempt from 2 s on hangs, and is cut off at 10 s
  for (let t = 0; t < 10 && !lead()?.aborted; t++) {
    clock.advance(1_000);
    await new Promise((r) => setImmediate(r));
  }
  await until(() => lead()?.aborted === true, 'a stepping down at the renew deadline');
  ac.abort();
  hang = false;
  await done;
});

test('release: a renewal landing between its read and its write (Conflict) is read over once more', async () => {
  const c = new FakeKubeClient();
  const clock = new FakeClock(Date.parse('2026-01-01T00:00:00Z'));
  const a = elector(c, clock, 'a');
  assert.equal(await a.tryAcquireOrRenew(), true);
  const read = c.get.bind(c);
  let reads = 0;
  // the first read of release sees the lease before a renewal cut by the stop lands
  c.get = (async (...args: Parameters<FakeKubeClient['get']>) => {
    const got = await read(...args);
    if (reads++ === 0) await c.update(Resources.leases, { ...got, spec: { ...(got as KubeObject & { spec: object }).spec, renewTime: '2026-01-01T00:00:01.000000Z' } } as KubeObject);
    return got;
  }) as FakeKubeClient['get'];
  await a.release();
  assert.equal(reads, 2);
  const lease = await read<KubeObject & { spec: Record<string, unknown> }>(Resources.leases, 'hedge-scheduler', { namespace: 'kube-system' });
  assert.equal(lease.spec.holderIdentity, '');
});

test("a leader renews with one write over the Lease it last wrote (client-go's fast path); another's write sends it back to a read", async () => {
  const c = new FakeKubeClient();
  const clock = new FakeClock(Date.parse('2026-01-01T00:00:00Z'));
  let gets = 0;
  let renewals = 0;
  const get = c.get.bind(c);
  c.get = ((resource, name, opts) => {
    gets++;
    return get(resource, name, opts);
  }) as typeof c.get;
  const update = c.update.bind(c);
  c.update = (async (resource, obj, opts) => {
    const out = await update(resource, obj, opts);
    renewals++;
    return out;
  }) as typeof c.update;
  const { ac, done, lead } = await runUntilLeading(c, clock, 'a');
  const read = async () => await get<KubeObject & { spec: Record<string, unknown> }>(Resources.leases, 'hedge-scheduler', { namespace: 'kube-system' });
  const acquired = await read();
  const before = gets;
  for (let i = 1; i <= 3; i++) {
    clock.advance(2_000);
    await until(() => renewals === i, `renewal ${i}`);
  }
  assert.equal(gets, before, 'renewals wrote without reading');
  const renewed = await read();
  assert.equal(renewed.spec.holderIdentity, 'a');
  assert.equal(renewed.spec.renewTime, '2026-01-01T00:00:06.000000Z');
  assert.equal(renewed.spec.acquireTime, acquired.spec.acquireTime);
  assert.equal(renewed.spec.leaseTransitions, 0);
  // someone else's write (e.g. kubectl annotating it): the next renewal's write is a Conflict, then read and renewed
  await update(Resources.leases, { ...renewed, metadata: { ...renewed.metadata, annotations: { touched: 'yes' } } });
  clock.advance(2_000);
  await until(() => renewals === 4, 'renewed after the fallback read');
  assert.equal(gets, before + 1, 'one read after the Conflict');
  assert.equal(lead()?.aborted, false, 'still leading');
  const after = await read();
  assert.equal(after.spec.holderIdentity, 'a');
  assert.equal(after.spec.renewTime, '2026-01-01T00:00:08.000000Z');
  assert.equal(after.metadata.annotations?.touched, 'yes');
  ac.abort();
  await done;
});
