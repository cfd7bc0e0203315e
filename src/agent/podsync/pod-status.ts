import type { Container, ContainerStatus as K8sContainerStatus, Pod, PodCondition, PodStatus } from 'kubernetes-types/core/v1.js';
import type { ContainerKind } from './labels.ts';
import { formatTime } from '../../client/micro-time.ts';
import type { ContainerRecord, PodPhase } from './types.ts';
import { isRestartableInit } from '../../api/containers.ts';

export interface StatusInput {
  pod: Pod;
  phase: PodPhase;
  inits: ContainerRecord[];
  apps: ContainerRecord[];
  /** the pod's ephemeral containers (kubectl debug), started once, never restarted */
  ephemerals?: ContainerRecord[];
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
  /** why the pod as a whole is where it is (status.reason/message), e.g. DeadlineExceeded */
  reason?: { reason: string; message: string };
  /** conditions the agent sets once, by type (an eviction's DisruptionTarget): they replace the previous status's */
  extraConditions?: PodCondition[];
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** the conditions the agent writes (buildPodStatus); the rest (PodScheduled, readiness gates', DisruptionTarget) are others' */
const OWN_CONDITIONS = new Set(['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady']);

/** the kubelet's MaxPodTerminationMessageLogLength: what the termination messages of a pod's containers take together */
const POD_TERMINATION_MESSAGE_BYTES = 12 * 1024;

/** The status the agent owns, built from its records (pure). qosClass and foreign conditions are kept. */
export function buildPodStatus(i: StatusInput): PodStatus {
  // split evenly, each message cut to its share from the end (upstream's normalizeStatus)
  const share = Math.floor(POD_TERMINATION_MESSAGE_BYTES / Math.max(1, (i.pod.spec?.containers?.length ?? 0) + (i.pod.spec?.initContainers?.length ?? 0)));
  const apps = i.apps.map((r) => containerStatus(r, i.pod, 'app', share));
  const inits = i.inits.map((r) => containerStatus(r, i.pod, 'init', share));
  const ephemerals = (i.ephemerals ?? []).map((r) => containerStatus(r, i.pod, 'ephemeral', share));
  // sidecars (init containers with restartPolicy Always) count toward readiness, as upstream's
  const sidecars = i.inits.filter((r) => isRestartableInit(containerSpecOf(i.pod, 'init', r.name)));
  const mustBeReady = [...sidecars, ...i.apps];
  const containersReady = i.apps.length > 0 && mustBeReady.every((r) => r.ready);
  const terminal = i.phase === 'Succeeded' || i.phase === 'Failed';
  const notReady = mustBeReady.filter((r) => !r.ready).map((r) => r.name);
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
  const gates = unmetReadinessGates(i.pod, prevConds);
  const ready = containersReady && !terminal && gates.length === 0;
  const conditions: PodCondition[] = [
    cond('PodReadyToStartContainers', i.sandboxReady && !terminal, i.sandboxError?.reason, i.sandboxError?.message),
    cond('Initialized', i.initialized, i.initialized ? undefined : 'ContainersNotInitialized', i.initialized ? undefined : `containers with incomplete status: [${i.inits.filter((r) => !(r.observed?.state === 'exited' && r.observed.exitCode === 0) && !(sidecars.includes(r) && r.started)).map((r) => r.name).join(' ')}]`),
    // upstream's GeneratePodReadyCondition: ContainersReady's verdict first, then the readiness gates
    ready
      ? cond('Ready', true)
      : terminal || !containersReady
        ? cond('Ready', false, terminal ? 'PodCompleted' : 'ContainersNotReady', terminal ? undefined : notReadyMsg)
        : cond('Ready', false, 'ReadinessGatesNotReady', gates.join(', ')),
    cond('ContainersReady', containersReady && !terminal, containersReady && !terminal ? undefined : terminal ? 'PodCompleted' : 'ContainersNotReady', containersReady || terminal ? undefined : notReadyMsg),
  ];
  const extra = new Map((i.extraConditions ?? []).map((c) => [c.type, c]));
  for (const c of i.previous?.conditions ?? []) if (!OWN_CONDITIONS.has(c.type) && !extra.has(c.type)) conditions.push(c);
  for (const c of extra.values()) {
    const prev = prevConds.get(c.type);
    conditions.push({ ...c, lastTransitionTime: prev && prev.status === c.status && prev.lastTransitionTime ? prev.lastTransitionTime : (c.lastTransitionTime ?? formatTime(i.now)) });
  }
  const order = ['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady', 'PodScheduled'];
  conditions.sort((a, b) => rank(order, a.type) - rank(order, b.type));

  const st: Mutable<PodStatus> = {
    phase: i.phase,
    ...(i.reason ? { reason: i.reason.reason, message: i.reason.message } : {}),
    conditions,
    ...(i.hostIP ? { hostIP: i.hostIP, hostIPs: [{ ip: i.hostIP }] } : {}),
    ...(i.podIP ? { podIP: i.podIP, podIPs: (i.podIPs?.[0] === i.podIP ? i.podIPs : [i.podIP]).map((ip) => ({ ip })) } : {}),
    startTime: formatTime(i.startTime),
    ...(inits.length ? { initContainerStatuses: inits } : {}),
    containerStatuses: apps,
    ...(ephemerals.length ? { ephemeralContainerStatuses: ephemerals } : {}),
  };
  if (i.previous?.qosClass) st.qosClass = i.previous.qosClass;
  return st;
}

/**
 * A pod the node refused at admission (upstream's rejectPod): Failed with the handler's reason and
 * `Pod was rejected: …`, its start time, and nothing of containers or conditions — it never ran.
 */
export function rejectedPodStatus(pod: Pod, rejection: { reason: string; message: string }, startTime: number): PodStatus {
  return {
    phase: 'Failed',
    reason: rejection.reason,
    message: rejection.message,
    startTime: formatTime(startTime),
    ...(pod.status?.qosClass ? { qosClass: pod.status.qosClass } : {}),
  };
}

/**
 * The status as a strategic merge patch, as the kubelet writes it: conditions merge by type and
 * only ours are sent, so a condition another controller wrote since our last read (a readiness
 * gate's) is not replaced by our older copy; podIPs and hostIPs, merged by ip in the schema, are
 * replaced whole, so an address the pod no longer has does not stay.
 */
export function statusPatch(status: PodStatus, alsoOwn: readonly string[] = []): Record<string, unknown> {
  const replaced = (list: readonly unknown[]): unknown[] => [...list, { $patch: 'replace' }];
  return {
    ...status,
    ...(status.conditions ? { conditions: status.conditions.filter((c) => OWN_CONDITIONS.has(c.type) || alsoOwn.includes(c.type)) } : {}),
    ...(status.podIPs ? { podIPs: replaced(status.podIPs) } : {}),
    ...(status.hostIPs ? { hostIPs: replaced(status.hostIPs) } : {}),
  };
}

/**
 * The pod's readiness gates (spec.readinessGates) whose condition, set by some other controller
 * through pods/status, is missing or not True: upstream's messages, in spec order.
 */
function unmetReadinessGates(pod: Pod, conds: ReadonlyMap<string, PodCondition>): string[] {
  const out: string[] = [];
  for (const g of pod.spec?.readinessGates ?? []) {
    const c = conds.get(g.conditionType);
    if (!c) out.push(`corresponding condition of pod readiness gate "${g.conditionType}" does not exist.`);
    else if (c.status !== 'True') out.push(`the status of pod readiness gate "${g.conditionType}" is not "True", but ${c.status}`);
  }
  return out;
}

/** a readiness gate's condition changed between two versions of the pod (someone else's status write) */
export function readinessGateChanged(pod: Pod, before: PodStatus | undefined, after: PodStatus | undefined): boolean {
  const gates = pod.spec?.readinessGates ?? [];
  if (gates.length === 0) return false;
  const status = (s: PodStatus | undefined, t: string): string | undefined => s?.conditions?.find((c) => c.type === t)?.status;
  return gates.some((g) => status(before, g.conditionType) !== status(after, g.conditionType));
}

const rank = (order: string[], t: string): number => {
  const i = order.indexOf(t);
  return i < 0 ? order.length : i;
};

/** the first `n` bytes of a message (a character cut in two is dropped) */
function headBytes(message: string, n: number): string {
  const b = Buffer.from(message);
  return b.length <= n ? message : b.subarray(0, n).toString('utf8').replace(/\uFFFD$/, '');
}

/** a container of the pod's spec by kind and name (an ephemeral one has a Container's fields, minus some) */
export function containerSpecOf(pod: Pod, kind: ContainerKind, name: string): Container | undefined {
  const list = kind === 'init' ? pod.spec?.initContainers : kind === 'ephemeral' ? (pod.spec?.ephemeralContainers as Container[] | undefined) : pod.spec?.containers;
  return list?.find((c) => c.name === name);
}

function containerStatus(r: ContainerRecord, pod: Pod, kind: ContainerKind, messageBytes: number): K8sContainerStatus {
  const spec = containerSpecOf(pod, kind, r.name);
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
        ...(o.message ? { message: headBytes(o.message, messageBytes) } : {}),
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
            ...(lt.message ? { message: headBytes(lt.message, messageBytes) } : {}),
            ...(lt.startedAt ? { startedAt: formatTime(lt.startedAt) } : {}),
            finishedAt: formatTime(lt.finishedAt),
            containerID: `hedge://${lt.containerId}`,
          },
        }
      : {},
    ready: kind !== 'ephemeral' && r.ready, // an ephemeral container is never ready (upstream)
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
