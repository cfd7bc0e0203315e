/**
 * List latency of the stores for `kubectl get pods -A`-sized reads: 1,000 pod-like
 * values of ~2 KB plus 100 nodes, each pod updated UPDATES times so the log holds
 * history. Measures list of the pods prefix at the current revision and at an
 * older one, and count, beside a raw better-sqlite3 `SELECT value` of the same
 * 1,000 rows from a plain table (the peer, same process and run). Prints a
 * markdown table; asserts nothing.
 *
 *   node --import tsx bench/store-list.ts
 *   HEDGE_ETCD_ENDPOINT=http://127.0.0.1:2379 node --import tsx bench/store-list.ts   # adds etcd rows
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { MemoryStore } from '../src/store/memory/memory-store.ts';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';
import type { KeyValue, Store } from '../src/store/types.ts';

const PODS = 1_000;
const NODES = 100;
const UPDATES = 3;
const ITERATIONS = 60;
const PODS_PREFIX = '/registry/pods/';

interface Sample {
  p50: number;
  p99: number;
}

function podValue(i: number, gen: number): string {
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `pod-${i}`, namespace: `ns-${i % 20}`, uid: `uid-${i}`, labels: { app: `app-${i % 50}`, gen: String(gen) } },
    spec: { nodeName: `node-${i % NODES}`, containers: [{ name: 'main', image: 'registry.example/app:1.0' }] },
    status: { phase: 'Running', pad: 'x'.repeat(1_700) },
  };
  return JSON.stringify(pod);
}

function podKey(i: number): string {
  return `${PODS_PREFIX}ns-${i % 20}/pod-${String(i).padStart(4, '0')}`;
}

async function seed(store: Store): Promise<number> {
  const kvs: KeyValue[] = [];
  for (let i = 0; i < PODS; i += 100) {
    kvs.push(...(await Promise.all(Array.from({ length: 100 }, (_, j) => store.create(podKey(i + j), podValue(i + j, 0))))));
  }
  await Promise.all(Array.from({ length: NODES }, (_, i) => store.create(`/registry/minions/node-${i}`, podValue(i, 0))));
  const older = await store.currentRevision();
  for (let gen = 1; gen <= UPDATES; gen++) {
    for (let i = 0; i < PODS; i += 100) {
      const batch = kvs.slice(i, i + 100);
      const next = await Promise.all(
        batch.map((kv, j) => store.update(kv.key, podValue(i + j, gen), { expectedRevision: kv.modRevision })),
      );
      next.forEach((kv, j) => (kvs[i + j] = kv));
    }
  }
  return older;
}

/** what the apiserver does with a list: parse every value and serialize the whole list again */
function serialize(items: readonly KeyValue[]): number {
  const objects = items.map((kv) => JSON.parse(kv.value) as unknown);
  return JSON.stringify({ kind: 'PodList', items: objects }).length;
}

async function measure(fn: () => Promise<unknown> | unknown): Promise<Sample> {
  for (let i = 0; i < 5; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < ITERATIONS; i++) {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return { p50: times[Math.floor(times.length / 2)], p99: times[Math.min(times.length - 1, Math.floor(times.length * 0.99))] };
}

interface Row {
  store: string;
  read: string;
  sample: Sample;
}

async function benchStore(name: string, store: Store, rows: Row[]): Promise<void> {
  const older = await seed(store);
  const check = await store.list(PODS_PREFIX);
  if (check.items.length !== PODS) throw new Error(`${name}: listed ${check.items.length} pods`);
  rows.push({ store: name, read: 'list current', sample: await measure(() => store.list(PODS_PREFIX)) });
  rows.push({
    store: name,
    read: 'list current + JSON parse/serialize',
    sample: await measure(async () => serialize((await store.list(PODS_PREFIX)).items)),
  });
  rows.push({ store: name, read: `list at older revision ${older}`, sample: await measure(() => store.list(PODS_PREFIX, { revision: older })) });
  rows.push({ store: name, read: 'list current, limit 500', sample: await measure(() => store.list(PODS_PREFIX, { limit: 500 })) });
  rows.push({ store: name, read: 'count', sample: await measure(() => store.count(PODS_PREFIX)) });
  rows.push({ store: name, read: 'get one', sample: await measure(() => store.get(podKey(500))) });
  await store.close();
}

function benchRaw(path: string, rows: Row[]): void {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE t (name TEXT PRIMARY KEY, value TEXT NOT NULL)');
  const insert = db.prepare<[string, string]>('INSERT INTO t (name, value) VALUES (?, ?)');
  db.transaction(() => {
    for (let i = 0; i < PODS; i++) insert.run(podKey(i), podValue(i, UPDATES));
    for (let i = 0; i < NODES; i++) insert.run(`/registry/minions/node-${i}`, podValue(i, 0));
  })();
  const select = db.prepare<[string, string], { value: string }>('SELECT value FROM t WHERE name >= ? AND name < ? ORDER BY name');
  const run = (): Array<{ value: string }> => select.all(PODS_PREFIX, '/registry/pods0');
  if (run().length !== PODS) throw new Error('raw: wrong row count');
  const sync = (fn: () => unknown): Sample => {
    const times: number[] = [];
    for (let i = 0; i < ITERATIONS + 5; i++) {
      const t = performance.now();
      fn();
      if (i >= 5) times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    return { p50: times[Math.floor(times.length / 2)], p99: times[Math.min(times.length - 1, Math.floor(times.length * 0.99))] };
  };
  rows.push({ store: 'raw better-sqlite3', read: 'SELECT value (1,000 rows)', sample: sync(run) });
  rows.push({
    store: 'raw better-sqlite3',
    read: 'SELECT value + JSON parse/serialize',
    sample: sync(() => JSON.stringify({ kind: 'PodList', items: run().map((r) => JSON.parse(r.value) as unknown) })),
  });
  db.close();
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'hedge-bench-list-'));
  const rows: Row[] = [];
  try {
    benchRaw(join(dir, 'raw.db'), rows);
    await benchStore('memory', new MemoryStore(), rows);
    await benchStore('sqlite', new SqliteStore({ path: join(dir, 'state.db'), compactIntervalMs: 0 }), rows);
    const endpoint = process.env.HEDGE_ETCD_ENDPOINT;
    if (endpoint !== undefined) {
      const { EtcdStore } = await import('../src/store/etcd/etcd-store.ts');
      await benchStore('etcd', new EtcdStore({ endpoints: [endpoint], prefix: `/bench-list-${Date.now()}` }), rows);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(
    `Store list benchmark: ${PODS} pods (~2 KB) + ${NODES} nodes, ${UPDATES} updates per pod, ` +
      `${ITERATIONS} iterations (node ${process.version})\n`,
  );
  console.log('| store | read | p50 ms | p99 ms |');
  console.log('| --- | --- | ---: | ---: |');
  for (const r of rows) console.log(`| ${r.store} | ${r.read} | ${r.sample.p50.toFixed(2)} | ${r.sample.p99.toFixed(2)} |`);
}

await main();
