import { HedgeError } from '../../lib/errors.ts';
import type {
  DeleteOptions,
  KeyValue,
  ListOptions,
  ListResult,
  Store,
  UpdateOptions,
  WatchEvent,
  WatchOptions,
} from '../../store/types.ts';

/**
 * A small in-memory Store fake for apiserver tests (etcd semantics: one revision counter,
 * history per key, watch replay, compaction). Not for production: history grows until compact().
 */

type Version = { rev: number; kv: KeyValue | undefined };

interface Subscriber {
  prefix: string;
  push(ev: WatchEvent): void;
}

export class FakeMemoryStore implements Store {
  private rev = 1;
  private compacted = 0;
  private readonly versions = new Map<string, Version[]>();
  private readonly live = new Map<string, KeyValue>();
  private readonly events: { rev: number; ev: WatchEvent }[] = [];
  private readonly subs = new Set<Subscriber>();
  /** number of open watches; tests assert this drops back to 0 */
  get openWatches(): number {
    return this.subs.size;
  }

  async get(key: string, opts: { revision?: number } = {}): Promise<KeyValue | undefined> {
    if (opts.revision === undefined) return this.live.get(key);
    this.checkCompacted(opts.revision);
    return this.at(key, opts.revision);
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    const revision = opts.revision ?? this.rev;
    if (opts.revision !== undefined) this.checkCompacted(opts.revision);
    const keys = [...this.versions.keys()].filter((k) => k.startsWith(prefix)).sort();
    const all: KeyValue[] = [];
    for (const k of keys) {
      if (opts.startAfter !== undefined && k <= opts.startAfter) continue;
      const kv = opts.revision === undefined ? this.live.get(k) : this.at(k, revision);
      if (kv) all.push(kv);
    }
    const limit = opts.limit && opts.limit > 0 ? opts.limit : all.length;
    const items = all.slice(0, limit);
    return { items, revision, more: all.length > items.length, remaining: all.length - items.length };
  }

  async count(prefix: string): Promise<number> {
    let n = 0;
    for (const k of this.live.keys()) if (k.startsWith(prefix)) n++;
    return n;
  }

  async create(key: string, value: string): Promise<KeyValue> {
    if (this.live.has(key)) throw new HedgeError('AlreadyExists', `key ${key} exists`);
    const rev = ++this.rev;
    const kv: KeyValue = { key, value, createRevision: rev, modRevision: rev };
    this.write(key, kv, { type: 'put', kv });
    return kv;
  }

  async update(key: string, value: string, opts: UpdateOptions): Promise<KeyValue> {
    const cur = this.live.get(key);
    if (!cur) throw new HedgeError('NotFound', `key ${key} not found`);
    if (cur.modRevision !== opts.expectedRevision) throw new HedgeError('Conflict', `key ${key} modified`);
    const rev = ++this.rev;
    const kv: KeyValue = { key, value, createRevision: cur.createRevision, modRevision: rev };
    this.write(key, kv, { type: 'put', kv, prevKv: cur });
    return kv;
  }

  async delete(key: string, opts: DeleteOptions = {}): Promise<KeyValue> {
    const cur = this.live.get(key);
    if (!cur) throw new HedgeError('NotFound', `key ${key} not found`);
    if (opts.expectedRevision !== undefined && cur.modRevision !== opts.expectedRevision) {
      throw new HedgeError('Conflict', `key ${key} modified`);
    }
    const rev = ++this.rev;
    const kv: KeyValue = { ...cur, modRevision: rev };
    this.write(key, undefined, { type: 'delete', kv, prevKv: cur });
    return kv;
  }

  watch(prefix: string, opts: WatchOptions): AsyncIterable<WatchEvent> {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const store = this;
    return {
      [Symbol.asyncIterator]() {
        const queue: WatchEvent[] = [];
        let wake: (() => void) | undefined;
        let failed: unknown;
        let lastRev = store.rev;
        if (opts.fromRevision !== undefined) {
          if (opts.fromRevision <= store.compacted) {
            failed = new HedgeError('Gone', `required revision ${opts.fromRevision} has been compacted`);
          } else {
            for (const e of store.events) if (e.rev >= opts.fromRevision && keyOf(e.ev).startsWith(prefix)) queue.push(e.ev);
          }
        }
        const sub: Subscriber = {
          prefix,
          push(ev) {
            queue.push(ev);
            wake?.();
          },
        };
        store.subs.add(sub);
        let timer: NodeJS.Timeout | undefined;
        if (opts.progressIntervalMs) {
          timer = setInterval(() => {
            if (queue.length === 0 && store.rev >= lastRev) {
              queue.push({ type: 'progress', revision: store.rev });
              wake?.();
            }
          }, opts.progressIntervalMs);
        }
        const stop = (): void => {
          store.subs.delete(sub);
          if (timer) clearInterval(timer);
          wake?.();
        };
        opts.signal.addEventListener('abort', stop, { once: true });
        if (opts.signal.aborted) stop();
        return {
          async next(): Promise<IteratorResult<WatchEvent>> {
            for (;;) {
              if (failed) {
                stop();
                const f = failed;
                failed = undefined;
                throw f;
              }
              if (opts.signal.aborted) {
                stop();
                return { done: true, value: undefined };
              }
              const ev = queue.shift();
              if (ev) {
                if (ev.type !== 'progress') lastRev = ev.kv.modRevision;
                return { done: false, value: ev };
              }
              await new Promise<void>((r) => (wake = r));
              wake = undefined;
            }
          },
          async return(): Promise<IteratorResult<WatchEvent>> {
            stop();
            return { done: true, value: undefined };
          },
        };
      },
    };
  }

  async currentRevision(): Promise<number> {
    return this.rev;
  }

  async compactedRevision(): Promise<number> {
    return this.compacted;
  }

  async compact(revision: number): Promise<void> {
    this.compacted = Math.max(this.compacted, revision - 1);
    while (this.events.length > 0 && this.events[0].rev < revision) this.events.shift();
  }

  async close(): Promise<void> {
    for (const s of [...this.subs]) this.subs.delete(s);
  }

  private write(key: string, kv: KeyValue | undefined, ev: WatchEvent): void {
    const list = this.versions.get(key) ?? [];
    list.push({ rev: this.rev, kv });
    this.versions.set(key, list);
    if (kv) this.live.set(key, kv);
    else this.live.delete(key);
    this.events.push({ rev: this.rev, ev });
    for (const s of this.subs) if (key.startsWith(s.prefix)) s.push(ev);
  }

  private at(key: string, revision: number): KeyValue | undefined {
    const list = this.versions.get(key);
    if (!list) return undefined;
    let found: KeyValue | undefined;
    for (const v of list) {
      if (v.rev > revision) break;
      found = v.kv;
    }
    return found;
  }

  private checkCompacted(revision: number): void {
    if (revision <= this.compacted) throw new HedgeError('Gone', `required revision ${revision} has been compacted`);
  }
}

function keyOf(ev: WatchEvent): string {
  return ev.type === 'progress' ? '' : ev.kv.key;
}
