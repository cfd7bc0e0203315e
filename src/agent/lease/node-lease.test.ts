import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { KubeObject } from '../../api/object.ts';
import { FakeClock } from '../../client/clock.ts';
import { FakeKubeClient } from '../../client/fake-client.ts';
import { Resources } from '../../client/resources.ts';
import type { BindOptions, DeleteOptions, GetOptions, KubeClient, ListOptions, ObjectList, PatchOptions, PatchType, ResourceTarget, WatchEvent, WatchOptions, WriteOptions } from '../../client/types.ts';
import { HedgeError } from '../../lib/errors.ts';
import { silentLogger } from '../../lib/log.ts';
import { pino } from 'pino';
import { HeartbeatJournal } from './heartbeat-journal.ts';
import { NodeLease } from './node-lease.ts';

/** The cloud link as the agent sees it: every call fails as an unreachable apiserver's would while `down`. */
class LinkClient implements KubeClient {
  down = false;
  constructor(private readonly inner: KubeClient) {}
  private check(): void {
    if (this.down) throw new HedgeError('Unavailable', 'connect ECONNREFUSED 10.0.0.1:6443');
  }
  async get<T extends KubeObject = KubeObject>(res: ResourceTarget, name: string, opts?: GetOptions): Promise<T> {
    this.check();
    return this.inner.get<T>(res, name, opts);
  }
  async list<T extends KubeObject = KubeObject>(res: ResourceTarget, opts?: ListOptions): Promise<ObjectList<T>> {
    this.check();
    return this.inner.list<T>(res, opts);
  }
  watch<T extends KubeObject = KubeObject>(res: ResourceTarget, opts?: WatchOptions): AsyncIterable<WatchEvent<T>> {
    this.check();
    return this.inner.watch<T>(res, opts);
  }
  async create<T extends KubeObject = KubeObject>(res: ResourceTarget, obj: T, opts?: WriteOptions): Promise<T> {
    this.check();
    return this.inner.create<T>(res, obj, opts);
  }
  async update<T extends KubeObject = KubeObject>(res: ResourceTarget, obj: T, opts?: WriteOptions): Promise<T> {
    this.check();
    return this.inner.update<T>(res, obj, opts);
  }
  async updateStatus<T extends KubeObject = KubeObject>(res: ResourceTarget, obj: T, opts?: WriteOptions): Promise<T> {
    this.check();
    return this.inner.updateStatus<T>(res, obj, opts);
  }
  async patch<T extends KubeObject = KubeObject>(res: ResourceTarget, name: string, type: PatchType, patch: unknown, opts?: PatchOptions): Promise<T> {
    this.check();
    return this.inner.patch<T>(res, name, type, patch, opts);
  }
  async delete(res: ResourceTarget, name: string, opts?: DeleteOptions): Promise<KubeObject | undefined> {
    this.check();
    return this.inner.delete(res, name, opts);
  }
  async bind(opts: BindOptions): Promise<void> {
    this.check();
    return this.inner.bind(opts);
  }
}

/**
 * Waits for the lease loop to get somewhere. Bounded in real time, not in event-loop turns: the
 * loop does real file I/O (the heartbeat journal), which a loaded host can make outlast any number
 * of turns. The assertion carries its own message: without one, a failing `assert.ok` reads the
 * caller's source to quote it, and under tsx (a transpiled position in a .ts file) that read
 * spins for minutes on the event loop — the test's own timeout never fires (the "stall").
 */
const until = async (cond: () => boolean, what = 'the lease loop'): Promise<void> => {
  const deadline = Date.now() + 10_000;
  for (let i = 0; !cond(); i++) {
    assert.ok(Date.now() < deadline, `waited 10 s for ${what}`);
    await new Promise((r) => (i < 1_000 ? setImmediate(r) : setTimeout(r, 1)));
  }
};

