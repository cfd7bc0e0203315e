import { whenAborted } from '../lib/signals.ts';
import type { WatchEvent, WatchOptions, WatchTrigger } from './types.ts';

/** A committed change. Every write has its own revision, so there is exactly one per revision. */
export type ChangeEvent = Extract<WatchEvent, { type: 'put' | 'delete' }>;

/**
 * Where a watcher reads events it did not get live: its start-up replay, and the
 * catch-up after its live buffer overflowed. Synchronous on purpose: a read and
 * the switch to live delivery then happen in one turn of the event loop, so no
 * publish can slip between them.
 */
export interface HistorySource {
  /**
   * Change events with `from <= revision <= to` whose key starts with `prefix`,
   * oldest first, at most `limit`. Throws HedgeError('Gone') when `from` is older
   * than the compacted revision.
   */
  readHistory(prefix: string, from: number, to: number, limit: number): ChangeEvent[];
}

export interface WatchHubOptions {
  history: HistorySource;
  /** the latest committed revision when the hub starts */
  revision: number;
  /** live events one watcher may buffer before it falls back to reading history (default 10,000) */
  queueLimit?: number;
  /** events read from history at a time (default 500) */
  pageSize?: number;
}

type Mode = 'catchup' | 'live';

/** the watchers of one prefix: without a trigger, and with one by index function and value */
interface PrefixGroup {
  plain: Set<Watcher>;
  triggered: Map<WatchTrigger['values'], Map<string, Set<Watcher>>>;
  size: number;
}

class Watcher {
  mode: Mode = 'catchup';
  queue: ChangeEvent[] = [];
  wake: (() => void) | undefined;
  ended = false;
  /** set when the hub failed the watcher: its iterator throws it instead of finishing */
  failure: unknown;

  /** next revision to read from history while in catch-up mode */
  readFrom: number;

  constructor(
    readonly prefix: string,
    /** the watch's fromRevision: nothing older is ever delivered */
    readonly minRevision: number,
    readonly trigger: WatchTrigger | undefined,
  ) {
    this.readFrom = minRevision;
  }

  notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

/**
 * Fans committed events out to watchers. A watcher first replays history, then
 * takes live events from a bounded queue; when a consumer is so slow that the
 * queue passes `queueLimit`, the queue is dropped and the watcher replays from
 * history again from its first undelivered event. So slow watchers cost bounded
 * memory and lose nothing unless the store compacts past them, in which case the
 * iterator throws HedgeError('Gone') and the client re-lists (as with etcd).
 */
export class WatchHub {
  private readonly history: HistorySource;
  private readonly queueLimit: number;
  private readonly pageSize: number;
  private readonly watchers = new Set<Watcher>();
  /**
   * the same watchers by prefix: a commit is matched against each distinct prefix once, not once
   * per watcher (1,000 nodes watch pods under one prefix; a lease write matches none of them)
   */
  private readonly byPrefix = new Map<string, PrefixGroup>();
  private latest: number;
  /**
   * each event's trigger values, per values function: a history that hands out the same event
   * objects (the etcd feed's ring) then has them computed once, not once per watcher that catches
   * up through it (5,000 node watches resuming in a pod storm, each reading the pod history)
   */
  private readonly valuesMemo = new WeakMap<ChangeEvent, Map<WatchTrigger['values'], readonly string[]>>();

  constructor(opts: WatchHubOptions) {
    this.history = opts.history;
    this.latest = opts.revision;
    this.queueLimit = opts.queueLimit ?? 10_000;
    this.pageSize = opts.pageSize ?? 500;
  }

  /** the latest revision published to watchers */
  get revision(): number {
    return this.latest;
  }

  /**
   * Advances the published revision without events: nothing under the hub's prefixes changed up to
   * `revision` (an etcd progress notification), so bookmarks may say it.
   */
  advance(revision: number): void {
    if (revision > this.latest) this.latest = revision;
  }

  get watcherCount(): number {
    return this.watchers.size;
  }

  /** Call right after a commit, in the same synchronous block, with the events in revision order. */
  publish(events: readonly ChangeEvent[]): void {
    if (events.length === 0) return;
    this.latest = events[events.length - 1].kv.modRevision;
    for (const [prefix, group] of this.byPrefix) {
      const matching = events.filter((ev) => ev.kv.key.startsWith(prefix));
      if (matching.length === 0) continue;
      for (const w of group.plain) {
        if (w.mode !== 'live') continue;
        let added = false;
        for (const ev of matching) added = this.offer(w, ev) || added;
        this.settle(w, added);
      }
      // watchers with a trigger: each event's values computed once per index, and only the
      // watchers of those values touched
      for (const [values, byValue] of group.triggered) {
        const touched = new Set<Watcher>();
        for (const ev of matching) {
          const vs = this.valuesOrAll(values, ev);
          const sets = vs === 'all' ? [...byValue.values()] : [...new Set(vs)].map((v) => byValue.get(v) ?? []);
          for (const set of sets) for (const w of set) if (this.offer(w, ev)) touched.add(w);
        }
        for (const w of touched) this.settle(w, true);
      }
    }
  }

  /** queues a live event for a live watcher; true when queued */
  private offer(w: Watcher, ev: ChangeEvent): boolean {
    if (w.mode !== 'live' || ev.kv.modRevision < w.minRevision) return false;
    w.queue.push(ev);
    return true;
  }

