/**
 * Write throughput, latency and CPU per write of the stores, against a raw better-sqlite3 loop
 * (one INSERT per transaction, WAL, synchronous=FULL) run in the same process as
 * the peer. Prints a markdown table of medians over RUNS runs; asserts nothing.
 *
 *   node --import tsx bench/store-write.ts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { startEtcd, type EtcdProcess } from '../src/store/etcd/etcd-process.ts';
import { EtcdStore } from '../src/store/etcd/etcd-store.ts';
import { MemoryStore } from '../src/store/memory/memory-store.ts';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';
import type { KeyValue, Store } from '../src/store/types.ts';

const RUNS = 3;
const VALUE = JSON.stringify({ kind: 'Pod', pad: 'x'.repeat(1_000) });

type Kind = 'memory' | 'sqlite' | 'etcd';
type Op = 'create' | 'update';

interface Sample {
  perSecond: number;
  p50: number;
  p99: number;
  /** this process's CPU (all its threads: the WAL syncs too; not etcd's) per write, µs */
  cpuUs: number;
}

const dir = mkdtempSync(join(tmpdir(), 'hedge-bench-'));
let dbSeq = 0;
/** a local single-member etcd (fsync on every raft write), started for the etcd rows */
let etcd: EtcdProcess | undefined;

function opsFor(kind: Kind, writers: number): number {
  if (kind === 'memory') return 20_000;
  return writers === 1 ? 500 : 5_000;
}

function openStore(kind: Kind): Store {
  if (kind === 'memory') return new MemoryStore();
  if (kind === 'etcd') {
    if (etcd === undefined) throw new Error('etcd is not running');
    return new EtcdStore({ endpoints: [etcd.endpoint], prefix: `/bench-${dbSeq++}` });
  }
  return new SqliteStore({ path: join(dir, `bench-${dbSeq++}.db`), compactIntervalMs: 0 });
}

async function runStore(kind: Kind, op: Op, writers: number): Promise<Sample> {
  const store = openStore(kind);
  const total = opsFor(kind, writers);
  const perWriter = Math.ceil(total / writers);
  const latencies: number[] = [];
  const seeds: KeyValue[] =
    op === 'update' ? await Promise.all(Array.from({ length: writers }, (_, w) => store.create(`/bench/u/${w}`, VALUE))) : [];
  const started = performance.now();
  const cpu0 = process.cpuUsage();
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      let kv = seeds[w];
      for (let i = 0; i < perWriter; i++) {
        const t = performance.now();
        if (op === 'create') await store.create(`/bench/c/${w}/${i}`, VALUE);
        else kv = await store.update(kv.key, VALUE, { expectedRevision: kv.modRevision });
        latencies.push(performance.now() - t);
      }
    }),
  );
  const elapsed = performance.now() - started;
  const cpu = process.cpuUsage(cpu0);
  await store.close();
  return summarize(latencies, elapsed, cpu.user + cpu.system);
}

function runRaw(): Sample {
  const db = new Database(join(dir, `raw-${dbSeq++}.db`));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL, value TEXT NOT NULL)');
  const insert = db.prepare<[string, string]>('INSERT INTO t (name, value) VALUES (?, ?)');
  const total = opsFor('sqlite', 1);
  const latencies: number[] = [];
  const started = performance.now();
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < total; i++) {
    const t = performance.now();
    db.exec('BEGIN');
    insert.run(`/bench/raw/${i}`, VALUE);
    db.exec('COMMIT');
    latencies.push(performance.now() - t);
  }
  const elapsed = performance.now() - started;
  const cpu = process.cpuUsage(cpu0);
  db.close();
  return summarize(latencies, elapsed, cpu.user + cpu.system);
}

/**
 * Writes as an apiserver's store sees them: 2,000 updates a second of 10,000 keys (as many nodes'
 * Leases), two issued every millisecond from a timer, not in bursts: they trickle in across
 * event-loop turns, beside the WAL syncs in flight. SQLite only.
 */