describe('node lease', () => {
  it('creates the lease owned by the Node, renews every 10 s, backs off on errors', async () => {
    const client = new FakeKubeClient();
    const clock = new FakeClock();
    const lease = new NodeLease({ client, nodeName: 'n1', clock, logger: silentLogger(), nodeUid: async () => 'node-uid', random: () => 0 });
    const ac = new AbortController();
    const run = lease.run(ac.signal);
    await until(() => lease.renewals === 1 && clock.pending === 1);
    let l = (await client.get(Resources.leases, 'n1', { namespace: 'kube-node-lease' })) as KubeObject & { spec: Record<string, unknown> };
    assert.equal(l.spec.holderIdentity, 'n1');
    assert.equal(l.spec.leaseDurationSeconds, 40);
    assert.equal(l.spec.renewTime, '2026-01-01T00:00:00.000000Z');
    assert.deepEqual(l.metadata.ownerReferences, [{ apiVersion: 'v1', kind: 'Node', name: 'n1', uid: 'node-uid' }]);

    clock.advance(9_999);
    await new Promise((r) => setImmediate(r));
    assert.equal(lease.renewals, 1);
    clock.advance(1);
    await until(() => lease.renewals === 2 && clock.pending === 1);
    l = (await client.get(Resources.leases, 'n1', { namespace: 'kube-node-lease' })) as KubeObject & { spec: Record<string, unknown> };
    assert.equal(l.spec.renewTime, '2026-01-01T00:00:10.000000Z');

    client.failNext('update', new HedgeError('Unavailable', 'apiserver down'));
    clock.advance(10_000);
    await until(() => clock.pending === 1);
    assert.equal(lease.renewals, 2);
    clock.advance(7_000); // back-off is at most 7 s
    await until(() => lease.renewals === 3);
    ac.abort();
    await run;
  });

  it('waits 10 s plus up to 4 % after a renewal, at random, as the kubelet (bunched renewals spread out)', async () => {
    const client = new FakeKubeClient();
    const clock = new FakeClock();
    const draws = [0.5, 0.999];
    const lease = new NodeLease({ client, nodeName: 'n1', clock, logger: silentLogger(), nodeUid: async () => 'node-uid', random: () => draws.shift() ?? 0 });
    const ac = new AbortController();
    const run = lease.run(ac.signal);
    await until(() => lease.renewals === 1 && clock.pending === 1);
    clock.advance(10_199); // 10 s + 0.5 × 400 ms
    await new Promise((r) => setImmediate(r));
    assert.equal(lease.renewals, 1);
    clock.advance(1);
    await until(() => lease.renewals === 2 && clock.pending === 1);
    clock.advance(10_399); // 10 s + 0.999 × 400 ms, rounded
    await new Promise((r) => setImmediate(r));
    assert.equal(lease.renewals, 2);
    clock.advance(1);
    await until(() => lease.renewals === 3 && clock.pending === 1);
    ac.abort();
    await run;
  });

  it('after a renewal that took 100 ms or more, or the first after an outage, waits anywhere in 5–15 s; 10 s + 4 % otherwise', () => {
    const draws = [0, 0.999, 0.5, 0.25];
    const lease = new NodeLease({ client: new FakeKubeClient(), nodeName: 'n1', clock: new FakeClock(), logger: silentLogger(), nodeUid: async () => 'node-uid', random: () => draws.shift() ?? 0 });
    assert.equal(lease.renewDelayMs(99), 10_000, 'answered at once: the kubelet 10 s + 0 × 4 %');
    assert.equal(lease.renewDelayMs(100), 14_990, 'waited: 0.5 + 0.999 intervals');
    assert.equal(lease.renewDelayMs(0, true), 10_000, 'the first after an outage: 0.5 + 0.5 intervals');
    assert.equal(lease.renewDelayMs(0), 10_100, 'then 10 s + 0.25 × 4 % again');
    const kubelet = new NodeLease({ client: new FakeKubeClient(), nodeName: 'n1', clock: new FakeClock(), logger: silentLogger(), nodeUid: async () => 'node-uid', random: () => 0.25, spreadAfterMs: 0 });
    assert.equal(kubelet.renewDelayMs(5_000, true), 10_100, 'spreadAfterMs 0: the kubelet 4 % after every renewal');
  });

  it('times its renewals: one the apiserver answered after 2 s is followed by the spread wait, one answered at once by 10 s', async () => {
    const clock = new FakeClock();
    let updateMs = 0;
    const client = new (class extends FakeKubeClient {
      override async update<T extends KubeObject = KubeObject>(res: ResourceTarget, obj: T, opts?: WriteOptions): Promise<T> {
        if (updateMs > 0) await clock.sleep(updateMs);
        return super.update<T>(res, obj, opts);
      }
    })();
    const lease = new NodeLease({ client, nodeName: 'n1', clock, logger: silentLogger(), nodeUid: async () => 'node-uid', random: () => 0 });
    const ac = new AbortController();
    const run = lease.run(ac.signal);
    await until(() => lease.renewals === 1 && clock.pending === 1); // created (no update): 10 s
    updateMs = 2_000;
    clock.advance(10_000);
    await until(() => clock.pending === 1 && lease.renewals === 1, 'the renewal in flight');
    clock.advance(2_000); // the apiserver answers after 2 s
    await until(() => lease.renewals === 2 && clock.pending === 1);
    updateMs = 0;
    clock.advance(4_999); // waited: 0.5 + 0 intervals
    await new Promise((r) => setImmediate(r));
    assert.equal(lease.renewals, 2);
    clock.advance(1);
    await until(() => lease.renewals === 3 && clock.pending === 1);
    clock.advance(9_999); // answered at once: 10 s again
    await new Promise((r) => setImmediate(r));
    assert.equal(lease.renewals, 3);
    clock.advance(1);
    await until(() => lease.renewals === 4);
    ac.abort();
    await run;
  });

  it('renews with one PUT on the lease it last wrote; re-reads only when someone else wrote it', async () => {
    const client = new FakeKubeClient();
    const clock = new FakeClock();
    const lease = new NodeLease({ client, nodeName: 'n1', clock, logger: silentLogger(), nodeUid: async () => 'node-uid', random: () => 0 });
    const ac = new AbortController();
    const run = lease.run(ac.signal);
    await until(() => lease.renewals === 1 && clock.pending === 1);
    const leaseCalls = (): string[] => client.calls.filter((c) => c.plural === 'leases').map((c) => c.verb);
    const before = leaseCalls().length;
    for (let i = 2; i <= 4; i++) {
      clock.advance(10_000);
      await until(() => lease.renewals === i && clock.pending === 1);
    }
    assert.deepEqual(leaseCalls().slice(before), ['update', 'update', 'update'], 'steady state: no GET');
    // another writer (e.g. an admin) changes the lease: the cached resourceVersion is stale
    const cur = (await client.get(Resources.leases, 'n1', { namespace: 'kube-node-lease' })) as KubeObject & { spec: Record<string, unknown> };
    await client.update(Resources.leases, { ...cur, metadata: { ...cur.metadata, labels: { touched: 'yes' } } });
    const mark = leaseCalls().length;
    clock.advance(10_000);
    await until(() => lease.renewals === 5 && clock.pending === 1);
    assert.deepEqual(leaseCalls().slice(mark), ['update', 'get', 'update'], 'Conflict → GET → PUT');
    const l = (await client.get(Resources.leases, 'n1', { namespace: 'kube-node-lease' })) as KubeObject & { spec: Record<string, unknown> };
    assert.equal(l.metadata.labels?.touched, 'yes', 'the other writer\'s change is kept');
    assert.equal(l.spec.renewTime, '2026-01-01T00:00:40.000000Z');
    ac.abort();
    await run;
  });
});