  /** after a publish: a watcher past its queue limit falls back to history; one with news is woken */
  private settle(w: Watcher, added: boolean): void {
    if (w.queue.length > this.queueLimit) {
      w.readFrom = w.queue[0].kv.modRevision;
      w.queue = [];
      w.mode = 'catchup';
    }
    if (added) w.notify();
  }

  private add(w: Watcher): void {
    this.watchers.add(w);
    let group = this.byPrefix.get(w.prefix);
    if (!group) {
      group = { plain: new Set(), triggered: new Map(), size: 0 };
      this.byPrefix.set(w.prefix, group);
    }
    group.size++;
    if (!w.trigger) {
      group.plain.add(w);
      return;
    }
    let byValue = group.triggered.get(w.trigger.values);
    if (!byValue) {
      byValue = new Map();
      group.triggered.set(w.trigger.values, byValue);
    }
    let set = byValue.get(w.trigger.value);
    if (!set) {
      set = new Set();
      byValue.set(w.trigger.value, set);
    }
    set.add(w);
  }

  private remove(w: Watcher): void {
    if (!this.watchers.delete(w)) return;
    const group = this.byPrefix.get(w.prefix);
    if (!group) return;
    if (w.trigger) {
      const byValue = group.triggered.get(w.trigger.values);
      const set = byValue?.get(w.trigger.value);
      if (set?.delete(w) && set.size === 0) {
        byValue?.delete(w.trigger.value);
        if (byValue?.size === 0) group.triggered.delete(w.trigger.values);
      }
    } else group.plain.delete(w);
    if (--group.size === 0) this.byPrefix.delete(w.prefix);
  }

  /**
   * Ends every watcher: their iterators finish (store close), or throw `error` when given (the
   * events' source failed, so the watchers must re-watch from where they were).
   */
  closeAll(error?: unknown): void {
    for (const w of this.watchers) {
      w.ended = true;
      w.failure = error;
      w.queue = [];
      w.notify();
    }
    this.watchers.clear();
    this.byPrefix.clear();
  }

  watch(prefix: string, opts: WatchOptions): AsyncIterable<WatchEvent> {
    // The start revision is fixed now, not at the first next(): writes made between
    // watch() and the first pull are replayed from history.
    const from = opts.fromRevision !== undefined && opts.fromRevision > 0 ? opts.fromRevision : this.latest + 1;
    return this.run(new Watcher(prefix, from, opts.trigger), opts);
  }

  private async *run(w: Watcher, opts: WatchOptions): AsyncGenerator<WatchEvent> {
    const { signal } = opts;
    const interval = opts.progressIntervalMs ?? 0;
    if (signal.aborted) return;
    this.add(w);
    // a follower, not a listener: watches may share one signal (a server's, a test's)
    const forget = whenAborted(signal, () => {
      // Drop the buffer at once: a consumer may never call next() again.
      this.remove(w);
      w.queue = [];
      w.notify();
    });
    let timer: NodeJS.Timeout | undefined;
    let lastYield = Date.now();
    try {
      for (;;) {
        if (signal.aborted) return;
        if (w.ended) {
          if (w.failure !== undefined) throw w.failure;
          return;
        }
        const ev = w.queue.shift();
        if (ev !== undefined) {
          yield ev;
          lastYield = Date.now();
          continue;
        }
        if (w.mode === 'catchup') {
          this.catchUp(w);
          continue;
        }
        const progressDue = await new Promise<boolean>((resolve) => {
          w.wake = () => resolve(false);
          if (interval > 0) {
            timer = setTimeout(() => resolve(true), Math.max(0, lastYield + interval - Date.now()));
          }
        });
        w.wake = undefined;
        clearTimeout(timer);
        timer = undefined;
        if (progressDue && w.mode === 'live' && w.queue.length === 0 && !signal.aborted && !w.ended) {
          yield { type: 'progress', revision: this.latest };
          lastYield = Date.now();
        }
      }
    } finally {
      clearTimeout(timer);
      this.remove(w);
      forget();
    }
  }

  /**
   * An event's trigger values, or 'all' when the values function cannot tell (it throws: the
   * apiserver could not decrypt the value): every triggered watcher gets the event then and meets
   * the error itself, and the writer that publishes it is not disturbed.
   */
  private valuesOrAll(fn: WatchTrigger['values'], ev: ChangeEvent): readonly string[] | 'all' {
    try {
      return this.valuesOf(fn, ev);
    } catch {
      return 'all';
    }
  }

  private valuesOf(fn: WatchTrigger['values'], ev: ChangeEvent): readonly string[] {
    let byFn = this.valuesMemo.get(ev);
    if (byFn === undefined) {
      byFn = new Map();
      this.valuesMemo.set(ev, byFn);
    }
    let vs = byFn.get(fn);
    if (vs === undefined) {
      vs = fn(ev);
      byFn.set(fn, vs);
    }
    return vs;
  }

  private catchUp(w: Watcher): void {
    const page = this.history.readHistory(w.prefix, w.readFrom, this.latest, this.pageSize);
    const trigger = w.trigger;
    // a triggered watcher reads only its value's events (the old value included)
    w.queue = trigger
      ? page.filter((ev) => {
          const vs = this.valuesOrAll(trigger.values, ev);
          return vs === 'all' || vs.includes(trigger.value);
        })
      : page;
    if (page.length < this.pageSize) {
      w.mode = 'live';
    } else {
      w.readFrom = page[page.length - 1].kv.modRevision + 1;
    }
  }
}
