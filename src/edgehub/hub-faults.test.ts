import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import type { KubeObject } from '../api/object.ts';
import { startTestServer, testToken } from '../apiserver/testing/test-server.ts';
import { HttpKubeClient } from '../client/http-client.ts';
import { Resources } from '../client/resources.ts';
import type { KubeClient } from '../client/types.ts';
import { isHedgeError } from '../lib/errors.ts';
import { silentLogger } from '../lib/log.ts';
import type { Store } from '../store/index.ts';
import { MemoryStore } from '../store/index.ts';
import { SqliteStore } from '../store/sqlite/sqlite-store.ts';
import { nodePod, startHubRig, until as untilWithin, type HubRig } from './testing/hub-rig.ts';
import { podInformer, type LocalInformer } from './testing/local-informer.ts';

const NODE = 'edge-f';
const onNode = `spec.nodeName=${NODE}`;
/** faults take longer to settle: 20 s unless told */
const until = (what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> => untilWithin(what, cond, timeoutMs);

// p1 uses ConfigMap cfg: offline the hub serves a cached object only while a pod of the node references it
const pod = (name: string): KubeObject => nodePod(NODE, name, name === 'p1' ? { volumes: [{ name: 'cfg', configMap: { name: 'cfg' } }] } : {});

const event = (message: string): KubeObject =>
  ({
    metadata: { generateName: 'local.', namespace: 'default' },
    involvedObject: { kind: 'Node', name: NODE },
    reason: 'Test',
    message,
    type: 'Normal',
  }) as KubeObject;

const informer = (client: KubeClient, signal: AbortSignal): LocalInformer => podInformer(client, onNode, signal);

/** what must agree between the cloud and the hub, per pod */
const view = (items: KubeObject[]): Record<string, unknown> =>
  Object.fromEntries(items.map((p) => [p.metadata.name ?? '', { uid: p.metadata.uid, labels: p.metadata.labels ?? {}, spec: p.spec, status: p.status ?? {} }]).sort(([a], [b]) => String(a).localeCompare(String(b))));

type Rig = HubRig & { cloudStore: Store; dir: string };

async function rig(cloudStore: Store, dir: string): Promise<Rig> {
  const r = await startHubRig({
    nodeName: NODE,
    dir,
    cloudStore,
    seed: async (admin) => {
      for (const n of ['p1', 'p2']) await admin.create(Resources.pods, pod(n));
      await admin.create(Resources.configmaps, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'default' }, data: { a: '1' } });
    },
    hub: { store: new MemoryStore(), healthIntervalMs: 100, healthTimeoutMs: 500 },
    requestTimeoutMs: 30_000,
  });
  await until('pods replicated', async () => (await r.local.list(Resources.pods, { fieldSelector: onNode })).items.length === 2);
  return { ...r, cloudStore, dir };
}

async function timed<T>(p: Promise<T>): Promise<{ ms: number; value?: T; error?: unknown }> {
  const t0 = performance.now();
  try {
    const value = await p;
    return { ms: performance.now() - t0, value };
  } catch (error) {
    return { ms: performance.now() - t0, error };
  }
}

const messages = async (admin: KubeClient): Promise<Map<string, number>> => {
  const counts = new Map<string, number>();
  for (const e of (await admin.list(Resources.events, { namespace: 'default' })).items) {
    const m = String((e as { message?: string }).message ?? '');
    counts.set(m, (counts.get(m) ?? 0) + 1);
  }
  return counts;
};

