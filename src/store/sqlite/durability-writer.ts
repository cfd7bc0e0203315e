/**
 * Child process for durability.test.ts: writes to the store at argv[2] as fast as
 * it can and prints one line per acknowledged write, until it is killed.
 *   C <key> <revision>            a create of a fresh key
 *   U <key> <revision> <value>    the create or an update of one of the per-worker counters
 */
import { SqliteStore } from './sqlite-store.ts';
import type { KeyValue } from '../types.ts';

const path = process.argv[2];
if (path === undefined) {
  process.stderr.write('usage: durability-writer.ts DB_PATH\n');
  process.exit(2);
}
const store = new SqliteStore({ path, compactIntervalMs: 0 });
const workers = 16;

async function worker(w: number): Promise<never> {
  let counter: KeyValue = await store.create(`/counter/${w}`, '0');
  process.stdout.write(`U ${counter.key} ${counter.modRevision} ${counter.value}\n`);
  for (let n = 0; ; n++) {
    const kv = await store.create(`/items/${w}/${n}`, `item-${w}-${n}`);
    process.stdout.write(`C ${kv.key} ${kv.modRevision}\n`);
    counter = await store.update(counter.key, String(n + 1), { expectedRevision: counter.modRevision });
    process.stdout.write(`U ${counter.key} ${counter.modRevision} ${counter.value}\n`);
  }
}

await Promise.all(Array.from({ length: workers }, (_, w) => worker(w)));
