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

/**
 * Pending pods: an active FIFO plus a waiting set ordered by readyAt. Failed pods wait with
 * exponential back-off; a cluster change (node added, resources freed) makes them ready again
 * once at least the initial back-off has passed since their last attempt.
 */
export class SchedulingQueue {
  private readonly active = new Map<string, QueueEntry>();
  private readonly waiting = new Map<string, QueueEntry>();
  /** waiting entries that dependsOnPods: onPodPlaced has nothing to do while there are none */
  private podDependent = 0;

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
    if (this.active.size === 0) this.promoteDue(now);
    const first = this.active.values().next();
    if (first.done) return undefined;
    this.active.delete(first.value.key);
    return first.value;
  }

  private promoteDue(now: number): void {
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
