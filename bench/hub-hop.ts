/**
 * The edgehub's own hop on a pod's start path, in-process against a real hedge apiserver (SQLite
 * store on disk) through a loopback link, the hub's replica and hub.db on disk too (the node's
 * layout, no test seams):
 *   (a) a cloud write (a status PATCH straight to the cloud, as the binding is) → the event on a
 *       local watch through the hub (what the agent's informer sees);
 *   (b) a local status PATCH through the hub (the agent's status write): → its answer, and → the
 *       cloud's watch seeing it.
 * One pod, one change at a time. Prints a markdown table; asserts nothing.
 * Run: node --import tsx bench/hub-hop.ts [samples=200]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeObject } from '../src/api/object.ts';
import { Resources } from '../src/client/resources.ts';
import type { KubeClient } from '../src/client/types.ts';
import { nodePod, startHubRig } from '../src/edgehub/testing/hub-rig.ts';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';

const SAMPLES = Number(process.argv[2] ?? 200);
const NODE = 'bench-edge';

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

/** the time (performance.now()) each status message is first seen on a watch of the node's pods */
function watchSeen(client: KubeClient, signal: AbortSignal): Map<string, number> {
  const seen = new Map<string, number>();
  void (async () => {
    try {
      for await (const ev of client.watch(Resources.pods, { namespace: 'default', fieldSelector: `spec.nodeName=${NODE}`, signal })) {
        const msg = (ev.object as KubeObject & { status?: { message?: string } }).status?.message;
        if (msg && !seen.has(msg)) seen.set(msg, performance.now());
      }
    } catch {
      // aborted
    }
  })();
  return seen;
}

async function waitFor(seen: Map<string, number>, msg: string): Promise<number> {
  for (;;) {
    const t = seen.get(msg);
    if (t !== undefined) return t;
    await new Promise((r) => setImmediate(r));
  }
}

const dir = await mkdtemp(join(tmpdir(), 'hub-hop-'));
const cloudStore = new SqliteStore({ path: join(dir, 'cloud.db'), compactIntervalMs: 0 });
const rig = await startHubRig({ nodeName: NODE, dir, cloudStore, seed: async (a) => void (await a.create(Resources.pods, nodePod(NODE, 'p1'))) });
const ac = new AbortController();
const local = watchSeen(rig.local, ac.signal);
const cloud = watchSeen(rig.admin, ac.signal);
const status = (msg: string) => ({ status: { message: msg } });
const a: number[] = [];
const bAnswer: number[] = [];
const bCloud: number[] = [];
try {
  for (let i = 0; i < SAMPLES + 20; i++) {
    const m1 = `a${i}`;
    await rig.admin.patch(Resources.pods, 'p1', 'merge', status(m1), { namespace: 'default', subresource: 'status' });
    const t1 = performance.now();
    const tl = await waitFor(local, m1);
    const m2 = `b${i}`;
    const t2 = performance.now();
    await rig.local.patch(Resources.pods, 'p1', 'merge', status(m2), { namespace: 'default', subresource: 'status' });
    const t3 = performance.now();
    const tc = await waitFor(cloud, m2);
    await waitFor(local, m2);
    if (i < 20) continue;
    a.push(tl - t1);
    bAnswer.push(t3 - t2);
    bCloud.push(tc - t2);
  }
} finally {
  ac.abort();
  await rig.close();
  await cloudStore.close();
  await rm(dir, { recursive: true, force: true });
}
console.log(`\n#### edgehub hop (${SAMPLES} samples, load ${(await import('node:os')).loadavg()[0]!.toFixed(1)})\n`);
console.log('| span | p50 ms | p90 ms | p99 ms |\n| --- | --- | --- | --- |');
for (const [name, xs] of [
  ['(a) cloud PATCH answered → event on a local watch through the hub', a],
  ['(b) local status PATCH through the hub → its answer', bAnswer],
  ['(b) local status PATCH through the hub → seen on the cloud watch', bCloud],
] as const) {
  console.log(`| ${name} | ${pct(xs, 50).toFixed(2)} | ${pct(xs, 90).toFixed(2)} | ${pct(xs, 99).toFixed(2)} |`);
}
