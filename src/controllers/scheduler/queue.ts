import { podPriority } from '../../api/priority-classes.ts';
import type { PodObject } from '../common/types.ts';
import { podKey } from './node-info.ts';

export interface QueueEntry {
  key: string;
  pod: PodObject;
  attempts: number;
  /** when the entry may be tried again (ms); <= now means active */
  readyAt: number;
  lastAttemptAt: number;
}

export interface QueueOptions {
  initialBackoffMs: number;
  maxBackoffMs: number;
}

/** the pod's fit depends on where other pods are (required pod affinity, topology spread) */
function dependsOnPods(pod: PodObject): boolean {
  return !!pod.spec?.affinity?.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.length || !!pod.spec?.topologySpreadConstraints?.length;
}

/** spec or labels changed: worth another attempt; status-only updates (our own condition patch) are not */
function meaningfulChange(a: PodObject, b: PodObject): boolean {
  return JSON.stringify(a.spec) !== JSON.stringify(b.spec) || JSON.stringify(a.metadata.labels) !== JSON.stringify(b.metadata.labels);
}

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
 * Pending pods: an active queue (highest priority first, then FIFO) plus a waiting set ordered by readyAt. Failed pods wait with
 * exponential back-off; a cluster change (node added, resources freed) makes them ready again
 * once at least the initial back-off has passed since their last attempt.
 */
export class SchedulingQueue {
  private readonly active = new ActiveQueue();
  private readonly waiting = new Map<string, QueueEntry>();
  /** waiting entries that dependsOnPods: onPodPlaced has nothing to do while there are none */
  private podDependent = 0;
  private lastPromote = 0;

  constructor(private readonly opts: QueueOptions) {}

  get size(): number {
    return this.active.size + this.waiting.size;
  }

  has(key: string): boolean {
    return this.active.has(key) || this.waiting.has(key);
  }

  /** new pod → active; known pod → refresh the object, and activate when its spec changed */
  addOrUpdate(pod: PodObject, now: number): void {
    const key = podKey(pod);
    const cur = this.active.get(key) ?? this.waiting.get(key);
    if (!cur) {
      this.active.set(key, { key, pod, attempts: 0, readyAt: now, lastAttemptAt: 0 });
      return;
    }
    const changed = meaningfulChange(cur.pod, pod);
    if (changed && this.unwait(key)) {
      cur.readyAt = now;
      this.active.set(key, cur);
    }
    cur.pod = pod;
  }

  delete(key: string): void {
    this.active.delete(key);
    this.unwait(key);
  }

  private unwait(key: string): QueueEntry | undefined {
    const e = this.waiting.get(key);
    if (!e) return undefined;
    this.waiting.delete(key);
    if (dependsOnPods(e.pod)) this.podDependent--;
    return e;
  }

  /** the next pod to try, promoting waiting entries whose time has come */
  pop(now: number): QueueEntry | undefined {
    // also once a second while busy, as upstream flushes its backoff queue: a due pod of high
    // priority then passes the active pods of lower priority instead of waiting for all of them
    if (this.active.size === 0 || now - this.lastPromote >= PROMOTE_EVERY_MS) this.promoteDue(now);
    return this.active.shift();
  }

  private promoteDue(now: number): void {
    this.lastPromote = now;
    const due = [...this.waiting.values()].filter((e) => e.readyAt <= now).sort((a, b) => a.readyAt - b.readyAt);
    for (const e of due) {
      this.unwait(e.key);
      this.active.set(e.key, e);
    }
  }

  backoffMs(attempts: number): number {
    return Math.min(this.opts.maxBackoffMs, this.opts.initialBackoffMs * 2 ** Math.max(0, attempts - 1));
  }

  /** put a popped entry back after a failed attempt */
  requeue(e: QueueEntry, now: number): void {
    e.attempts++;
    e.lastAttemptAt = now;
    e.readyAt = now + this.backoffMs(e.attempts);
    this.unwait(e.key);
    this.waiting.set(e.key, e);
    if (dependsOnPods(e.pod)) this.podDependent++;
  }

  /** something changed in the cluster that may let waiting pods fit */
  onClusterChange(now: number): void {
    for (const e of this.waiting.values()) this.hurry(e, now);
  }

  /**
   * A pod was placed: waiting pods whose fit depends on other pods' places may fit now (upstream's
   * AssignedPodAdd event for InterPodAffinity and PodTopologySpread); the others cannot.
   */
  onPodPlaced(now: number): void {
    if (this.podDependent === 0) return;
    for (const e of this.waiting.values()) if (dependsOnPods(e.pod)) this.hurry(e, now);
  }

  private hurry(e: QueueEntry, now: number): void {
    e.readyAt = Math.min(e.readyAt, Math.max(now, e.lastAttemptAt + this.opts.initialBackoffMs));
  }

  /** earliest readyAt among waiting entries (for the loop's sleep), undefined when none */
  nextReadyAt(): number | undefined {
    let min: number | undefined;
    for (const e of this.waiting.values()) if (min === undefined || e.readyAt < min) min = e.readyAt;
    return min;
  }
}