describe('node lease while the cloud is unreachable', () => {
  const annotation = async (client: FakeKubeClient): Promise<unknown> => {
    const n = await client.get(Resources.nodes, 'n1');
    const v = n.metadata.annotations?.['hedge.io/offline-heartbeats'];
    return v === undefined ? undefined : JSON.parse(v);
  };
  /** move the clock in 1 s steps, letting the lease loop run (and park again) after each */
  const run = async (clock: FakeClock, ms: number): Promise<void> => {
    for (let left = ms; left > 0; left -= 1_000) {
      clock.advance(Math.min(1_000, left));
      await until(() => clock.pending === 1);
      // journal writes are real file I/O: give them a few turns of the event loop
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
      await until(() => clock.pending === 1);
    }
  };

  it('journals one heartbeat per interval (not per retry), survives an agent restart, reports on reconnect', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'hedge-lease-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const journalPath = join(dir, 'lease', 'offline-heartbeats.json');
    const fake = new FakeKubeClient();
    await fake.create(Resources.nodes, { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' } });
    const link = new LinkClient(fake);
    const clock = new FakeClock();
    let reconnects = 0;
    const start = (): { lease: NodeLease; stop: () => Promise<void> } => {
      const lease = new NodeLease({
        client: link,
        nodeName: 'n1',
        clock,
        logger: silentLogger(),
        nodeUid: async () => 'uid',
        journalPath,
        random: () => 0,
        onReconnect: async () => {
          reconnects++;
        },
      });
      const ac = new AbortController();
      const done = lease.run(ac.signal);
      return { lease, stop: async () => { ac.abort(); await done; } };
    };

    let a = start();
    await until(() => a.lease.renewals === 1 && clock.pending === 1);
    assert.equal(a.lease.journal?.pending, undefined, 'nothing journaled while online');

    link.down = true;
    await run(clock, 35_000);
    // failures at t=10 s, 20 s, 30 s journal; the back-off retries in between do not
    assert.equal(a.lease.offline, true);
    assert.deepEqual(a.lease.journal?.pending, { count: 3, firstMs: clock.now() - 25_000, lastMs: clock.now() - 5_000 });
    assert.equal(a.lease.renewals, 1);

    // the agent restarts while still offline: the journal is on disk and the count goes on
    await a.stop();
    a = start();
    await until(() => clock.pending === 1 && a.lease.journal !== undefined);
    await run(clock, 20_000);
    assert.equal(a.lease.journal?.pending?.count, 5);
    assert.equal(await annotation(fake), undefined, 'nothing reached the cloud');

    link.down = false;
    const callsBefore = fake.calls.length;
    await run(clock, 10_000);
    const sequence = fake.calls.slice(callsBefore).map((c) => `${c.verb} ${c.plural}`);
    // the evidence goes out before the renewal that ends the partition
    assert.deepEqual(sequence.slice(0, 3), ['patch nodes', 'get leases', 'update leases']);
    assert.ok(a.lease.renewals >= 1, `renewals after the link came back: ${a.lease.renewals}`);
    assert.equal(a.lease.offline, false);
    assert.equal(a.lease.reports, 1);
    assert.equal(reconnects, 1, 'reconnect hook once');
    const reported = (await annotation(fake)) as { count: number; first: string; last: string };
    assert.equal(reported.count, 5);
    assert.equal(reported.first, '2026-01-01T00:00:10Z');
    assert.equal(a.lease.journal?.pending, undefined, 'delivered heartbeats are forgotten');
    assert.equal((await HeartbeatJournal.open(journalPath)).pending, undefined);

    // renewals go on; nothing more is reported while online
    await run(clock, 30_000);
    assert.equal(a.lease.reports, 1);
    assert.equal(reconnects, 1);
    await a.stop();
  });

  it('logs an outage once each way: one warning (no stack) when renewals start failing, one info when one succeeds again', { timeout: 30_000 }, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'hedge-lease-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const lines: Record<string, unknown>[] = [];
    // pino writes each line synchronously to an object with write()
    const sink = { write: (line: string): void => void lines.push(JSON.parse(line) as Record<string, unknown>) };
    const fake = new FakeKubeClient();
    await fake.create(Resources.nodes, { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' } });
    const link = new LinkClient(fake);
    const clock = new FakeClock();
    const lease = new NodeLease({ client: link, nodeName: 'n1', clock, logger: pino({ level: 'info' }, sink), nodeUid: async () => 'uid', journalPath: join(dir, 'hb.json'), random: () => 0 });
    const ac = new AbortController();
    const done = lease.run(ac.signal);
    await until(() => lease.renewals === 1 && clock.pending === 1);
    const atLeast = (level: number): Record<string, unknown>[] => lines.filter((l) => Number(l.level) >= level);

    link.down = true;
    await run(clock, 45_000);
    const warns = atLeast(40);
    assert.equal(warns.length, 1, `one warning for the whole outage, got ${JSON.stringify(warns)}`);
    assert.match(String(warns[0]!.msg), /node lease renewal failed/);
    assert.equal(warns[0]!.reason, 'connect ECONNREFUSED 10.0.0.1:6443');
    assert.equal(warns[0]!.err, undefined, 'no error object (stack trace) in the line');

    link.down = false;
    await run(clock, 10_000);
    const back = lines.filter((l) => l.msg === 'node lease renewed again after failures');
    assert.equal(back.length, 1);
    assert.equal(back[0]!.level, 30);
    assert.ok(Number(back[0]!.failedRenewals) >= 5, `failures counted: ${JSON.stringify(back[0])}`);
    // from the first failed renewal (t = 10 s) to the first that succeeds once the link is back at
    // t = 45 s: the back-off is jittered, so that retry comes up to 7 s (its cap) later, in 1 s steps
    const outageMs = Number(back[0]!.outageMs);
    assert.ok(outageMs >= 35_000 && outageMs <= 44_000, `outage length: ${JSON.stringify(back[0])}`);
    assert.equal(atLeast(40).length, 1, 'nothing more to warn about once back');

    // a second outage warns again
    link.down = true;
    await run(clock, 15_000);
    assert.equal(atLeast(40).length, 2);
    ac.abort();
    await done;
  });

  it('a report that fails (Node not registered yet) keeps the journal for the next renewal', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'hedge-lease-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const journalPath = join(dir, 'hb.json');
    const pre = await HeartbeatJournal.open(journalPath);
    await pre.record(Date.parse('2025-12-31T23:59:00Z'));
    const fake = new FakeKubeClient();
    const clock = new FakeClock();
    const lease = new NodeLease({ client: fake, nodeName: 'n1', clock, logger: silentLogger(), nodeUid: async () => undefined, journalPath, random: () => 0 });
    const ac = new AbortController();
    const done = lease.run(ac.signal);
    await until(() => lease.renewals === 1 && clock.pending === 1);
    assert.equal(lease.reports, 0);
    assert.equal(lease.journal?.pending?.count, 1);
    await fake.create(Resources.nodes, { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' } });
    await run(clock, 10_000);
    assert.equal(lease.reports, 1);
    assert.equal(((await annotation(fake)) as { count: number }).count, 1);
    assert.equal(lease.journal?.pending, undefined);
    ac.abort();
    await done;
  });
});
