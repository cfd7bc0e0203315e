/**
 * Graceful stop of a deleted pod's running containers, all at once: preStop hook (within the
 * grace period), then SIGTERM, the rest of the grace period, SIGKILL.
 */
import type { Container, Pod } from 'kubernetes-types/core/v1.js';
import type { Clock } from '../../client/clock.ts';
import type { Logger } from '../../lib/log.ts';
import type { RuntimeHandler } from '../runtime/types.ts';
import { runLifecycleHook } from './lifecycle-hook.ts';
import type { ContainerKind } from './labels.ts';
import type { ContainerRecord } from './types.ts';

/** the shortest stop timeout given to a container, whatever the grace period */
export const MIN_GRACE_SECONDS = 2;

export async function stopPodContainers(o: {
  pod: Pod;
  handler: RuntimeHandler;
  record: (kind: ContainerKind, name: string) => ContainerRecord | undefined;
  graceSeconds: number;
  podIP: string | undefined;
  clock: Clock;
  logger: Logger;
  /** Normal Killing before a preStop hook */
  onKilling: (message: string) => void;
  signal: AbortSignal;
}): Promise<void> {
  const { pod, handler, graceSeconds: grace, signal } = o;
  const deadline = o.clock.now() + grace * 1000;
  const all = [
    ...(pod.spec?.containers ?? []).map((c) => ({ c, r: o.record('app', c.name) })),
    ...(pod.spec?.initContainers ?? []).map((c) => ({ c, r: o.record('init', c.name) })),
    // no lifecycle hooks: just stopped
    ...(pod.spec?.ephemeralContainers ?? []).map((c) => ({ c: c as Container, r: o.record('ephemeral', c.name) })),
  ];
  await Promise.all(
    all.map(async ({ c, r }) => {
      if (!r?.id || r.observed?.state !== 'running') return;
      const id = r.id;
      if (c.lifecycle?.preStop && grace > 0) {
        o.onKilling(`Stopping container ${c.name}`);
        await runLifecycleHook('preStop', c.lifecycle.preStop, {
          exec: (command, s) => handler.exec(id, { command, tty: false, signal: s }),
          podIP: o.podIP,
          ports: c.ports,
          timeoutMs: grace * 1000,
          signal,
        }).catch((err: unknown) => o.logger.warn({ err, container: c.name }, 'preStop hook failed'));
      }
      const left = Math.max(MIN_GRACE_SECONDS, Math.ceil((deadline - o.clock.now()) / 1000));
      await handler.stop(id, { timeoutSeconds: left, signal });
      r.observed = (await handler.status(id, signal).catch(() => undefined))?.status ?? r.observed;
    }),
  );
}
