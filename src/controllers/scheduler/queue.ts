import { podPriority } from '../../api/priority-classes.ts';
import type { PodObject } from '../common/types.ts';
import { hintFor, type ClusterEvent, type EventRegistration, type HintContext, type QueueingHint } from './events.ts';
import { podInfo, podKey, type PodInfo } from './node-info.ts';

export interface QueueEntry {
  key: string;
  pod: PodObject;
  attempts: number;
  /** when the entry may be tried again (ms); <= now means active */
  readyAt: number;
  lastAttemptAt: number;
  /** the plugins that rejected the pod in its last attempt (upstream's UnschedulablePlugins); empty: none did (e.g. no nodes) */
  unschedulablePlugins: ReadonlySet<string>;
  /** the pod as that attempt saw it, for the hints */
  info?: PodInfo;
  /** when it joined the unschedulable pods (ms) */
  unschedulableSince: number;
}

export interface QueueOptions {
  initialBackoffMs: number;
  maxBackoffMs: number;
  /**
   * how long a pod may stay unschedulable with no event moving it before it is tried anyway
   * (upstream's podMaxInUnschedulablePodsDuration, 5 min): the safety net for a hint that skipped
   * wrongly or a change no informer shows
   */
  maxUnschedulableMs?: number;
  /**
   * plugin name → the events it registered (upstream's EventsToRegister); a plugin not in the map
   * is moved by every event, as upstream treats plugins without EnqueueExtensions
   */
  registrations?: ReadonlyMap<string, readonly EventRegistration[]>;
  hintContext?: HintContext;
}

/** spec or labels changed: worth another attempt; status-only updates (our own condition patch) are not */
function meaningfulChange(a: PodObject, b: PodObject): boolean {
  return JSON.stringify(a.spec) !== JSON.stringify(b.spec) || JSON.stringify(a.metadata.labels) !== JSON.stringify(b.metadata.labels);
}

export const DEFAULT_MAX_UNSCHEDULABLE_MS = 5 * 60_000;
const NO_PLUGINS: ReadonlySet<string> = new Set();

const PROMOTE_EVERY_MS = 1000;

/**
 * The active pods, highest `spec.priority` first and FIFO within a priority (upstream's
 * PrioritySort: priority, then the time the pod entered the active queue). One insertion-ordered
 * map per priority value plus the values sorted: clusters use a handful of priorities, so add,
 * delete and pop stay O(1) apart from a new priority value's sorted insert.
 */
class ActiveQueue {
  private readonly byPriority = new Map<number, Map<string, QueueEntry>>();
  /** the priorities that have entries, highest first */
  private order: number[] = [];
  private readonly priorityOf = new Map<string, number>();

  get size(): number {
    return this.priorityOf.size;
  }

  get(key: string): QueueEntry | undefined {
    const p = this.priorityOf.get(key);
    return p === undefined ? undefined : this.byPriority.get(p)?.get(key);
  }

  has(key: string): boolean {
    return this.priorityOf.has(key);
  }

  /** a new key goes to the back of its priority; a known key keeps its place */
  set(key: string, e: QueueEntry): void {
    const p = podPriority(e.pod);
    const prev = this.priorityOf.get(key);
    if (prev !== undefined && prev !== p) this.delete(key);
    let bucket = this.byPriority.get(p);
    if (!bucket) {
      bucket = new Map();
      this.byPriority.set(p, bucket);
      let i = 0;
      while (i < this.order.length && (this.order[i] as number) > p) i++;
      this.order.splice(i, 0, p);
    }
    bucket.set(key, e);
    this.priorityOf.set(key, p);
  }

  delete(key: string): void {
    const p = this.priorityOf.get(key);
    if (p === undefined) return;
    this.priorityOf.delete(key);
    const bucket = this.byPriority.get(p);
    bucket?.delete(key);
    if (bucket?.size === 0) {
      this.byPriority.delete(p);
      this.order = this.order.filter((x) => x !== p);
    }
  }

  /** the first entry of the highest priority, removed */
  shift(): QueueEntry | undefined {
    const top = this.order[0];
    if (top === undefined) return undefined;
    const first = this.byPriority.get(top)?.values().next();
    if (!first || first.done) return undefined;
    this.delete(first.value.key);
    return first.value;
  }
}

