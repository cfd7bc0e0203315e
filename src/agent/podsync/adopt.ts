/**
 * Adoption: containers a previous agent started are taken over at agent start, without
 * restarting them. Per container name the newest attempt becomes current, the one before it
 * "previous" (for `logs --previous`), and what the pod's last written status says (restart
 * count, readiness, last termination) is carried over.
 */
import type { ContainerStatus as ApiContainerStatus, Pod } from 'kubernetes-types/core/v1.js';
import { join } from 'node:path';
import type { ContainerStatus } from '../runtime/types.ts';
import { Labels, type ContainerKind } from './labels.ts';
import type { ContainerRecord } from './types.ts';

export interface AdoptInput {
  pod: Pod;
  containers: ContainerStatus[];
  /** the worker's record for a container (created on first use) */
  record: (name: string, kind: ContainerKind) => ContainerRecord;
  /** the container's log directory (kubelet layout) */
  logDir: (name: string) => string;
  now: number;
}

/** Fills the records from the runtime's containers; returns the older attempts nobody needs any more. */
export function adoptContainers(input: AdoptInput): ContainerStatus[] {
  const { pod } = input;
  const previous = [...(pod.status?.containerStatuses ?? []), ...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.ephemeralContainerStatuses ?? [])];
  const byName = new Map<string, ContainerStatus[]>();
  for (const c of input.containers) {
    const label = c.labels[Labels.containerKind];
    const kind: ContainerKind = label === 'init' || label === 'ephemeral' ? label : 'app';
    const key = `${kind}/${c.labels[Labels.containerName] ?? c.name}`;
    byName.set(key, [...(byName.get(key) ?? []), c]);
  }
  const extras: ContainerStatus[] = [];
  for (const [key, list] of byName) {
    list.sort((a, b) => Number(a.labels[Labels.restartCount] ?? 0) - Number(b.labels[Labels.restartCount] ?? 0));
    const cur = list[list.length - 1];
    const [kind, name] = key.split('/') as [ContainerKind, string];
    const prevStatus = previous.find((s) => s.name === name);
    adoptOne(input.record(name, kind), { cur, prev: list.length > 1 ? list[list.length - 2] : undefined, prevStatus, logDir: input.logDir(name), now: input.now });
    extras.push(...list.slice(0, -2));
  }
  return extras;
}

function adoptOne(
  rec: ContainerRecord,
  a: { cur: ContainerStatus; prev: ContainerStatus | undefined; prevStatus: ApiContainerStatus | undefined; logDir: string; now: number },
): void {
  const { cur, prevStatus } = a;
  rec.id = cur.id;
  rec.prevId = a.prev?.id;
  rec.restartCount = Math.max(Number(cur.labels[Labels.restartCount] ?? 0), prevStatus?.restartCount ?? 0);
  rec.observed = cur.status;
  rec.logPath = join(a.logDir, `${rec.restartCount}.log`);
  rec.image = prevStatus?.image;
  rec.imageID = prevStatus?.imageID;
  if (cur.status.state === 'running') {
    rec.started = prevStatus?.started ?? true;
    rec.ready = prevStatus?.ready ?? false;
    rec.handledExit = undefined;
  }
  const prevTerm = prevStatus?.lastState?.terminated;
  if (prevTerm && rec.prevId) {
    rec.lastTerminated = {
      exitCode: prevTerm.exitCode,
      reason: prevTerm.reason ?? 'Error',
      message: prevTerm.message,
      startedAt: Date.parse(prevTerm.startedAt ?? '') || undefined,
      finishedAt: Date.parse(prevTerm.finishedAt ?? '') || a.now,
      containerId: rec.prevId,
    };
  }
}