async function runOpenLoop(): Promise<Sample> {
  const store = openStore('sqlite');
  const KEYS = 10_000;
  const SECONDS = 5;
  const kvs = await Promise.all(Array.from({ length: KEYS }, (_, i) => store.create(`/bench/lease/${i}`, VALUE)));
  const busy = new Set<number>();
  const latencies: number[] = [];
  const inFlight: Promise<void>[] = [];
  const started = performance.now();
  const cpu0 = process.cpuUsage();
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      if (performance.now() - started >= SECONDS * 1000) {
        clearInterval(tick);
        resolve();
        return;
      }
      for (let n = 0; n < 2; n++) {
        const i = Math.floor(Math.random() * KEYS);
        if (busy.has(i)) continue;
        busy.add(i);
        const t = performance.now();
        inFlight.push(
          store.update(kvs[i].key, VALUE, { expectedRevision: kvs[i].modRevision }).then((kv) => {
            kvs[i] = kv;
            busy.delete(i);
            latencies.push(performance.now() - t);
          }),
        );
      }
    }, 1);
  });
  await Promise.all(inFlight);
  const elapsed = performance.now() - started;
  const cpu = process.cpuUsage(cpu0);
  await store.close();
  return summarize(latencies, elapsed, cpu.user + cpu.system);
}

function summarize(latencies: number[], elapsedMs: number, cpuUs: number): Sample {
  const sorted = [...latencies].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { perSecond: latencies.length / (elapsedMs / 1000), p50: at(0.5), p99: at(0.99), cpuUs: cpuUs / latencies.length };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function medianSample(samples: Sample[]): Sample {
  return {
    perSecond: median(samples.map((s) => s.perSecond)),
    p50: median(samples.map((s) => s.p50)),
    p99: median(samples.map((s) => s.p99)),
    cpuUs: median(samples.map((s) => s.cpuUs)),
  };
}

async function main(): Promise<void> {
  const rows: string[] = [];
  const rawRuns: Sample[] = [];
  const cells: Array<{ label: string; op: string; writers: number | string; sample: Sample; vsRaw: boolean }> = [];
  etcd = await startEtcd();
  for (const kind of ['memory', 'sqlite', 'etcd'] as const) {
    for (const op of ['create', 'update'] as const) {
      for (const writers of [1, 64]) {
        const runs: Sample[] = [];
        for (let r = 0; r < RUNS; r++) {
          // Interleave the raw peer with our runs so both see the same disk conditions.
          if (kind === 'sqlite') rawRuns.push(runRaw());
          runs.push(await runStore(kind, op, writers));
        }
        cells.push({ label: kind, op, writers, sample: medianSample(runs), vsRaw: kind === 'sqlite' });
      }
    }
  }
  const openLoop: Sample[] = [];
  for (let r = 0; r < RUNS; r++) openLoop.push(await runOpenLoop());
  cells.push({ label: 'sqlite', op: 'update, 2,000/s trickling in (10,000 keys)', writers: 'open loop', sample: medianSample(openLoop), vsRaw: false });
  const raw = medianSample(rawRuns);
  rows.push('| store | op | writers | writes/s | p50 ms | p99 ms | CPU µs / write | ours / raw (writes/s) |');
  rows.push('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const c of cells) {
    const ratio = c.vsRaw ? `${(c.sample.perSecond / raw.perSecond).toFixed(2)}×` : '';
    rows.push(`| ${c.label} | ${c.op} | ${c.writers} | ${fmt(c.sample.perSecond, 0)} | ${fmt(c.sample.p50, 3)} | ${fmt(c.sample.p99, 3)} | ${fmt(c.sample.cpuUs, 0)} | ${ratio} |`);
  }
  rows.push(`| raw better-sqlite3, 1 INSERT/txn, FULL | insert | 1 | ${fmt(raw.perSecond, 0)} | ${fmt(raw.p50, 3)} | ${fmt(raw.p99, 3)} | ${fmt(raw.cpuUs, 0)} | 1.00× |`);
  console.log(`Store write benchmark: ~1 KB values, median of ${RUNS} runs (node ${process.version})\n`);
  console.log(rows.join('\n'));
}

function fmt(n: number, digits: number): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

try {
  await main();
} finally {
  rmSync(dir, { recursive: true, force: true });
  await etcd?.stop();
}
