import { HedgeError } from '../../lib/errors.ts';
import type { ChangeEvent, HistorySource } from '../watch-hub.ts';

export interface EventRingOptions {
  /** the first revision the ring holds every event from (the feed's start revision) */
  start: number;
  /** at most this many events per resource (default 10,000) */
  maxEvents?: number;
  /** at most about this many bytes of keys and values, all resources together (default 64 MiB) */
  maxBytes?: number;
  /** a key's resource is its prefix through this many '/' (default 4: `/registry/<group>/<plural>/`) */
  shardDepth?: number;
}

/** what one event costs, roughly: its strings (one byte per character for the ASCII JSON stored) and the objects around them */
function eventBytes(ev: ChangeEvent): number {
  const prev = ev.prevKv === undefined ? 0 : ev.prevKv.key.length + ev.prevKv.value.length + 64;
  return ev.kv.key.length + ev.kv.value.length + prev + 128;
}

/** the prefix of `key` through its `depth`-th '/' (or through its last '/', when it has fewer) */
export function shardOf(key: string, depth: number): string {
  let end = -1;
  for (let i = 0; i < depth; i++) {
    const next = key.indexOf('/', end + 1);
    if (next < 0) break;
    end = next;
  }
  return key.slice(0, end + 1);
}

/** one resource's events, oldest first */
class Shard {
  events: ChangeEvent[] = [];
  /** index of the oldest event still held (the array is compacted now and then, not shifted per event) */
  head = 0;
  bytes = 0;
  /** every event of this resource with a revision >= this is held (or is still to come) */
  covered: number;

  constructor(start: number) {
    this.covered = start;
  }

  get size(): number {
    return this.events.length - this.head;
  }

  push(ev: ChangeEvent): number {
    this.events.push(ev);
    const b = eventBytes(ev);
    this.bytes += b;
    return b;
  }

  /** drops the oldest event; returns its bytes */
  dropOldest(): number {
    const ev = this.events[this.head];
    const b = eventBytes(ev);
    this.bytes -= b;
    this.head++;
    this.covered = Math.max(this.covered, ev.kv.modRevision + 1);
    if (this.head === this.events.length) {
      this.events = [];
      this.head = 0;
    } else if (this.head > 1_024 && this.head * 2 > this.events.length) {
      this.events = this.events.slice(this.head);
      this.head = 0;
    }
    return b;
  }

  /** index of the first held event with modRevision >= rev */
  lowerBound(rev: number): number {
    let lo = this.head;
    let hi = this.events.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.events[mid].kv.modRevision < rev) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/**
 * The recent events of a shared etcd watch, as the WatchHub's history: a watcher's start-up replay,
 * a slow watcher's catch-up and a re-watch from the last resourceVersion a client saw read it
 * instead of etcd. Held per resource (kube-apiserver keeps a watch cache per resource too): 10,000
 * nodes renew 1,000 Leases a second, and in one shared ring those would push every pod event out
 * within seconds, so a node's pod watch resuming from its last bookmark (up to a minute old) would
 * fall outside the history although no pod had changed since. Each resource is bounded by count,
 * all together by bytes (the largest resource gives way first); a read from before what a resource
 * still holds throws Gone, so the client re-lists as it would after an etcd compaction.
 */
export class EventRing implements HistorySource {
  private readonly shards = new Map<string, Shard>();
  private bytes = 0;
  private events = 0;
  /** where a resource without events so far is covered from: the feed's start, or a compaction */
  private start: number;
  private readonly maxEvents: number;
  private readonly maxBytes: number;
  private readonly depth: number;

  constructor(opts: EventRingOptions) {
    this.start = opts.start;
    this.maxEvents = Math.max(1, opts.maxEvents ?? 10_000);
    this.maxBytes = Math.max(1, opts.maxBytes ?? 64 * 1024 * 1024);
    this.depth = Math.max(1, opts.shardDepth ?? 4);
  }

  /** every event of every resource with a revision >= this is held (or is still to come) */
  get coveredFrom(): number {
    let covered = this.start;
    for (const s of this.shards.values()) covered = Math.max(covered, s.covered);
    return covered;
  }

  /** every event under `prefix` with a revision >= this is held (or is still to come) */
  coveredFor(prefix: string): number {
    let covered = this.start;
    for (const [name, s] of this.shards) if (overlaps(name, prefix)) covered = Math.max(covered, s.covered);
    return covered;
  }

  get size(): number {
    return this.events;
  }

  get byteSize(): number {
    return this.bytes;
  }

  /** Adds events in revision order (after everything held), then drops the oldest beyond the bounds. */
  append(events: readonly ChangeEvent[]): void {
    const touched = new Set<Shard>();
    for (const ev of events) {
      const name = shardOf(ev.kv.key, this.depth);
      let shard = this.shards.get(name);
      if (shard === undefined) {
        shard = new Shard(this.start);
        this.shards.set(name, shard);
      }
      this.bytes += shard.push(ev);
      this.events++;
      touched.add(shard);
    }
    for (const shard of touched) {
      while (shard.size > this.maxEvents) this.drop(shard);
    }
    while (this.bytes > this.maxBytes && this.events > 1) {
      let largest: Shard | undefined;
      for (const s of this.shards.values()) if (s.size > 0 && (largest === undefined || s.bytes > largest.bytes)) largest = s;
      if (largest === undefined) break;
      this.drop(largest);
    }
  }

  /** Forgets everything older than `revision` (the store compacted etcd to it). */
  trimTo(revision: number): void {
    for (const s of this.shards.values()) {
      while (s.size > 0 && s.events[s.head].kv.modRevision < revision) this.drop(s);
      s.covered = Math.max(s.covered, revision);
    }
    this.start = Math.max(this.start, revision);
  }

  readHistory(prefix: string, from: number, to: number, limit: number): ChangeEvent[] {
    const covered = this.coveredFor(prefix);
    if (from < covered) {
      throw new HedgeError('Gone', `watch history of ${prefix || '/'} from revision ${from} is no longer held (the shared watch holds ${covered} on)`);
    }
    const sources = [...this.shards].filter(([name]) => overlaps(name, prefix)).map(([, s]) => s);
    if (sources.length === 1) return readShard(sources[0], prefix, from, to, limit);
    // a prefix over several resources: merge them by revision
    const merged = sources.flatMap((s) => readShard(s, prefix, from, to, limit)).sort((a, b) => a.kv.modRevision - b.kv.modRevision);
    let n = Math.min(limit, merged.length);
    while (n > 0 && n < merged.length && merged[n].kv.modRevision === merged[n - 1].kv.modRevision) n++;
    return merged.slice(0, n);
  }

  private drop(shard: Shard): void {
    this.bytes -= shard.dropOldest();
    this.events--;
  }
}

/** whether keys under `prefix` can be in resource `name` (one is a prefix of the other) */
function overlaps(name: string, prefix: string): boolean {
  return name.startsWith(prefix) || prefix.startsWith(name);
}

function readShard(shard: Shard, prefix: string, from: number, to: number, limit: number): ChangeEvent[] {
  const out: ChangeEvent[] = [];
  for (let i = shard.lowerBound(from); i < shard.events.length; i++) {
    const ev = shard.events[i];
    const rev = ev.kv.modRevision;
    if (rev > to) break;
    // a page never ends inside a revision (an etcd transaction may write several keys at one)
    if (out.length >= limit && rev !== out[out.length - 1].kv.modRevision) break;
    if (ev.kv.key.startsWith(prefix)) out.push(ev);
  }
  return out;
}
