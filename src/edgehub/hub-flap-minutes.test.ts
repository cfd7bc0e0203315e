/**
 * Cache consistency while the node↔cloud link flaps for minutes: random create/update/delete
 * traffic in the cloud, node-owned writes (pod and Node status, Events) through the hub, the link
 * cut, black-holed and restored with random periods. Afterwards the hub's replica equals the
 * cloud object for object (the cloud resourceVersion behind every key too), the journal is empty
 * and was delivered exactly once, and a local informer saw every change the replica made once.
 *
 * 2 minutes by default (CI); HEDGE_FLAP_SECONDS runs it longer by hand. Randomness comes from a
 * seed (HEDGE_FLAP_SEED, else a fresh one) that every failure message names.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { KubeObject } from '../api/object.ts';
import { Resources } from '../client/resources.ts';
import type { ResourceRef } from '../client/types.ts';
import { isHedgeError } from '../lib/errors.ts';
import { silentLogger } from '../lib/log.ts';
import { seededRandom } from '../lib/testing/seeded-random.ts';
import { SqliteStore } from '../store/sqlite/sqlite-store.ts';
import type { WatchEvent as StoreEvent } from '../store/types.ts';
import { nodePod, startHubRig, until } from './testing/hub-rig.ts';
import { podInformer } from './testing/local-informer.ts';

// Only tests read the environment here: how long to flap and which seed.
const SECONDS = Number(process.env.HEDGE_FLAP_SECONDS ?? 120);
const SEED = Number(process.env.HEDGE_FLAP_SEED ?? Math.floor(Math.random() * 2 ** 31));
const NODE = 'edge-flap';
const onNode = `spec.nodeName=${NODE}`;

const withoutRv = (o: KubeObject): KubeObject => {
  const { resourceVersion: _rv, ...metadata } = o.metadata;
  return { ...o, metadata };
};

describe('edgehub: a link flapping for minutes', () => {
  it(`the replica equals the cloud object for object, the journal replays exactly once, a local informer sees each change once (${SECONDS} s, seed ${SEED})`, { timeout: (SECONDS + 240) * 1_000 }, async (t) => {
    t.diagnostic(`seed ${SEED} (rerun with HEDGE_FLAP_SEED=${SEED})`);
    const rnd = seededRandom(SEED);
    const int = (lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo));
    const pick = <T>(xs: T[]): T | undefined => (xs.length ? xs[int(0, xs.length)] : undefined);
    const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
    const fail = (msg: string): string => `seed ${SEED}: ${msg}`;

    const dir = await mkdtemp(join(tmpdir(), 'edgehub-flap-'));
    await mkdir(join(dir, 'hub'), { recursive: true, mode: 0o700 });
    // the hub's real replica store (SQLite on disk), opened here so the test can watch it directly
    const replicaStore = new SqliteStore({ path: join(dir, 'hub', 'replica.db'), logger: silentLogger() });
    const r = await startHubRig({
      nodeName: NODE,
      dir,
      seed: async (admin) => {
        for (let i = 0; i < 5; i++) await admin.create(Resources.pods, nodePod(NODE, `s${i}`));
      },
      hub: { store: replicaStore, healthIntervalMs: 100, healthTimeoutMs: 500 },
      requestTimeoutMs: 30_000,
    });
    const watches = new AbortController();
    try {
      const { link, hub, local, admin } = r;
      await until('pods replicated', async () => (await local.list(Resources.pods, { fieldSelector: onNode })).items.length === 5, 20_000);
      const inf = podInformer(local, onNode, watches.signal);
      await until('informer listed', () => inf.relists === 1, 20_000);
      // every pod change the replica makes from here on, straight from its store
      const fromRev = (await replicaStore.currentRevision()) + 1;
      const replicaEvents: StoreEvent[] = [];
      void (async () => {
        try {
          for await (const ev of replicaStore.watch(hub.replica.prefix(Resources.pods, 'default'), { fromRevision: fromRev, signal: watches.signal })) {
            if (ev.type !== 'progress') replicaEvents.push(ev);
          }
        } catch {
          // ended by the abort at the end of the test
        }
      })();

      const stop = new AbortController();
      const counts = { cloudOps: 0, cloudErrors: 0, localOk: 0, localRefused: 0, flaps: 0, blackholes: 0 };

      // the cloud: creates, label patches, full updates, deletes of this node's pods; Node label changes
      const cloudSide = (async () => {
        let n = 0;
        while (!stop.signal.aborted) {
          n++;
          const names = (await admin.list(Resources.pods, { fieldSelector: onNode })).items.map((p) => p.metadata.name ?? '');
          const roll = rnd();
          try {
            if (names.length < 4 || roll < 0.2) {
              await admin.create(Resources.pods, nodePod(NODE, `c${n}`));
            } else if (roll < 0.3 && names.length > 6) {
              await admin.delete(Resources.pods, pick(names)!, { namespace: 'default', gracePeriodSeconds: 0 });
            } else if (roll < 0.65) {
              await admin.patch(Resources.pods, pick(names)!, 'merge', { metadata: { labels: { gen: String(n) } } }, { namespace: 'default' });
            } else if (roll < 0.9) {
              const cur = await admin.get(Resources.pods, pick(names)!, { namespace: 'default' });
              await admin.update(Resources.pods, { ...cur, metadata: { ...cur.metadata, annotations: { ...cur.metadata.annotations, put: String(n) } } });
            } else {
              await admin.patch(Resources.nodes, NODE, 'merge', { metadata: { labels: { cloud: String(n) } } });
            }
            counts.cloudOps++;
          } catch (err) {
            // a pod deleted or changed between our read and write
            if (!isHedgeError(err, 'NotFound') && !isHedgeError(err, 'Conflict')) throw err;
            counts.cloudErrors++;
          }
          await sleep(int(20, 80));
        }
      })();

      // the node: its pods' status, its Node's status and Events through the hub, online or not
      const sent = new Set<string>();
      const localSide = (async () => {
        let n = 0;
        while (!stop.signal.aborted) {
          n++;
          const roll = rnd();
          try {
            if (roll < 0.3) {
              await local.create(Resources.events, { metadata: { generateName: 'flap.', namespace: 'default' }, involvedObject: { kind: 'Node', name: NODE }, reason: 'Flap', message: `ev-${n}`, type: 'Normal' } as KubeObject);
              sent.add(`ev-${n}`);
            } else if (roll < 0.45) {
              await local.patch(Resources.nodes, NODE, 'merge', { status: { conditions: [{ type: 'Ready', status: 'True', reason: 'Flap', message: `node-${n}`, lastHeartbeatTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z') }] } }, { subresource: 'status' });
            } else {
              const pods = (await local.list(Resources.pods, { fieldSelector: onNode })).items;
              const target = pick(pods)?.metadata.name;
              if (target) await local.patch(Resources.pods, target, 'merge', { status: { phase: 'Running', message: `local-${n}` } }, { namespace: 'default', subresource: 'status' });
            }
            counts.localOk++;
          } catch (err) {
            // a pod the cloud deleted meanwhile; a write that met the cut before the hub knew
            assert.ok(isHedgeError(err, 'NotFound') || isHedgeError(err, 'Unavailable') || isHedgeError(err, 'Conflict'), fail(String(err)));
            counts.localRefused++;
          }
          await sleep(int(20, 80));
        }
      })();

      // the link: up for 0.2–6 s, then down (refused, or silently swallowed) for 0.1–5 s
      const end = Date.now() + SECONDS * 1_000;
      while (Date.now() < end) {
        await sleep(int(200, 6_000));
        if (rnd() < 0.3) {
          link.blackhole();
          counts.blackholes++;
        } else {
          link.cut();
        }
        counts.flaps++;
        await sleep(int(100, 5_000));
        link.restore();
      }
      stop.abort();
      await Promise.all([cloudSide, localSide]);
      await hub.waitFor('online');
      await until('journal drained', () => hub.state() === 'online' && hub.db.pendingCount() === 0, 60_000);

      // object for object: same content, and the cloud resourceVersion recorded behind each key
      const differences = async (): Promise<string[]> => {
        const out: string[] = [];
        const compare = async (res: ResourceRef, cloudItems: KubeObject[], ns: string | undefined): Promise<void> => {
          const hubItems = new Map((await hub.replica.list(res, ns)).map((o) => [o.metadata.name ?? '', o]));
          for (const c of cloudItems) {
            const name = c.metadata.name ?? '';
            const h = hubItems.get(name);
            hubItems.delete(name);
            if (!h) {
              out.push(`${res.plural}/${name} missing at the hub`);
              continue;
            }
            if (JSON.stringify(withoutRv(h)) !== JSON.stringify(withoutRv(c))) out.push(`${res.plural}/${name} differs`);
            const v = hub.db.cloudVersion(hub.replica.key(res, c.metadata.namespace ?? '', name));
            if (!v || v.cloudRv !== c.metadata.resourceVersion || v.dirty || String(v.hubRev) !== h.metadata.resourceVersion) {
              out.push(`${res.plural}/${name}: cloud rv ${c.metadata.resourceVersion}, hub records ${JSON.stringify(v)} for hub rv ${h.metadata.resourceVersion}`);
            }
          }
          for (const name of hubItems.keys()) out.push(`${res.plural}/${name} at the hub, gone from the cloud`);
        };
        await compare(Resources.pods, (await admin.list(Resources.pods, { fieldSelector: onNode })).items, 'default');
        await compare(Resources.nodes, (await admin.list(Resources.nodes)).items, undefined);
        return out;
      };
      let last: string[] = [];
      await until('the replica equals the cloud', async () => (last = await differences()).length === 0, 60_000).catch(() => assert.fail(fail(`replica ≠ cloud: ${last.slice(0, 20).join('; ')}`)));

      // the informer: what the replica holds, reached by exactly the replica's changes, each once, in order
      const replicaPods = async (): Promise<string> => JSON.stringify((await hub.replica.list(Resources.pods, 'default')).sort((a, b) => String(a.metadata.name).localeCompare(String(b.metadata.name))));
      const informerPods = (): string => JSON.stringify([...inf.objects.values()].sort((a, b) => String(a.metadata.name).localeCompare(String(b.metadata.name))));
      await until('the informer equals the replica', async () => informerPods() === (await replicaPods()), 30_000).catch(() => assert.fail(fail('informer ≠ replica')));
      const seen = inf.events.filter((e) => e.type !== 'BOOKMARK').map((e) => `${e.type === 'DELETED' ? 'delete' : 'put'} ${e.object.metadata.name} ${e.object.metadata.resourceVersion}`);
      const made = replicaEvents.map((e) => (e.type === 'progress' ? '' : `${e.type} ${e.kv.key.split('/').pop()} ${e.kv.modRevision}`));
      assert.deepEqual(seen, made, fail('the informer saw exactly the replica changes, once each, in order'));
      assert.deepEqual(inf.errors, [], fail('no watch error'));
      assert.equal(inf.relists, 1, fail('never relisted'));

      // the journal: every Event accepted by the hub reached the cloud exactly once
      const delivered = new Map<string, number>();
      for (const e of (await admin.list(Resources.events, { namespace: 'default' })).items) {
        const m = String((e as { message?: string }).message ?? '');
        if (m.startsWith('ev-')) delivered.set(m, (delivered.get(m) ?? 0) + 1);
      }
      for (const m of sent) assert.equal(delivered.get(m), 1, fail(`event ${m} delivered ${delivered.get(m) ?? 0} times`));
      for (const [m, c] of delivered) assert.equal(c, 1, fail(`event ${m} delivered ${c} times`));

      t.diagnostic(`seed ${SEED}: ${JSON.stringify(counts)}, informer events ${inf.events.length}, replica changes ${made.length}, events sent ${sent.size}, replays ${hub.stats.replays}, replayed ${hub.stats.replayed}, conflicts ${hub.stats.conflicts}`);
      assert.ok(counts.flaps >= Math.floor(SECONDS / 12) && sent.size > SECONDS / 2 && counts.cloudOps > SECONDS, fail(`enough happened: ${JSON.stringify(counts)}`));
      assert.ok(hub.stats.replayed > 0, fail('writes were journaled and replayed'));
    } finally {
      watches.abort();
      await r.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

