/**
 * What the SQLite store's history compaction costs the event loop beside it: a minute of 10,000
 * nodes' Lease renewals (10,000 keys of ~600 B Leases, 60,000 updates in random order, group
 * commits of 10) is compacted down to the last 10,000 revisions, once as `compact()` does (1,000
 * revisions a transaction, one event-loop turn between them) and once as the automatic maintenance
 * does (`runMaintenance()`: paced, the same transactions, each followed by a pause nine times its length).
 * Measured while a 1 ms timer runs beside it (what an apiserver's requests would wait): the loop's
 * delay p99 / max, its longest busy stretch, the compaction's wall time and its CPU time (the
 * process's, less what the timer costs at rest over the same time: a paced run lasts ~10× longer).
 * Each mode on a fresh file, alternated, RUNS times; prints medians. Asserts nothing.
 *
 *   node --import tsx bench/store-compaction.ts [runs=3]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';

const RUNS = Number(process.argv[2] ?? 3);
const KEYS = 10_000;
const UPDATES = 60_000;
const KEEP = 10_000;
const LEASE = JSON.stringify({
  apiVersion: 'coordination.k8s.io/v1',
  kind: 'Lease',
  metadata: {
    name: 'node-00000',
    namespace: 'kube-node-lease',
    uid: '6f1f0d4e-1c3b-4a55-9e43-2f6d7f0c1a2b',
    resourceVersion: '1',
    managedFields: [{ manager: 'hedge', operation: 'Update', apiVersion: 'coordination.k8s.io/v1', time: '2026-12-07T10:00:00Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': { 'f:holderIdentity': {}, 'f:leaseDurationSeconds': {}, 'f:renewTime': {} } } }],
  },
  spec: { holderIdentity: 'node-00000', leaseDurationSeconds: 40, renewTime: '2026-12-07T10:00:00.000000Z' },
});

type Mode = 'compact() (unpaced)' | 'runMaintenance() (paced)';

interface Sample {
  wallMs: number;
  cpuMs: number;
  delayP99: number;
  delayMax: number;
  longestBusyMs: number;
}

const dir = mkdtempSync(join(tmpdir(), 'hedge-bench-compaction-'));
let seq = 0;

async function filled(): Promise<SqliteStore> {
  const store = new SqliteStore({ path: join(dir, `c-${seq++}.db`), compactIntervalMs: 0, compactKeepRevisions: KEEP });
  const revs = new Map<string, number>();
  await Promise.all(Array.from({ length: KEYS }, (_, i) => store.create(`/registry/leases/kube-node-lease/node-${i}`, LEASE).then((kv) => revs.set(kv.key, kv.modRevision))));
  const keys = [...revs.keys()];
  for (let done = 0; done < UPDATES; ) {
    const batch = [...new Set(Array.from({ length: 10 }, () => keys[Math.floor(Math.random() * keys.length)]))];
    await Promise.all(batch.map((k) => store.update(k, LEASE, { expectedRevision: revs.get(k) ?? 0 }).then((kv) => revs.set(k, kv.modRevision))));
    done += batch.length;
  }
  return store;
}

/** the loop-delay histogram and a 1 ms ticker: what an apiserver's requests would wait for */
function watchLoop(): { stop: () => { delayP99: number; delayMax: number; longestBusyMs: number } } {
  const h = monitorEventLoopDelay({ resolution: 1 });
  // the longest stretch between two runs of the ticker: the longest the loop was not free
  let last = performance.now();
  let longest = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, 1);
  h.enable();
  return {
    stop: () => {
      h.disable();
      clearInterval(ticker);
      return { delayP99: h.percentile(99) / 1e6, delayMax: h.max / 1e6, longestBusyMs: longest };
    },
  };
}

/** CPU ms per wall ms of the watcher alone (its ticker wakes the process 1,000 times a second) */
async function watcherCpuRate(): Promise<number> {
  const w = watchLoop();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, 3_000));
  const cpu = process.cpuUsage(cpu0);
  const rate = (cpu.user + cpu.system) / 1000 / (performance.now() - t0);
  w.stop();
  return rate;
}

async function measure(mode: Mode, idleRate: number): Promise<Sample> {
  const store = await filled();
  const target = (await store.currentRevision()) - KEEP;
  const w = watchLoop();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  if (mode === 'compact() (unpaced)') await store.compact(target);
  else await store.runMaintenance();
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const loop = w.stop();
  if (store.stats().compactedRevision !== target) throw new Error(`${mode}: compacted to ${store.stats().compactedRevision}, not ${target}`);
  await store.close();
  // the compaction's own CPU: the watcher's, at its idle rate over the same wall time, taken off
  return { wallMs, cpuMs: (cpu.user + cpu.system) / 1000 - idleRate * wallMs, ...loop };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const modes: Mode[] = ['compact() (unpaced)', 'runMaintenance() (paced)'];
  const samples = new Map<Mode, Sample[]>(modes.map((m) => [m, []]));
  const idleRate = await watcherCpuRate();
  for (let r = 0; r < RUNS; r++) for (const m of modes) samples.get(m)?.push(await measure(m, idleRate));
  console.log(`SQLite store compaction beside the event loop: ${KEYS.toLocaleString('en-US')} Leases, ${UPDATES.toLocaleString('en-US')} random updates compacted to the last ${KEEP.toLocaleString('en-US')} revisions; median of ${RUNS} (node ${process.version})\n`);
  console.log(`(CPU: the process's, less the loop watcher's own at its idle rate, ${(idleRate * 1000).toFixed(0)} ms per s)\n`);
  console.log('| mode | wall ms | CPU ms | loop delay p99 ms | loop delay max ms | longest busy stretch ms |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const m of modes) {
    const s = samples.get(m) ?? [];
    const col = (f: (x: Sample) => number): string => median(s.map(f)).toFixed(1);
    console.log(`| ${m} | ${col((x) => x.wallMs)} | ${col((x) => x.cpuMs)} | ${col((x) => x.delayP99)} | ${col((x) => x.delayMax)} | ${col((x) => x.longestBusyMs)} |`);
  }
}

try {
  await main();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
