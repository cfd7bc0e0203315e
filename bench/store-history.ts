/**
 * The SQLite store under a node fleet's write pattern, where the log's history matters: 10,000
 * Nodes (~3 KB) and 10,000 Leases (~600 B) created, then Lease renewals in random order, five to a
 * group commit (a closed loop: the next five once the last are acknowledged), first 30,000 to build
 * a history and then 60,000 measured; then the compaction that keeps the last 10,000 revisions;
 * then reads at older revisions (1,000 and 10,000 writes back, as a paginated LIST's later
 * pages or a `resourceVersion` GET read them) and at the current one. `--against DIR` runs another checkout's
 * store (DIR/src/store/sqlite/sqlite-store.ts) in the same process, alternated with this one, as
 * the before/after peer. Prints a markdown table of medians; asserts nothing.
 *
 *   node --import tsx bench/store-history.ts [--runs 3] [--against /path/to/other/checkout]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';
import type { Store } from '../src/store/types.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' }, against: { type: 'string' } } });
const RUNS = Number(values.runs);
const NODES = 10_000;
const WARM = 30_000;
const UPDATES = 60_000;
const KEEP = 10_000;
const BATCH = 5;
const PAGE = 500;

type Open = (path: string) => Store & { compact(revision: number): Promise<void> };
const builds: { name: string; open: Open }[] = [
  { name: 'this tree', open: (path) => new SqliteStore({ path, compactIntervalMs: 0, compactKeepRevisions: KEEP }) },
];
if (values.against) {
  const mod = (await import(resolve(values.against, 'src/store/sqlite/sqlite-store.ts'))) as { SqliteStore: typeof SqliteStore };
  builds.push({ name: `${values.against}`, open: (path) => new mod.SqliteStore({ path, compactIntervalMs: 0, compactKeepRevisions: KEEP }) });
}

const lease = (i: number): string =>
  JSON.stringify({
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name: `node-${i}`,
      namespace: 'kube-node-lease',
      uid: `6f1f0d4e-1c3b-4a55-9e43-${String(i).padStart(12, '0')}`,
      managedFields: [{ manager: 'hedge', operation: 'Update', apiVersion: 'coordination.k8s.io/v1', time: new Date().toISOString(), fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': { 'f:holderIdentity': {}, 'f:leaseDurationSeconds': {}, 'f:renewTime': {} } } }],
    },
    spec: { holderIdentity: `node-${i}`, leaseDurationSeconds: 40, renewTime: new Date().toISOString() },
  });
const node = (i: number): string => JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: `node-${i}` }, status: { images: 'x'.repeat(3_000) } });

interface Sample {
  writeCpuUs: number;
  writeWallUs: number;
  compactCpuMs: number;
  recentPageMs: number;
  oldPageMs: number;
  oldGetUs: number;
  listMs: number;
}

const cpuMs = (c: NodeJS.CpuUsage): number => (c.user + c.system) / 1000;

async function measure(open: Open, dir: string, run: number): Promise<Sample> {
  const store = open(join(dir, `h-${run}-${Math.random().toString(36).slice(2)}.db`));
  const leaseKey = (i: number): string => `/registry/leases/kube-node-lease/node-${i}`;
  const revs = new Map<number, number>();
  for (let b = 0; b < NODES; b += 100) {
    await Promise.all(Array.from({ length: 100 }, (_, j) => store.create(`/registry/minions/node-${b + j}`, node(b + j))));
    await Promise.all(Array.from({ length: 100 }, (_, j) => store.create(leaseKey(b + j), lease(b + j)).then((kv) => revs.set(b + j, kv.modRevision))));
  }
  // renewals in a random order, each key at most once per batch
  const order = Array.from({ length: NODES }, (_, i) => i).sort(() => Math.random() - 0.5);
  let next = 0;
  const renew = async (count: number): Promise<void> => {
    for (let done = 0; done < count; done += BATCH) {
      await Promise.all(
        Array.from({ length: BATCH }, () => {
          const i = order[next++ % NODES];
          return store.update(leaseKey(i), lease(i), { expectedRevision: revs.get(i) ?? 0 }).then((kv) => revs.set(i, kv.modRevision));
        }),
      );
    }
  };
  await renew(WARM);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await renew(UPDATES);
  const writeCpuUs = (cpuMs(process.cpuUsage(c0)) * 1000) / UPDATES;
  const writeWallUs = ((performance.now() - t0) * 1000) / UPDATES;
  const d0 = process.cpuUsage();
  await store.compact((await store.currentRevision()) - KEEP);
  const compactCpuMs = cpuMs(process.cpuUsage(d0));
  // a revision 1,000 writes back (a LIST's next page a second after its first, at 1,000 writes a
  // second) and 10,000 back (the oldest the compaction kept): read as a LIST's later pages are
  const now = await store.currentRevision();
  const pagedAt = async (at: number): Promise<number> => {
    const t = performance.now();
    let after: string | undefined;
    let seen = 0;
    for (;;) {
      const page = await store.list('/registry/leases/', { revision: at, limit: PAGE, startAfter: after });
      seen += page.items.length;
      if (!page.more) break;
      after = page.items.at(-1)?.key;
    }
    if (seen !== NODES) throw new Error(`list at ${at}: ${seen} Leases, not ${NODES}`);
    return (performance.now() - t) / Math.ceil(NODES / PAGE);
  };
  const recentPageMs = await pagedAt(now - 1_000);
  const oldPageMs = await pagedAt(now - KEEP);
  const at = now - KEEP;
  let t = performance.now();
  for (let i = 0; i < 200; i++) if ((await store.get(leaseKey(order[i]), { revision: at })) === undefined) throw new Error('get at an older revision: missing');
  const oldGetUs = ((performance.now() - t) * 1000) / 200;
  t = performance.now();
  const all = await store.list('/registry/leases/');
  const listMs = performance.now() - t;
  if (all.items.length !== NODES) throw new Error(`list: ${all.items.length} Leases`);
  await store.close();
  return { writeCpuUs, writeWallUs, compactCpuMs, recentPageMs, oldPageMs, oldGetUs, listMs };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const dir = mkdtempSync(join(tmpdir(), 'hedge-bench-history-'));
try {
  const samples = new Map<string, Sample[]>(builds.map((b) => [b.name, []]));
  for (let r = 0; r < RUNS; r++) for (const b of builds) samples.get(b.name)?.push(await measure(b.open, dir, r));
  console.log(
    `SQLite store, a fleet's history: ${NODES.toLocaleString('en-US')} Nodes + Leases, ${UPDATES.toLocaleString('en-US')} Lease renewals measured after ${WARM.toLocaleString('en-US')}, ${BATCH} to a commit; compaction to the last ${KEEP.toLocaleString('en-US')} revisions; reads 1,000 and 10,000 writes back; median of ${RUNS}, builds alternated (node ${process.version})\n`,
  );
  console.log('| build | renewal CPU µs / write | renewal wall µs / write | compaction CPU ms | LIST page of 500 Leases at 1,000 writes back ms | the same at 10,000 back ms | GET at 10,000 back µs | LIST of the Leases now ms |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const b of builds) {
    const s = samples.get(b.name) ?? [];
    const col = (f: (x: Sample) => number): string => median(s.map(f)).toFixed(1);
    console.log(`| ${b.name} | ${col((x) => x.writeCpuUs)} | ${col((x) => x.writeWallUs)} | ${col((x) => x.compactCpuMs)} | ${col((x) => x.recentPageMs)} | ${col((x) => x.oldPageMs)} | ${col((x) => x.oldGetUs)} | ${col((x) => x.listMs)} |`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