/**
 * Pending pods, in upstream's three parts: the active queue (highest priority first, then FIFO);
 * the back-off set, ordered by readyAt, for pods whose attempt failed with an error or that an
 * event moved while their back-off runs; and the unschedulable pods, each with the plugins that
 * rejected it, which wait for a cluster event one of those plugins' hints says may help (upstream's
 * QueueingHints) or, at the latest, maxUnschedulableMs. A moved pod is tried once at least the
 * initial back-off has passed since its last attempt.
 */
export class SchedulingQueue {
  private readonly active = new ActiveQueue();
  private readonly backoff = new Map<string, QueueEntry>();
  /** insertion order is unschedulableSince order (an entry is deleted before it is set again) */
  private readonly unschedulable = new Map<string, QueueEntry>();
  /** plugin → keys of the unschedulable pods it rejected */
  private readonly byPlugin = new Map<string, Set<string>>();
  /** unschedulable pods no plugin rejected: every event moves them */
  private readonly noPlugin = new Set<string>();
  private lastPromote = 0;
  private readonly maxUnschedulableMs: number;
  private readonly registrations: ReadonlyMap<string, readonly EventRegistration[]>;
  private readonly hintContext: HintContext;
  /** counters for tests and the bench: events seen, hints called, pods moved by an event or by the flush */
  readonly stats = { events: 0, hintCalls: 0, movedByEvent: 0, flushed: 0 };

  constructor(private readonly opts: QueueOptions) {
    this.maxUnschedulableMs = opts.maxUnschedulableMs ?? DEFAULT_MAX_UNSCHEDULABLE_MS;
    this.registrations = opts.registrations ?? new Map();
    this.hintContext = opts.hintContext ?? { namespaceLabels: () => undefined };
  }

  get size(): number {
    return this.active.size + this.backoff.size + this.unschedulable.size;
  }

  /** pods waiting for an event (or the flush) */
  get unschedulableSize(): number {
    return this.unschedulable.size;
  }

  has(key: string): boolean {
    return this.active.has(key) || this.backoff.has(key) || this.unschedulable.has(key);
  }

  /** where the pod is: tests */
  where(key: string): 'active' | 'backoff' | 'unschedulable' | undefined {
    if (this.active.has(key)) return 'active';
    if (this.backoff.has(key)) return 'backoff';
    return this.unschedulable.has(key) ? 'unschedulable' : undefined;
  }

  /** new pod → active; known pod → refresh the object, and activate when its spec or labels changed */
  addOrUpdate(pod: PodObject, now: number): void {
    const key = podKey(pod);
    const cur = this.active.get(key) ?? this.backoff.get(key) ?? this.unschedulable.get(key);
    if (!cur) {
      this.active.set(key, { key, pod, attempts: 0, readyAt: now, lastAttemptAt: 0, unschedulablePlugins: NO_PLUGINS, unschedulableSince: 0 });
      return;
    }
    if (meaningfulChange(cur.pod, pod) && this.unwait(key)) {
      cur.readyAt = now;
      cur.info = undefined;
      this.active.set(key, cur);
    }
    cur.pod = pod;
  }

  delete(key: string): void {
    this.active.delete(key);
    this.unwait(key);
  }

  /** take the entry out of the back-off set or the unschedulable pods */
  private unwait(key: string): QueueEntry | undefined {
    const b = this.backoff.get(key);
    if (b) {
      this.backoff.delete(key);
      return b;
    }
    const e = this.unschedulable.get(key);
    if (!e) return undefined;
    this.unschedulable.delete(key);
    if (e.unschedulablePlugins.size === 0) this.noPlugin.delete(key);
    for (const p of e.unschedulablePlugins) this.byPlugin.get(p)?.delete(key);
    return e;
  }

  /** the next pod to try, promoting waiting entries whose time has come */
  pop(now: number): QueueEntry | undefined {
    this.flushUnschedulable(now);
    // also once a second while busy, as upstream flushes its backoff queue: a due pod of high
    // priority then passes the active pods of lower priority instead of waiting for all of them
    if (this.active.size === 0 || now - this.lastPromote >= PROMOTE_EVERY_MS) this.promoteDue(now);
    return this.active.shift();
  }

  private promoteDue(now: number): void {
    this.lastPromote = now;
    const due = [...this.backoff.values()].filter((e) => e.readyAt <= now).sort((a, b) => a.readyAt - b.readyAt);
    for (const e of due) {
      this.backoff.delete(e.key);
      this.active.set(e.key, e);
    }
  }

