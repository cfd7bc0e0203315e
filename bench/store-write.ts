/**
 * Write throughput and latency of the stores, against a raw better-sqlite3 loop
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
  await store.close();
  return summarize(latencies, elapsed);
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
  for (let i = 0; i < total; i++) {
    const t = performance.now();
    db.exec('BEGIN');
    insert.run(`/bench/raw/${i}`, VALUE);
    db.exec('COMMIT');
    latencies.push(performance.now() - t);
  }
  const elapsed = performance.now() - started;
  db.close();
  return summarize(latencies, elapsed);
}

function summarize(latencies: number[], elapsedMs: number): Sample {
  const sorted = [...latencies].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { perSecond: latencies.length / (elapsedMs / 1000), p50: at(0.5), p99: at(0.99) };
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
  };
}

async function main(): Promise<void> {
  const rows: string[] = [];
  const rawRuns: Sample[] = [];
  const cells: Array<{ label: string; op: string; writers: number; sample: Sample; vsRaw: boolean }> = [];
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
  const raw = medianSample(rawRuns);
  rows.push('| store | op | writers | writes/s | p50 ms | p99 ms | ours / raw (writes/s) |');
  rows.push('| --- | --- | ---: | ---: | ---: | ---: | ---: |');
  for (const c of cells) {
    const ratio = c.vsRaw ? `${(c.sample.perSecond / raw.perSecond).toFixed(2)}×` : '';
    rows.push(`| ${c.label} | ${c.op} | ${c.writers} | ${fmt(c.sample.perSecond, 0)} | ${fmt(c.sample.p50, 3)} | ${fmt(c.sample.p99, 3)} | ${ratio} |`);
  }
  rows.push(`| raw better-sqlite3, 1 INSERT/txn, FULL | insert | 1 | ${fmt(raw.perSecond, 0)} | ${fmt(raw.p50, 3)} | ${fmt(raw.p99, 3)} | 1.00× |`);
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
