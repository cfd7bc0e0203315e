import { HedgeError } from '../../lib/errors.ts';
import {
  assertValidKey,
  compactedError,
  prefixEnd,
  resolveReadRevision,
  storeClosedError,
} from '../key-range.ts';
import type {
  DeleteOptions,
  KeyValue,
  ListOptions,
  ListResult,
  Store,
  UpdateOptions,
  WatchEvent,
  WatchOptions,
  WriteOptions,
} from '../types.ts';
import { WatchHub, type ChangeEvent } from '../watch-hub.ts';

export interface MemoryStoreOptions {
  /**
   * Revisions of history kept for watch replay and reads at older revisions
   * (default 10,000). Older history is compacted automatically.
   */
  historyLimit?: number;
  /** live events a watcher may buffer before it falls back to replaying history (default 10,000) */
  watchQueueLimit?: number;
}

/**
 * The whole store in process memory: current values in a map plus a sorted key
 * index, and a log of the last `historyLimit` change events. Every event keeps
 * the value it replaced, so older states are rebuilt by undoing newer events.
 */
export class MemoryStore implements Store {
  private readonly data = new Map<string, KeyValue>();
  /** keys of `data`, sorted */
  private readonly keys: string[] = [];
  /** events for revisions compacted+…rev; events[i] has revision firstEventRevision + i */
  private events: ChangeEvent[] = [];
  private rev = 0;
  private compacted = 0;
  private closed = false;
  private readonly historyLimit: number;
  private readonly hub: WatchHub;

  constructor(opts: MemoryStoreOptions = {}) {
    this.historyLimit = Math.max(1, opts.historyLimit ?? 10_000);
    this.hub = new WatchHub({
      revision: 0,
      queueLimit: opts.watchQueueLimit,
      history: { readHistory: (prefix, from, to, limit) => this.readHistory(prefix, from, to, limit) },
    });
  }

  async get(key: string, opts: { revision?: number; signal?: AbortSignal } = {}): Promise<KeyValue | undefined> {
    this.checkOpen(opts.signal);
    const at = resolveReadRevision(opts.revision, this.rev, this.compacted);
    let kv = this.data.get(key);
    for (let i = this.events.length - 1; i >= 0; i--) {
      const ev = this.events[i];
      if (ev.kv.modRevision <= at) break;
      // prevKv is the key's state just before the event (undefined for a create).
      if (ev.kv.key === key) kv = ev.prevKv;
    }
    return kv;
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    this.checkOpen(opts.signal);
    const at = resolveReadRevision(opts.revision, this.rev, this.compacted);
    const end = prefixEnd(prefix);
    const inRange = (k: string): boolean =>
      k.startsWith(prefix) && (opts.startAfter === undefined || k > opts.startAfter);

    let items: KeyValue[];
    if (at === this.rev) {
      items = [];
      const lo = opts.startAfter !== undefined && opts.startAfter >= prefix ? opts.startAfter : prefix;
      for (let i = lowerBound(this.keys, lo); i < this.keys.length; i++) {
        const k = this.keys[i];
        if (end !== undefined && k >= end) break;
        if (inRange(k)) items.push(this.data.get(k) as KeyValue);
      }
    } else {
      const state = new Map<string, KeyValue | undefined>();
      for (let i = this.events.length - 1; i >= 0; i--) {
        const ev = this.events[i];
        if (ev.kv.modRevision <= at) break;
        if (inRange(ev.kv.key)) state.set(ev.kv.key, ev.prevKv);
      }
      for (let i = lowerBound(this.keys, prefix); i < this.keys.length; i++) {
        const k = this.keys[i];
        if (end !== undefined && k >= end) break;
        if (inRange(k) && !state.has(k)) state.set(k, this.data.get(k));
      }
      items = [...state.values()].filter((kv): kv is KeyValue => kv !== undefined);
      items.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    }

    const limit = opts.limit ?? 0;
    if (limit > 0 && items.length > limit) {
      return { items: items.slice(0, limit), revision: at, more: true, remaining: items.length - limit };
    }
    return { items, revision: at, more: false, remaining: 0 };
  }

  async count(prefix: string): Promise<number> {
    this.checkOpen();
    const end = prefixEnd(prefix);
    let n = 0;
    for (let i = lowerBound(this.keys, prefix); i < this.keys.length; i++) {
      if (end !== undefined && this.keys[i] >= end) break;
      n++;
    }
    return n;
  }

