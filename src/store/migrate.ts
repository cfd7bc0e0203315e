import { createHash } from 'node:crypto';
import { HedgeError } from '../lib/errors.ts';
import { storedBytes } from './stored-bytes.ts';
import type { KeyValue, Store } from './types.ts';

export interface MigrateOptions {
  /** only keys under this prefix (default: everything) */
  prefix?: string;
  /** page size when reading the source (default 1,000) */
  pageSize?: number;
  signal?: AbortSignal;
  /** called after each object is written */
  onProgress?: (done: number, total: number) => void;
}

export interface MigrateResult {
  count: number;
  /** sha256 over every (key, value) in key order: equal on both sides after a good copy */
  checksum: string;
  /** the source revision the copy is a snapshot of */
  sourceRevision: number;
  /** the target's revisions of the first and last object written */
  targetRevisions: { first: number; last: number };
}

/** Every live key of `store` under `prefix` at `revision`, in key order. */
async function snapshot(store: Store, prefix: string, revision: number, pageSize: number, signal?: AbortSignal): Promise<KeyValue[]> {
  const out: KeyValue[] = [];
  let startAfter: string | undefined;
  for (;;) {
    const page = await store.list(prefix, { revision, limit: pageSize, startAfter, signal });
    out.push(...page.items);
    if (!page.more || page.items.length === 0) return out;
    startAfter = page.items[page.items.length - 1]!.key;
  }
}

/**
 * sha256 of the (key, value) pairs in key order, length-prefixed so no two lists collide; a value
 * counts as the bytes a store persists (an encrypted value's raw bytes, stored-bytes.ts).
 */
export function checksumOf(items: readonly KeyValue[]): string {
  const h = createHash('sha256');
  for (const kv of [...items].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) {
    const value = storedBytes(kv.value);
    h.update(`${Buffer.byteLength(kv.key)}:${kv.key}${value.length}:`);
    h.update(value);
  }
  return `sha256:${h.digest('hex')}`;
}

/**
 * Copies a consistent snapshot of `from` into the empty `to`, object by object in the order of
 * their source revisions, so resourceVersion order (what watch resumption and optimistic
 * concurrency depend on) is the same on both sides; the values are copied byte for byte (stored
 * objects carry no resourceVersion, so they need no rewriting). Values encrypted at rest are
 * copied as they are, still encrypted: no key is needed to migrate, the target needs the same
 * --encryption-provider-config to read them, and aesgcm's authenticated data (the store key,
 * without the etcd --prefix) is the same on both sides. Afterwards both sides are read
 * back and compared by count, checksum and order; any difference, or a source that changed during
 * the copy (a server still running on it), is an error.
 */
export async function migrateStore(from: Store, to: Store, opts: MigrateOptions = {}): Promise<MigrateResult> {
  const prefix = opts.prefix ?? '';
  const pageSize = opts.pageSize ?? 1_000;
  const already = await to.count(prefix);
  if (already > 0) throw new HedgeError('AlreadyExists', `the target already holds ${already} keys under "${prefix || '/'}": migrate only into an empty store or prefix`);
  const sourceRevision = await from.currentRevision();
  const items = await snapshot(from, prefix, sourceRevision, pageSize, opts.signal);
  const ordered = [...items].sort((a, b) => a.modRevision - b.modRevision);
  let first = 0;
  let last = 0;
  for (const [i, kv] of ordered.entries()) {
    opts.signal?.throwIfAborted();
    const written = await to.create(kv.key, kv.value, { signal: opts.signal });
    if (i === 0) first = written.modRevision;
    last = written.modRevision;
    opts.onProgress?.(i + 1, ordered.length);
  }
  if ((await from.currentRevision()) !== sourceRevision) {
    throw new HedgeError('Conflict', 'the source changed during the migration (is a server still running on it?): stop it, empty the target and run again');
  }
  const copied = await snapshot(to, prefix, await to.currentRevision(), pageSize, opts.signal);
  const checksum = checksumOf(items);
  const targetChecksum = checksumOf(copied);
  if (copied.length !== items.length || targetChecksum !== checksum) {
    throw new HedgeError('Internal', `verification failed: source ${items.length} keys ${checksum}, target ${copied.length} keys ${targetChecksum}`);
  }
  const targetOrder = [...copied].sort((a, b) => a.modRevision - b.modRevision).map((kv) => kv.key);
  if (targetOrder.some((k, i) => k !== ordered[i]!.key)) throw new HedgeError('Internal', 'verification failed: revision order differs between source and target');
  return { count: items.length, checksum, sourceRevision, targetRevisions: { first, last } };
}
