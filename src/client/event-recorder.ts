/**
 * The one core/v1 Event writer, for the agent (component `kubelet`) and the controllers.
 * Repeats of the same event (same object, type, reason, message, source) fold into one Event
 * with a growing count, lastTimestamp and series, as client-go's EventCorrelator does, so a
 * pod retried every few seconds (CrashLoopBackOff, a failing pull) does not flood the store.
 */
import type { Clock } from './clock.ts';
import { isHedgeError } from '../lib/errors.ts';
import type { Logger } from '../lib/log.ts';
import { formatMicroTime, formatTime } from './micro-time.ts';
import { Resources } from './resources.ts';
import type { KubeClient } from './types.ts';

/** what an event is about: any object with kind and metadata (a Pod, a Node, a KubeObject) */
export interface InvolvedObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; uid?: string; resourceVersion?: string };
}

export interface EventInput {
  involved: InvolvedObject;
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
  /** the event's `action` (default: the reason) */
  action?: string;
  /** a second object the event is about (core/v1 Event `related`, e.g. the preemptor of a Preempted pod) */
  related?: InvolvedObject;
}

/** The seam code that reports events talks to: fire and forget, never fails the caller. */
export interface EventSink {
  emit(ev: EventInput): void;
}

export interface EventRecorderOptions {
  client: KubeClient;
  /** source.component and reportingComponent, e.g. `kubelet`, `default-scheduler` */
  component: string;
  /** reportingInstance (node name, leader identity) */
  instance?: string;
  /** source.host (the agent's node name) */
  host?: string;
  clock: Clock;
  logger: Logger;
  /** level a failed write is logged at: an offline edge node expects failures (default warn) */
  failureLevel?: 'warn' | 'debug';
}

/** upstream's LRU size for correlation state */
const MAX_TRACKED = 4096;

interface Folded {
  name: string;
  namespace: string;
  count: number;
}

export class EventRecorder implements EventSink {
  readonly #o: EventRecorderOptions;
  readonly #seen = new Map<string, Folded>();
  /** writes of one key run in order, so a quick repeat patches the first instead of racing it */
  readonly #pending = new Map<string, Promise<void>>();
  #seq = Math.floor(Math.random() * 1_000_000);

  constructor(opts: EventRecorderOptions) {
    this.#o = opts;
  }

  emit(ev: EventInput): void {
    void this.record(ev);
  }

  /** Writes (or folds) the event; resolves once written or given up on. Never rejects. */
  async record(ev: EventInput, signal?: AbortSignal): Promise<void> {
    const m = ev.involved.metadata ?? {};
    const namespace = m.namespace || 'default';
    const key = [this.#o.component, this.#o.host ?? '', ev.involved.kind ?? '', m.uid ?? `${namespace}/${m.name ?? ''}`, ev.type, ev.reason, ev.message].join('|');
    const next = (this.#pending.get(key) ?? Promise.resolve()).then(() => this.#write(key, ev, namespace, signal));
    this.#pending.set(key, next);
    try {
      await next;
    } finally {
      if (this.#pending.get(key) === next) this.#pending.delete(key);
    }
  }

  async #write(key: string, ev: EventInput, namespace: string, signal: AbortSignal | undefined): Promise<void> {
    const { client, clock } = this.#o;
    const nowMs = clock.now();
    const now = formatTime(nowMs);
    const m = ev.involved.metadata ?? {};
    try {
      const prior = this.#seen.get(key);
      if (prior) {
        const count = prior.count + 1;
        try {
          await client.patch(
            Resources.events,
            prior.name,
            'merge',
            { count, lastTimestamp: now, series: { count, lastObservedTime: formatMicroTime(nowMs) } },
            { namespace: prior.namespace, signal },
          );
          prior.count = count;
          // most recently used last: the map's order is the LRU order
          this.#seen.delete(key);
          this.#seen.set(key, prior);
          return;
        } catch (err) {
          if (!isHedgeError(err, 'NotFound')) throw err;
          this.#seen.delete(key);
        }
      }
      // upstream names events <object>.<unix nanos in hex>
      this.#seq = (this.#seq + 1) % 1_000_000;
      const name = `${m.name ?? 'event'}.${(BigInt(nowMs) * 1_000_000n + BigInt(this.#seq)).toString(16)}`;
      const source: { component: string; host?: string } = { component: this.#o.component };
      if (this.#o.host) source.host = this.#o.host;
      await client.create(
        Resources.events,
        {
          apiVersion: 'v1',
          kind: 'Event',
          metadata: { name, namespace },
          involvedObject: {
            apiVersion: ev.involved.apiVersion,
            kind: ev.involved.kind,
            namespace: m.namespace,
            name: m.name,
            uid: m.uid,
            resourceVersion: m.resourceVersion,
          },
          reason: ev.reason,
          message: ev.message,
          type: ev.type,
          count: 1,
          firstTimestamp: now,
          lastTimestamp: now,
          eventTime: formatMicroTime(nowMs),
          action: ev.action ?? ev.reason,
          ...(ev.related ? { related: objectReference(ev.related) } : {}),
          source,
          reportingComponent: this.#o.component,
          reportingInstance: this.#o.instance ?? '',
        },
        { signal },
      );
      this.#seen.set(key, { name, namespace, count: 1 });
      if (this.#seen.size > MAX_TRACKED) this.#seen.delete(this.#seen.keys().next().value as string);
    } catch (err) {
      // events are best effort: losing one must never block scheduling, eviction or pod sync
      this.#o.logger[this.#o.failureLevel ?? 'warn']({ err, reason: ev.reason }, 'could not record event');
    }
  }

  /** forget correlation state for an object that is gone */
  forget(uid: string | undefined): void {
    if (!uid) return;
    for (const k of this.#seen.keys()) if (k.split('|')[3] === uid) this.#seen.delete(k);
  }
}

function objectReference(o: InvolvedObject): Record<string, string | undefined> {
  const m = o.metadata ?? {};
  return { apiVersion: o.apiVersion, kind: o.kind, namespace: m.namespace, name: m.name, uid: m.uid, resourceVersion: m.resourceVersion };
}

/** Collects events in memory (tests of code that reports events). */
export class MemoryEventSink implements EventSink {
  readonly events: { kind: string; name: string; type: string; reason: string; message: string }[] = [];
  emit(ev: EventInput): void {
    this.events.push({ kind: ev.involved.kind ?? '', name: ev.involved.metadata?.name ?? '', type: ev.type, reason: ev.reason, message: ev.message });
  }
}