describe('edgehub faults', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let watches = new AbortController();
  afterEach(async () => {
    // informers first: a client does not close while its watch is open
    watches.abort();
    watches = new AbortController();
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  });

  async function standard(store: Store): Promise<Rig> {
    const dir = await mkdtemp(join(tmpdir(), 'edgehub-faults-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const r = await rig(store, dir);
    cleanups.push(() => r.close());
    return r;
  }

  it('a cloud that accepts TCP but never answers: detected, requests in flight end, reads from the cache, writes journaled', { timeout: 120_000 }, async () => {
    const r = await standard(new MemoryStore());
    const { link, hub, local, admin } = r;
    await local.get(Resources.configmaps, 'cfg', { namespace: 'default' }); // cached by name
    const inf = informer(local, watches.signal);
    await until('informer listed', () => inf.relists === 1);

    const t0 = performance.now();
    link.blackhole();
    // sent before the hub can know: each goes to the swallowing link and must still end, fast
    const [byName, ev, passthrough] = await Promise.all([
      timed(local.get(Resources.configmaps, 'cfg', { namespace: 'default' })),
      timed(local.create(Resources.events, event('while-blackholed'))),
      timed(local.list(Resources.configmaps, { namespace: 'default' })),
    ]);
    await hub.waitFor('offline');
    const detectedMs = performance.now() - t0;
    assert.ok(detectedMs < 2_000, `loss detected in ${detectedMs.toFixed(0)} ms`);
    // the probe times out after 500 ms every 100 ms: nothing waits for a 10 s request timeout
    for (const [what, t] of Object.entries({ byName, ev, passthrough })) assert.ok(t.ms < 3_000, `${what} took ${t.ms.toFixed(0)} ms`);
    assert.deepEqual(byName.value?.data, { a: '1' }, 'a get by name falls back to the cache');
    assert.ok(ev.value?.metadata.name?.startsWith('local.'), `event journaled: ${String(ev.error)}`);
    assert.ok(isHedgeError(passthrough.error, 'Unavailable'), `a pass-through read is a 503: ${String(passthrough.error)}`);

    // offline: reads from the replica with bounded latency, node writes journaled
    const lat: number[] = [];
    for (let i = 0; i < 50; i++) {
      const t = performance.now();
      await local.get(Resources.pods, 'p1', { namespace: 'default' });
      lat.push(performance.now() - t);
    }
    lat.sort((a, b) => a - b);
    assert.ok(lat[lat.length - 1]! < 1_000, `slowest offline get ${lat[lat.length - 1]!.toFixed(1)} ms`);
    await local.patch(Resources.pods, 'p1', 'merge', { status: { phase: 'Running' } }, { namespace: 'default', subresource: 'status' });
    assert.ok(hub.db.pendingCount() >= 2);
    // (how many are open at this instant depends on the probe's timing; that some were swallowed does not)
    assert.ok(link.swallowed > 0, 'the black hole really swallowed connections');

    link.restore();
    await hub.waitFor('online');
    assert.equal(hub.db.pendingCount(), 0);
    assert.equal(((await admin.get(Resources.pods, 'p1', { namespace: 'default' })).status as { phase?: string }).phase, 'Running');
    assert.equal((await messages(admin)).get('while-blackholed'), 1, 'the event reached the cloud once');
    await until('informer saw the status', () => (inf.objects.get('p1')?.status as { phase?: string } | undefined)?.phase === 'Running');
    assert.deepEqual(inf.errors, []);
    assert.equal(inf.relists, 1);
  });

  it('a cloud restart with its history compacted: journal replayed, 410 relist, local watchers see each change once', { timeout: 120_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'edgehub-restart-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const dbPath = join(dir, 'cloud.db');
    const r = await standard(new SqliteStore({ path: dbPath, logger: silentLogger() }));
    const { link, hub, local } = r;
    const inf = informer(local, watches.signal);
    await until('informer listed', () => inf.relists === 1);

    await r.cloud.close(); // server and store: the cloud process is gone
    await hub.waitFor('offline');
    await local.patch(Resources.pods, 'p1', 'merge', { status: { phase: 'Failed', message: 'offline' } }, { namespace: 'default', subresource: 'status' });
    await local.create(Resources.events, event('during-restart'));
    assert.equal(hub.db.pendingCount(), 2);

    // the cloud comes back elsewhere from its disk; meanwhile others changed things and compacted
    const store2 = new SqliteStore({ path: dbPath, logger: silentLogger() });
    const cloud2 = await startTestServer({ store: store2 });
    cleanups.push(() => cloud2.close());
    const admin2 = new HttpKubeClient({ server: cloud2.url, token: testToken });
    cleanups.push(() => admin2.close());
    await admin2.delete(Resources.pods, 'p2', { namespace: 'default', gracePeriodSeconds: 0 });
    await admin2.create(Resources.pods, pod('p3'));
    await admin2.patch(Resources.pods, 'p1', 'merge', { metadata: { labels: { touched: 'cloud' } } }, { namespace: 'default' });
    await store2.compact(await store2.currentRevision());
    const u = new URL(cloud2.url);
    link.retarget({ host: u.hostname, port: Number(u.port) });

    await hub.waitFor('online');
    assert.equal(hub.db.pendingCount(), 0);
    const p1 = await admin2.get(Resources.pods, 'p1', { namespace: 'default' });
    const st = p1.status as { phase?: string; message?: string } | undefined;
    assert.deepEqual([st?.phase, st?.message], ['Failed', 'offline'], 'the node-owned status was re-applied');
    assert.equal(p1.metadata.labels?.touched, 'cloud', 'the cloud-owned label was kept');
    const counts = await messages(admin2);
    assert.equal(counts.get('during-restart'), 1);
    assert.ok([...counts.keys()].some((m) => m.includes('changed in the cloud')), 'the conflict is reported as an Event');

    const cloudView = async (): Promise<Record<string, unknown>> => view((await admin2.list(Resources.pods, { fieldSelector: onNode })).items);
    await until('the replica equals the cloud', async () => JSON.stringify(view((await local.list(Resources.pods, { fieldSelector: onNode })).items)) === JSON.stringify(await cloudView()));
    await until('the informer equals the cloud', async () => JSON.stringify(view([...inf.objects.values()])) === JSON.stringify(await cloudView()));
    const seen = inf.events.map((e) => `${e.type} ${e.object.metadata.name}`);
    assert.equal(seen.filter((s) => s === 'DELETED p2').length, 1, seen.join(', '));
    assert.equal(seen.filter((s) => s === 'ADDED p3').length, 1, seen.join(', '));
    const rvs = inf.events.map((e) => Number(e.object.metadata.resourceVersion));
    assert.deepEqual(rvs, [...rvs].sort((a, b) => a - b), 'in order');
    assert.equal(new Set(rvs).size, rvs.length, 'no event twice');
    assert.deepEqual(inf.errors, [], 'the hub hid the cloud 410: its own history is intact');
    assert.equal(inf.relists, 1, 'no relist of the local informer');
  });

  it('a flapping link with writes on both sides: the replica converges, the journal replays exactly once', { timeout: 180_000 }, async (t) => {
    const r = await standard(new MemoryStore());
    const { link, hub, local, admin } = r;
    const inf = informer(local, watches.signal);
    await until('informer listed', () => inf.relists === 1);
    const stop = new AbortController();
    const pace = (): Promise<void> => new Promise((res) => setTimeout(res, randomInt(10, 40)));

    // the cloud: creates, label changes and deletes of this node's pods (never reusing a name)
    const cloudLabels = new Map<string, string>([['p1', ''], ['p2', '']]);
    const cloudSide = (async () => {
      let n = 0;
      while (!stop.signal.aborted) {
        n++;
        const names = [...cloudLabels.keys()];
        const op = names.length < 3 ? 0 : randomInt(0, 6);
        if (op === 0) {
          await admin.create(Resources.pods, pod(`c${n}`));
          cloudLabels.set(`c${n}`, '');
        } else if (op === 5) {
          const victim = names[randomInt(0, names.length)]!;
          await admin.delete(Resources.pods, victim, { namespace: 'default', gracePeriodSeconds: 0 });
          cloudLabels.delete(victim);
        } else {
          const target = names[randomInt(0, names.length)]!;
          await admin.patch(Resources.pods, target, 'merge', { metadata: { labels: { gen: String(n) } } }, { namespace: 'default' });
          cloudLabels.set(target, String(n));
        }
        await pace();
      }
    })();

    // the node: status patches and Events through the hub, online or not
    const accepted = new Set<string>();
    const lastStatus = new Map<string, string>();
    let localErrors = 0;
    const localSide = (async () => {
      let n = 0;
      while (!stop.signal.aborted) {
        n++;
        try {
          if (n % 3 === 0) {
            await local.create(Resources.events, event(`local-${n}`));
            accepted.add(`local-${n}`);
          } else {
            const pods = (await local.list(Resources.pods, { fieldSelector: onNode })).items;
            const target = pods[randomInt(0, pods.length)]?.metadata.name;
            if (target) {
              await local.patch(Resources.pods, target, 'merge', { status: { message: `local-${n}` } }, { namespace: 'default', subresource: 'status' });
              lastStatus.set(target, `local-${n}`);
            }
          }
        } catch (err) {
          // a pod the cloud deleted meanwhile, or an online write that met the cut: the node retries later
          localErrors++;
          assert.ok(isHedgeError(err, 'NotFound') || isHedgeError(err, 'Unavailable') || isHedgeError(err, 'Conflict'), String(err));
        }
        await pace();
      }
    })();

    // the link: up and down every few hundred ms, by refusal or by silence
    let flaps = 0;
    const until8s = Date.now() + 8_000;
    while (Date.now() < until8s) {
      await new Promise((res) => setTimeout(res, randomInt(100, 400)));
      if (randomInt(0, 3) === 0) link.blackhole();
      else link.cut();
      flaps++;
      await new Promise((res) => setTimeout(res, randomInt(100, 400)));
      link.restore();
    }
    stop.abort();
    await Promise.all([cloudSide, localSide]);
    await hub.waitFor('online');
    await until('journal drained', () => hub.state() === 'online' && hub.db.pendingCount() === 0, 30_000);

    const cloudView = async (): Promise<Record<string, unknown>> => view((await admin.list(Resources.pods, { fieldSelector: onNode })).items);
    await until('the replica equals the cloud', async () => JSON.stringify(view((await local.list(Resources.pods, { fieldSelector: onNode })).items)) === JSON.stringify(await cloudView()), 30_000);
    await until('the informer equals the cloud', async () => JSON.stringify(view([...inf.objects.values()])) === JSON.stringify(await cloudView()), 30_000);

    // conflicts resolved as documented: the cloud's labels kept, the node's last status re-applied
    const finalPods = (await admin.list(Resources.pods, { fieldSelector: onNode })).items;
    assert.deepEqual(Object.fromEntries(finalPods.map((p) => [p.metadata.name, p.metadata.labels?.gen ?? ''])), Object.fromEntries([...cloudLabels].sort(([a], [b]) => a.localeCompare(b))));
    for (const p of finalPods) {
      const want = lastStatus.get(p.metadata.name ?? '');
      if (want) assert.equal((p.status as { message?: string } | undefined)?.message, want, `status of ${p.metadata.name}`);
    }
    // exactly once: every accepted Event is in the cloud once, and nothing is there twice
    const counts = await messages(admin);
    for (const m of accepted) assert.equal(counts.get(m), 1, `event ${m}`);
    for (const [m, c] of counts) if (m.startsWith('local-')) assert.equal(c, 1, `event ${m} delivered ${c} times`);
    // the local informer: every change once, in order, and never a relist
    const rvs = inf.events.map((e) => Number(e.object.metadata.resourceVersion));
    assert.deepEqual(rvs, [...rvs].sort((a, b) => a - b), 'in order');
    assert.equal(new Set(rvs).size, rvs.length, 'no event twice');
    assert.deepEqual(inf.errors, []);
    assert.equal(inf.relists, 1);
    t.diagnostic(`flaps ${flaps}, cloud pods ${finalPods.length}, local events ${accepted.size}, informer events ${inf.events.length}, local errors ${localErrors}, replays ${hub.stats.replays}, replayed ${hub.stats.replayed}, conflicts ${hub.stats.conflicts}`);
    assert.ok(flaps >= 10 && accepted.size > 10, `flaps ${flaps}, events ${accepted.size}, local errors ${localErrors}, replays ${hub.stats.replays}, conflicts ${hub.stats.conflicts}`);
  });
});
