/**
 * Graceful stop of a pod's running containers: the app containers all at once, then the sidecars
 * one by one, last started first; each gets its preStop hook (within the grace period), then
 * SIGTERM, the rest of the grace period, SIGKILL.
 */
import type { Container, Pod } from 'kubernetes-types/core/v1.js';
import type { Clock } from '../../client/clock.ts';
import type { Logger } from '../../lib/log.ts';
import type { RuntimeHandler } from '../runtime/types.ts';
import { runLifecycleHook } from './lifecycle-hook.ts';
import type { ContainerKind } from './labels.ts';
import type { ContainerRecord } from './types.ts';
import { isRestartableInit } from '../../api/containers.ts';

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
  const stopOne = async (c: Container, r: ContainerRecord | undefined): Promise<void> => {
    if (!r?.id || r.observed?.state !== 'running') return;
    const id = r.id;
    if (c.lifecycle?.preStop && grace > 0) {
      o.onKilling(`Stopping container ${c.name}`);
      await runLifecycleHook('preStop', c.lifecycle.preStop, {
        exec: (command, s) => handler.exec(id, { command, tty: false, signal: s }),
        podIP: o.podIP,
        ports: c.ports,
        timeoutMs: Math.max(0, deadline - o.clock.now()),
        signal,
      }).catch((err: unknown) => o.logger.warn({ err, container: c.name }, 'preStop hook failed'));
    }
    const left = Math.max(MIN_GRACE_SECONDS, Math.ceil((deadline - o.clock.now()) / 1000));
    await handler.stop(id, { timeoutSeconds: left, signal });
    r.observed = (await handler.status(id, signal).catch(() => undefined))?.status ?? r.observed;
  };
  const inits = pod.spec?.initContainers ?? [];
  const sidecars = inits.filter(isRestartableInit);
  // the app containers (and any init or ephemeral one still running) all at once...
  await Promise.all(
    [
      ...(pod.spec?.containers ?? []).map((c) => ({ c, r: o.record('app', c.name) })),
      ...inits.filter((c) => !isRestartableInit(c)).map((c) => ({ c, r: o.record('init', c.name) })),
      // no lifecycle hooks: just stopped
      ...(pod.spec?.ephemeralContainers ?? []).map((c) => ({ c: c as Container, r: o.record('ephemeral', c.name) })),
    ].map(({ c, r }) => stopOne(c, r)),
  );
  // ...then the sidecars, last started first, within what is left of the grace period (KEP-753):
  // a log shipper or proxy outlives what it serves
  for (const c of sidecars.reverse()) await stopOne(c, o.record('init', c.name));
}
