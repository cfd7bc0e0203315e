import type { ContainerStatus as K8sContainerStatus, Pod, PodCondition, PodStatus } from 'kubernetes-types/core/v1.js';
import { formatTime } from '../../client/micro-time.ts';
import type { ContainerRecord, PodPhase } from './types.ts';

export interface StatusInput {
  pod: Pod;
  phase: PodPhase;
  inits: ContainerRecord[];
  apps: ContainerRecord[];
  sandboxReady: boolean;
  sandboxError?: { reason: string; message: string };
  initialized: boolean;
  podIP?: string;
  /** every family's address, podIP first (dual-stack); default [podIP] */
  podIPs?: string[];
  hostIP?: string;
  startTime: number;
  now: number;
  /** lastTransitionTime per condition type from the previous status */
  previous?: PodStatus;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** The status the agent owns, built from its records (pure). qosClass and foreign conditions are kept. */
export function buildPodStatus(i: StatusInput): PodStatus {
  const apps = i.apps.map((r) => containerStatus(r, i.pod, 'app'));
  const inits = i.inits.map((r) => containerStatus(r, i.pod, 'init'));
  const containersReady = i.apps.length > 0 && i.apps.every((r) => r.ready);
  const terminal = i.phase === 'Succeeded' || i.phase === 'Failed';
  const notReady = i.apps.filter((r) => !r.ready).map((r) => r.name);
  const notReadyMsg = `containers with unready status: [${notReady.join(' ')}]`;
  const prevConds = new Map((i.previous?.conditions ?? []).map((c) => [c.type, c]));
  const cond = (type: string, ok: boolean, reason?: string, message?: string): PodCondition => {
    const prev = prevConds.get(type);
    const status = ok ? 'True' : 'False';
    return {
      type,
      status,
      lastProbeTime: null as unknown as undefined,
      lastTransitionTime: prev && prev.status === status && prev.lastTransitionTime ? prev.lastTransitionTime : formatTime(i.now),
      ...(reason ? { reason } : {}),
      ...(message ? { message } : {}),
    };
  };
  const conditions: PodCondition[] = [
    cond('PodReadyToStartContainers', i.sandboxReady && !terminal, i.sandboxError?.reason, i.sandboxError?.message),
    cond('Initialized', i.initialized, i.initialized ? undefined : 'ContainersNotInitialized', i.initialized ? undefined : `containers with incomplete status: [${i.inits.filter((r) => !(r.observed?.state === 'exited' && r.observed.exitCode === 0)).map((r) => r.name).join(' ')}]`),
    cond('Ready', containersReady && !terminal, containersReady && !terminal ? undefined : terminal ? 'PodCompleted' : 'ContainersNotReady', containersReady || terminal ? undefined : notReadyMsg),
    cond('ContainersReady', containersReady && !terminal, containersReady && !terminal ? undefined : terminal ? 'PodCompleted' : 'ContainersNotReady', containersReady || terminal ? undefined : notReadyMsg),
  ];
  const ours = new Set(conditions.map((c) => c.type));
  for (const c of i.previous?.conditions ?? []) if (!ours.has(c.type)) conditions.push(c);
  const order = ['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady', 'PodScheduled'];
  conditions.sort((a, b) => rank(order, a.type) - rank(order, b.type));

  const st: Mutable<PodStatus> = {
    phase: i.phase,
    conditions,
    ...(i.hostIP ? { hostIP: i.hostIP, hostIPs: [{ ip: i.hostIP }] } : {}),
    ...(i.podIP ? { podIP: i.podIP, podIPs: (i.podIPs?.[0] === i.podIP ? i.podIPs : [i.podIP]).map((ip) => ({ ip })) } : {}),
    startTime: formatTime(i.startTime),
    ...(inits.length ? { initContainerStatuses: inits } : {}),
    containerStatuses: apps,
  };
  if (i.previous?.qosClass) st.qosClass = i.previous.qosClass;
  return st;
}

const rank = (order: string[], t: string): number => {
  const i = order.indexOf(t);
  return i < 0 ? order.length : i;
};

function containerStatus(r: ContainerRecord, pod: Pod, kind: 'init' | 'app'): K8sContainerStatus {
  const spec = (kind === 'init' ? pod.spec?.initContainers : pod.spec?.containers)?.find((c) => c.name === r.name);
  const o = r.observed;
  let state: K8sContainerStatus['state'];
  if (r.waiting) {
    state = { waiting: { reason: r.waiting.reason, ...(r.waiting.message ? { message: r.waiting.message } : {}) } };
  } else if (o?.state === 'running') {
    state = { running: { startedAt: formatTime(o.startedAt.getTime()) } };
  } else if (o?.state === 'exited' && r.id) {
    state = {
      terminated: {
        exitCode: o.exitCode,
        reason: o.reason,
        ...(o.message ? { message: o.message } : {}),
        ...(o.startedAt ? { startedAt: formatTime(o.startedAt.getTime()) } : {}),
        finishedAt: formatTime(o.finishedAt.getTime()),
        containerID: `hedge://${r.id}`,
      },
    };
  } else {
    state = { waiting: { reason: 'ContainerCreating' } };
  }
  const lt = r.lastTerminated;
  const showLast = lt && !(state.terminated && lt.containerId === r.id);
  return {
    name: r.name,
    state,
    lastState: showLast
      ? {
          terminated: {
            exitCode: lt.exitCode,
            reason: lt.reason,
            ...(lt.message ? { message: lt.message } : {}),
            ...(lt.startedAt ? { startedAt: formatTime(lt.startedAt) } : {}),
            finishedAt: formatTime(lt.finishedAt),
            containerID: `hedge://${lt.containerId}`,
          },
        }
      : {},
    ready: r.ready,
    restartCount: r.restartCount,
    image: r.image ?? spec?.image ?? '',
    imageID: r.imageID ?? '',
    ...(r.id && o && o.state !== 'unknown' ? { containerID: `hedge://${r.id}` } : {}),
    started: r.started,
  };
}

/** upstream's getPhase, reduced to the agent's records */
export function computePhase(o: {
  restartPolicy: string;
  initFailed: boolean;
  initialized: boolean;
  apps: ContainerRecord[];
}): PodPhase {
  if (o.initFailed) return 'Failed';
  if (!o.initialized) return 'Pending';
  let running = 0;
  let waiting = 0;
  let stopped = 0;
  let succeeded = 0;
  for (const r of o.apps) {
    const s = r.observed;
    if (r.waiting) {
      if (r.lastTerminated) stopped++;
      else waiting++;
    } else if (s?.state === 'running') running++;
    else if (s?.state === 'exited') {
      stopped++;
      if (s.exitCode === 0) succeeded++;
    } else waiting++;
  }
  if (waiting > 0) return 'Pending';
  if (running > 0) return 'Running';
  if (stopped > 0) {
    if (o.restartPolicy === 'Always') return 'Running';
    if (stopped === succeeded) return 'Succeeded';
    if (o.restartPolicy === 'Never') return 'Failed';
    return 'Running';
  }
  return 'Pending';
}
