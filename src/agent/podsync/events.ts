import type { Pod } from 'kubernetes-types/core/v1.js';
import type { Clock } from '../../client/clock.ts';
import { formatMicroTime, formatTime } from '../../client/micro-time.ts';
import { Resources } from '../../client/resources.ts';
import type { KubeClient } from '../../client/types.ts';
import type { Logger } from '../../lib/log.ts';

export interface EventRecorder {
  emit(pod: Pod, type: 'Normal' | 'Warning', reason: string, message: string): void;
}

/** core/v1 Events, best effort: a failed event write is logged, never fails pod sync. */
export function apiEventRecorder(opts: { client: KubeClient; nodeName: string; clock: Clock; logger: Logger }): EventRecorder {
  return {
    emit(pod, type, reason, message) {
      const now = opts.clock.now();
      const ns = pod.metadata?.namespace ?? 'default';
      void opts.client
        .create(Resources.events, {
          metadata: { generateName: `${pod.metadata?.name ?? 'pod'}.`, namespace: ns },
          involvedObject: { kind: 'Pod', apiVersion: 'v1', namespace: ns, name: pod.metadata?.name, uid: pod.metadata?.uid },
          type,
          reason,
          message,
          source: { component: 'kubelet', host: opts.nodeName },
          reportingComponent: 'kubelet',
          reportingInstance: opts.nodeName,
          firstTimestamp: formatTime(now),
          lastTimestamp: formatTime(now),
          eventTime: formatMicroTime(now),
          action: reason,
          count: 1,
        })
        .catch((err: unknown) => opts.logger.debug({ err, reason }, 'event write failed'));
    },
  };
}

/** Collects events in memory (tests). */
export class MemoryEventRecorder implements EventRecorder {
  readonly events: { pod: string; type: string; reason: string; message: string }[] = [];
  emit(pod: Pod, type: 'Normal' | 'Warning', reason: string, message: string): void {
    this.events.push({ pod: pod.metadata?.name ?? '', type, reason, message });
  }
}
