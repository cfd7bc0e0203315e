/**
 * Startup, liveness and readiness probes of one running container, once per pass: each probe
 * runs when its period is due and moves the record's started/ready flags. A failed startup or
 * liveness probe is returned as a kill for the worker to carry out.
 */
import type { Container, Probe } from 'kubernetes-types/core/v1.js';
import type { RuntimeHandler } from '../runtime/types.ts';
import { linkedSignal } from '../../lib/signals.ts';
import { runProbe } from './probe.ts';
import type { ContainerRecord, ProbeTrack } from './types.ts';

export interface ProbeContext {
  handler: RuntimeHandler;
  container: Container;
  record: ContainerRecord;
  podIP: string | undefined;
  now: number;
  signal: AbortSignal;
  /** a failed probe: Warning Unhealthy */
  onFailure: (message: string) => void;
}

type ProbeKind = 'startup' | 'liveness' | 'readiness';

/** Runs the due probes; returns the reason to kill the container, if one failed for good. */
export async function runProbes(ctx: ProbeContext): Promise<{ kill?: string }> {
  const { container: c, record: r } = ctx;
  const o = r.observed;
  if (o?.state !== 'running' || !r.id) return {};
  if (c.startupProbe && !r.started) {
    const t = await probeOnce(ctx, 'startup', c.startupProbe, o.startedAt.getTime());
    if (t?.ok === true) r.started = true;
    else if (t?.ok === false) return { kill: `Container ${c.name} failed startup probe, will be restarted` };
    if (!r.started) return {};
  }
  r.started = true;
  if (c.livenessProbe) {
    const t = await probeOnce(ctx, 'liveness', c.livenessProbe, o.startedAt.getTime());
    if (t?.ok === false) return { kill: `Container ${c.name} failed liveness probe, will be restarted` };
  }
  if (c.readinessProbe) {
    const t = await probeOnce(ctx, 'readiness', c.readinessProbe, o.startedAt.getTime());
    if (t?.ok !== undefined) r.ready = t.ok;
  } else r.ready = true;
  return {};
}

/** started/ready of a container that just came up, for the probes it does not have */
export function markStartedWithoutProbes(c: Container, r: ContainerRecord): void {
  if (!c.startupProbe) r.started = r.observed?.state === 'running';
  if (!c.readinessProbe && r.started) r.ready = true;
}

async function probeOnce(ctx: ProbeContext, kind: ProbeKind, p: Probe, startedAt: number): Promise<ProbeTrack | undefined> {
  const { record: r, now } = ctx;
  const id = r.id;
  if (!id) return undefined;
  const t = (r.probes[kind] ??= { nextAt: startedAt + (p.initialDelaySeconds ?? 0) * 1000, successes: 0, failures: 0 });
  if (now < t.nextAt) return undefined;
  t.nextAt = now + (p.periodSeconds ?? 10) * 1000;
  const res = await runProbe(p, {
    podIP: ctx.podIP,
    ports: ctx.container.ports,
    timeoutMs: (p.timeoutSeconds ?? 1) * 1000,
    exec: async (command, s) => {
      const signal = linkedSignal([s, ctx.signal]);
      try {
        return await ctx.handler.exec(id, { command, tty: false, signal });
      } finally {
        signal.clear();
      }
    },
  });
  if (res.ok) {
    t.successes++;
    t.failures = 0;
    if (t.successes >= (kind === 'readiness' ? (p.successThreshold ?? 1) : 1)) t.ok = true;
  } else {
    t.failures++;
    t.successes = 0;
    if (t.failures >= (p.failureThreshold ?? 3)) t.ok = false;
    ctx.onFailure(`${kind[0].toUpperCase()}${kind.slice(1)} probe failed: ${res.message}`);
  }
  return t;
}
