import type { Clock } from '../../client/clock.ts';
import { isHedgeError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import { formatTime } from '../../client/micro-time.ts';
import { Resources } from '../../client/resources.ts';
import type { KubeClient } from '../../client/types.ts';
import type { KubeObject } from '../../api/object.ts';

export interface EventInput {
  involved: KubeObject;
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/**
 * Writes core/v1 Events, folding repeats of the same (object, reason, message) into one
 * Event with a growing count, as client-go's event correlator does, so a pod retried every
 * few seconds does not flood the store.
 */
export class EventRecorder {
  private readonly seen = new Map<string, { name: string; namespace: string; count: number }>();

  constructor(
    private readonly opts: { client: KubeClient; component: string; instance?: string; clock: Clock; logger: Logger },
  ) {}

  async record(ev: EventInput, signal?: AbortSignal): Promise<void> {
    const { client, clock } = this.opts;
    const meta = ev.involved.metadata;
    const namespace = meta.namespace || 'default';
    const key = `${meta.uid ?? `${namespace}/${meta.name}`}|${ev.reason}|${ev.message}`;
    const now = formatTime(clock.now());
    const prior = this.seen.get(key);
    try {
      if (prior) {
        prior.count++;
        try {
          await client.patch(Resources.events, prior.name, 'merge', { count: prior.count, lastTimestamp: now }, { namespace: prior.namespace, signal });
          return;
        } catch (err) {
          if (!isHedgeError(err, 'NotFound')) throw err;
          this.seen.delete(key);
        }
      }
      // Upstream names events <object>.<unix nanos in hex>.
      const name = `${meta.name}.${(BigInt(clock.now()) * 1_000_000n + BigInt(this.seen.size)).toString(16)}`;
      await client.create(
        Resources.events,
        {
          apiVersion: 'v1',
          kind: 'Event',
          metadata: { name, namespace },
          involvedObject: {
            apiVersion: ev.involved.apiVersion,
            kind: ev.involved.kind,
            namespace: meta.namespace,
            name: meta.name,
            uid: meta.uid,
            resourceVersion: meta.resourceVersion,
          },
          reason: ev.reason,
          message: ev.message,
          type: ev.type,
          count: 1,
          firstTimestamp: now,
          lastTimestamp: now,
          source: { component: this.opts.component },
          reportingComponent: this.opts.component,
          reportingInstance: this.opts.instance ?? '',
        },
        { signal },
      );
      this.seen.set(key, { name, namespace, count: 1 });
      if (this.seen.size > 4096) this.seen.delete(this.seen.keys().next().value as string);
    } catch (err) {
      // Events are best effort: losing one must never block scheduling or eviction.
      this.opts.logger.warn({ err, reason: ev.reason }, 'could not record event');
    }
  }

  /** forget correlation state for an object that is gone */
  forget(uid: string | undefined): void {
    if (!uid) return;
    for (const k of this.seen.keys()) if (k.startsWith(`${uid}|`)) this.seen.delete(k);
  }
}
