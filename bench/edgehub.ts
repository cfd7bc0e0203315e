/**
 * The edgehub, measured in-process against a real hedge apiserver (SQLite store) reached through
 * a cuttable loopback TCP link (src/edgehub/testing/tcp-link.ts):
 *   - get/list latency at the hub (p50/p99): online, offline, and the same reads sent straight to
 *     the cloud apiserver (the real peer);
 *   - failover detection: link cut → hub state `offline`;
 *   - reconnect catch-up: 1,000 pods changed in the cloud while cut → all 1,000 in the replica,
 *     with the watch resumable and after compaction (410 → relist + reconcile);
 *   - hub RSS delta (the hub runs inside `hedge node`; bench/agent-rss.ts measures the whole process).
 * Reboot-offline time to all pods running, per runtime (runc, gVisor, microVM with its
 * accelerator) against OpenYurt's 49.9 s, with the start-up phase breakdown: bench/reboot-offline.ts
 * (real netns + nftables partition); test/e2e/edgehub-offline.test.ts asserts the 10 s bound.
 * Prints markdown tables; asserts nothing.
 * Run: node --import tsx bench/edgehub.ts [pods=200] [samples=500]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeObject } from '../src/api/object.ts';
import type { HttpKubeClient } from '../src/client/http-client.ts';
import { Resources } from '../src/client/resources.ts';
import { nodePod, startHubRig, until as untilWithin } from '../src/edgehub/testing/hub-rig.ts';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';

const PODS = Number(process.argv[2] ?? 200);
const SAMPLES = Number(process.argv[3] ?? 500);
const CHANGED = 1_000;
const NODE = 'bench-edge';

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};
const ms = (x: number): string => x.toFixed(2);
async function time(n: number, fn: () => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < Math.min(20, n); i++) await fn();
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    out.push(performance.now() - t);
  }
  return out;
}
/** fine-grained polling: the catch-up times below are measured with it */
const until = (what: string, cond: () => boolean | Promise<boolean>): Promise<void> => untilWithin(what, cond, 120_000, 5);
const rssMiB = (): number => process.memoryUsage().rss / 1024 / 1024;

const dir = await mkdtemp(join(tmpdir(), 'bench-edgehub-'));
const cloudStore = new SqliteStore({ path: join(dir, 'cloud.db') });
let rssBefore = 0;
const rig = await startHubRig({
  nodeName: NODE,
  dir,
  cloudStore,
  seed: async (admin) => {
    // p0 uses ConfigMap cfg: offline the hub serves a cached object only while a pod of the node references it
    const cfgVolume = { volumes: [{ name: 'cfg', configMap: { name: 'cfg' } }] };
    for (let i = 0; i < PODS; i++) await admin.create(Resources.pods, nodePod(NODE, `p${i}`, i === 0 ? cfgVolume : {}, { app: 'bench' }));
    await admin.create(Resources.configmaps, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'default' }, data: { a: '1' } });
    global.gc?.();
    rssBefore = rssMiB();
  },
});
const { link, hub, local, admin } = rig;
await until('pods replicated', async () => (await local.list(Resources.pods, { fieldSelector: `spec.nodeName=${NODE}` })).items.length === PODS);

const reads = {
  'get pod': (c: HttpKubeClient) => () => c.get(Resources.pods, 'p7', { namespace: 'default' }),
  [`list ${PODS} pods (spec.nodeName)`]: (c: HttpKubeClient) => () => c.list(Resources.pods, { fieldSelector: `spec.nodeName=${NODE}` }),
  'get configmap (by name)': (c: HttpKubeClient) => () => c.get(Resources.configmaps, 'cfg', { namespace: 'default' }),
};
const rows: string[] = [];
const results: Record<string, { cloud: number[]; online: number[]; offline: number[] }> = {};
for (const [name, mk] of Object.entries(reads)) {
  results[name] = { cloud: await time(SAMPLES, mk(admin)), online: await time(SAMPLES, mk(local)), offline: [] };
}
link.cut();
const cutAt = performance.now();
await hub.waitFor('offline');
const firstDetect = performance.now() - cutAt;
for (const [name, mk] of Object.entries(reads)) results[name]!.offline = await time(SAMPLES, mk(local));
for (const [name, r] of Object.entries(results)) {
  rows.push(`| ${name} | ${ms(pct(r.cloud, 50))} / ${ms(pct(r.cloud, 99))} | ${ms(pct(r.online, 50))} / ${ms(pct(r.online, 99))} | ${ms(pct(r.offline, 50))} / ${ms(pct(r.offline, 99))} | ${(pct(r.offline, 50) / pct(r.cloud, 50)).toFixed(2)} |`);
}
console.log(`\n### edgehub reads (ms, p50 / p99; ${SAMPLES} samples; HTTPS at the hub, plain HTTP to the cloud apiserver)\n`);
console.log('| read | cloud apiserver direct | hub online | hub offline | offline/direct p50 |');
console.log('| --- | --- | --- | --- | --- |');
for (const r of rows) console.log(r);

// failover detection, repeated
const detections = [firstDetect];
for (let i = 0; i < 4; i++) {
  link.restore();
  await hub.waitFor('online');
  await new Promise((r) => setTimeout(r, 300 + Math.random() * 500));
  link.cut();
  const t = performance.now();
  await hub.waitFor('offline');
  detections.push(performance.now() - t);
}

// reconnect catch-up: 1,000 changed objects, watch resumable vs compacted (410)
const catchUp: Record<string, number> = {};
for (const mode of ['watch resumes', 'compacted: 410, relist + reconcile'] as const) {
  const tag = mode.startsWith('watch') ? 'r' : 'c';
  for (let i = 0; i < CHANGED; i++) {
    const name = `p${i % PODS}`;
    if (i < PODS) await admin.patch(Resources.pods, name, 'merge', { metadata: { labels: { round: `${tag}${i}` } } }, { namespace: 'default' });
    else await admin.create(Resources.pods, nodePod(NODE, `x${tag}${i}`));
  }
  if (tag === 'c') await cloudStore.compact(await cloudStore.currentRevision());
  const expectItems = (await admin.list(Resources.pods, { fieldSelector: `spec.nodeName=${NODE}` })).items.length;
  const t = performance.now();
  link.restore();
  await until('caught up', async () => {
    const items = (await local.list(Resources.pods, { fieldSelector: `spec.nodeName=${NODE}` })).items;
    return items.length === expectItems && items.filter((p: KubeObject) => p.metadata.labels?.round?.startsWith(tag)).length === Math.min(PODS, CHANGED);
  });
  catchUp[mode] = performance.now() - t;
  link.cut();
  await hub.waitFor('offline');
}
global.gc?.();
const rssHub = rssMiB() - rssBefore;

console.log('\n### edgehub failover and catch-up\n');
console.log('| measure | value |');
console.log('| --- | --- |');
console.log(`| link cut → hub offline (median of ${detections.length}; probe 500 ms, timeout 1 s) | ${ms(pct(detections, 50))} ms (max ${ms(Math.max(...detections))}) |`);
for (const [mode, t] of Object.entries(catchUp)) console.log(`| reconnect catch-up, ${CHANGED} changed pods, ${mode} | ${ms(t)} ms (incl. health probe up to 500 ms) |`);
console.log(`| process RSS growth with the hub and ${PODS + 2 * (CHANGED - PODS)} replicated pods | ${rssHub.toFixed(1)} MiB |`);

await rig.close();
await rm(dir, { recursive: true, force: true });