  /** upstream's flushUnschedulablePodsLeftover: pods unschedulable for maxUnschedulableMs are tried again */
  private flushUnschedulable(now: number): void {
    for (const e of this.unschedulable.values()) {
      if (e.unschedulableSince + this.maxUnschedulableMs > now) return;
      this.stats.flushed++;
      this.toBackoff(e, now);
    }
  }

  backoffMs(attempts: number): number {
    return Math.min(this.opts.maxBackoffMs, this.opts.initialBackoffMs * 2 ** Math.max(0, attempts - 1));
  }

  /** put a popped entry back after an attempt that failed with an error (e.g. its bind): back-off, then retry */
  requeue(e: QueueEntry, now: number): void {
    e.attempts++;
    e.lastAttemptAt = now;
    e.readyAt = now + this.backoffMs(e.attempts);
    this.unwait(e.key);
    this.backoff.set(e.key, e);
  }

  /**
   * A popped entry the filters rejected: it waits among the unschedulable pods until an event
   * that may help one of `plugins` (the plugins that rejected it) moves it, or the flush does.
   */
  markUnschedulable(e: QueueEntry, plugins: ReadonlySet<string>, info: PodInfo, now: number): void {
    e.attempts++;
    e.lastAttemptAt = now;
    e.readyAt = now + this.backoffMs(e.attempts);
    this.unwait(e.key);
    e.unschedulablePlugins = plugins;
    e.info = info;
    e.unschedulableSince = now;
    this.unschedulable.set(e.key, e);
    if (plugins.size === 0) this.noPlugin.add(e.key);
    for (const p of plugins) {
      let keys = this.byPlugin.get(p);
      if (!keys) {
        keys = new Set();
        this.byPlugin.set(p, keys);
      }
      keys.add(e.key);
    }
  }

  /**
   * upstream's MoveAllToActiveOrBackoffQueue: the unschedulable pods for which one of the plugins
   * that rejected them registered this event and its hint says Queue (or it has no hint) move to
   * the back-off set, due at least the initial back-off after their last attempt. Only the pods of
   * plugins that registered the event are looked at. Returns how many moved.
   */
  onEvent(event: ClusterEvent, now: number): number {
    this.stats.events++;
    if (this.unschedulable.size === 0) return 0;
    const keys = new Set(this.noPlugin);
    for (const [plugin, rejected] of this.byPlugin) {
      if (rejected.size === 0) continue;
      const regs = this.registrations.get(plugin);
      if (regs && !regs.some((r) => r.resource === event.resource && (r.actions & event.action) !== 0)) continue;
      for (const k of rejected) keys.add(k);
    }
    let moved = 0;
    for (const key of keys) {
      const e = this.unschedulable.get(key);
      if (!e || !this.worthRequeuing(e, event)) continue;
      this.toBackoff(e, Math.max(now, e.lastAttemptAt + this.opts.initialBackoffMs));
      moved++;
    }
    this.stats.movedByEvent += moved;
    return moved;
  }

  /** upstream's isPodWorthRequeuing: some plugin that rejected the pod says Queue (a plugin without registrations always does) */
  private worthRequeuing(e: QueueEntry, event: ClusterEvent): boolean {
    if (e.unschedulablePlugins.size === 0) return true;
    e.info ??= podInfo(e.pod);
    for (const plugin of e.unschedulablePlugins) {
      const regs = this.registrations.get(plugin);
      if (!regs) return true;
      for (const r of regs) {
        let hint: QueueingHint | undefined;
        try {
          this.stats.hintCalls++;
          hint = hintFor(r, event, e.info, this.hintContext);
        } catch {
          hint = 'Queue'; // upstream: a hint's error counts as Queue
        }
        if (hint === 'Queue') return true;
      }
    }
    return false;
  }

  private toBackoff(e: QueueEntry, readyAt: number): void {
    this.unwait(e.key);
    e.readyAt = Math.min(e.readyAt, readyAt);
    this.backoff.set(e.key, e);
  }

  /** when the loop must look again (the earliest back-off expiry or flush), undefined when nothing waits */
  nextReadyAt(): number | undefined {
    let min: number | undefined;
    for (const e of this.backoff.values()) if (min === undefined || e.readyAt < min) min = e.readyAt;
    const first = this.unschedulable.values().next();
    if (!first.done) {
      const flushAt = first.value.unschedulableSince + this.maxUnschedulableMs;
      if (min === undefined || flushAt < min) min = flushAt;
    }
    return min;
  }
}