  async create(key: string, value: string, opts: WriteOptions = {}): Promise<KeyValue> {
    this.checkOpen(opts.signal);
    assertValidKey(key);
    if (this.data.has(key)) throw new HedgeError('AlreadyExists', `key "${key}" already exists`);
    const rev = this.rev + 1;
    const kv = freezeKv({ key, value, createRevision: rev, modRevision: rev });
    this.data.set(key, kv);
    this.keys.splice(lowerBound(this.keys, key), 0, key);
    this.commit({ type: 'put', kv });
    return kv;
  }

  async update(key: string, value: string, opts: UpdateOptions): Promise<KeyValue> {
    this.checkOpen(opts.signal);
    const prev = this.data.get(key);
    if (prev === undefined) throw new HedgeError('NotFound', `key "${key}" not found`);
    if (prev.modRevision !== opts.expectedRevision) {
      throw new HedgeError(
        'Conflict',
        `key "${key}" was modified at revision ${prev.modRevision}, expected ${opts.expectedRevision}`,
      );
    }
    const rev = this.rev + 1;
    const kv = freezeKv({ key, value, createRevision: prev.createRevision, modRevision: rev });
    this.data.set(key, kv);
    this.commit({ type: 'put', kv, prevKv: prev });
    return kv;
  }

  async delete(key: string, opts: DeleteOptions = {}): Promise<KeyValue> {
    this.checkOpen(opts.signal);
    const prev = this.data.get(key);
    if (prev === undefined) throw new HedgeError('NotFound', `key "${key}" not found`);
    if (opts.expectedRevision !== undefined && prev.modRevision !== opts.expectedRevision) {
      throw new HedgeError(
        'Conflict',
        `key "${key}" was modified at revision ${prev.modRevision}, expected ${opts.expectedRevision}`,
      );
    }
    const rev = this.rev + 1;
    const kv = freezeKv({ ...prev, modRevision: rev });
    this.data.delete(key);
    this.keys.splice(lowerBound(this.keys, key), 1);
    this.commit({ type: 'delete', kv, prevKv: prev });
    return kv;
  }

  watch(prefix: string, opts: WatchOptions): AsyncIterable<WatchEvent> {
    this.checkOpen();
    return this.hub.watch(prefix, opts);
  }

  async currentRevision(): Promise<number> {
    this.checkOpen();
    return this.rev;
  }

  async compactedRevision(): Promise<number> {
    this.checkOpen();
    return this.compacted;
  }

  async compact(revision: number): Promise<void> {
    this.checkOpen();
    if (revision > this.rev) {
      throw new HedgeError('BadRequest', `cannot compact to future revision ${revision} (current ${this.rev})`);
    }
    this.compactTo(revision);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.hub.closeAll();
  }

  private commit(ev: ChangeEvent): void {
    this.rev = ev.kv.modRevision;
    this.events.push(ev);
    // Trim in slices so the array copy is amortised over many writes.
    if (this.events.length >= this.historyLimit + Math.max(1, this.historyLimit >> 3)) {
      this.compactTo(this.rev - this.historyLimit + 1);
    }
    this.hub.publish([ev]);
  }

  private compactTo(revision: number): void {
    if (revision <= this.compacted) return;
    const drop = lowerBoundRevision(this.events, revision);
    this.events = this.events.slice(drop);
    this.compacted = revision;
  }

  private readHistory(prefix: string, from: number, to: number, limit: number): ChangeEvent[] {
    if (from < this.compacted) throw compactedError(from, this.compacted);
    const out: ChangeEvent[] = [];
    for (let i = lowerBoundRevision(this.events, from); i < this.events.length && out.length < limit; i++) {
      const ev = this.events[i];
      if (ev.kv.modRevision > to) break;
      if (ev.kv.key.startsWith(prefix)) out.push(ev);
    }
    return out;
  }

  private checkOpen(signal?: AbortSignal): void {
    if (this.closed) throw storeClosedError();
    signal?.throwIfAborted();
  }
}

function freezeKv(kv: KeyValue): KeyValue {
  return Object.freeze(kv);
}

/** first index whose key is >= `key` */
function lowerBound(keys: readonly string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid] < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** first index whose event revision is >= `revision` */
function lowerBoundRevision(events: readonly ChangeEvent[], revision: number): number {
  let lo = 0;
  let hi = events.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (events[mid].kv.modRevision < revision) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
