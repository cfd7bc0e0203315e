import { HedgeError } from '../../lib/errors.ts';
import type { ChangeEvent, HistorySource } from '../watch-hub.ts';

export interface EventRingOptions {
  /** the first revision the ring holds every event from (the feed's start revision) */
  start: number;
  /** at most this many events (default 10,000) */
  maxEvents?: number;
  /** at most about this many bytes of keys and values (default 32 MiB) */
  maxBytes?: number;
}

/** what one event costs, roughly: its strings (one byte per character for the ASCII JSON stored) and the objects around them */
function eventBytes(ev: ChangeEvent): number {
  const prev = ev.prevKv === undefined ? 0 : ev.prevKv.key.length + ev.prevKv.value.length + 64;
  return ev.kv.key.length + ev.kv.value.length + prev + 128;
}

/**
 * The recent events of a shared etcd watch, as the WatchHub's history: a watcher's start-up replay
 * and a slow watcher's catch-up read it instead of etcd. Bounded by count and bytes; the oldest
 * events go first, and a read from before what the ring still holds throws Gone, so the client
 * re-lists as it would after an etcd compaction.
 */
export class EventRing implements HistorySource {
  private events: ChangeEvent[] = [];
  /** index of the oldest event still held (the array is compacted now and then, not shifted per event) */
  private head = 0;
  private bytes = 0;
  private covered: number;
  private readonly maxEvents: number;
  private readonly maxBytes: number;

  constructor(opts: EventRingOptions) {
    this.covered = opts.start;
    this.maxEvents = Math.max(1, opts.maxEvents ?? 10_000);
    this.maxBytes = Math.max(1, opts.maxBytes ?? 32 * 1024 * 1024);
  }

  /** every event with a revision >= this is held (or is still to come) */
  get coveredFrom(): number {
    return this.covered;
  }

  get size(): number {
    return this.events.length - this.head;
  }

  get byteSize(): number {
    return this.bytes;
  }

  /** Adds events in revision order (after everything held), then drops the oldest beyond the bounds. */
  append(events: readonly ChangeEvent[]): void {
    for (const ev of events) {
      this.events.push(ev);
      this.bytes += eventBytes(ev);
    }
    while (this.size > this.maxEvents || (this.bytes > this.maxBytes && this.size > 1)) this.dropOldest();
    if (this.head > 1_024 && this.head * 2 > this.events.length) {
      this.events = this.events.slice(this.head);
      this.head = 0;
    }
  }

  /** Forgets everything older than `revision` (the store compacted etcd to it). */
  trimTo(revision: number): void {
    while (this.size > 0 && this.events[this.head].kv.modRevision < revision) this.dropOldest();
    this.covered = Math.max(this.covered, revision);
  }

  readHistory(prefix: string, from: number, to: number, limit: number): ChangeEvent[] {
    if (from < this.covered) {
      throw new HedgeError('Gone', `watch history from revision ${from} is no longer held (the shared watch holds ${this.covered} on)`);
    }
    const out: ChangeEvent[] = [];
    for (let i = this.lowerBound(from); i < this.events.length; i++) {
      const ev = this.events[i];
      const rev = ev.kv.modRevision;
      if (rev > to) break;
      // a page never ends inside a revision (an etcd transaction may write several keys at one)
      if (out.length >= limit && rev !== out[out.length - 1].kv.modRevision) break;
      if (ev.kv.key.startsWith(prefix)) out.push(ev);
    }
    return out;
  }

  private dropOldest(): void {
    const ev = this.events[this.head];
    this.bytes -= eventBytes(ev);
    this.head++;
    this.covered = Math.max(this.covered, ev.kv.modRevision + 1);
    if (this.head === this.events.length) {
      this.events = [];
      this.head = 0;
    }
  }

  /** index of the first held event with modRevision >= rev */
  private lowerBound(rev: number): number {
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
