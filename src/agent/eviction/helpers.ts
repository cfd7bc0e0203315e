/**
 * The eviction manager's pure parts, after pkg/kubelet/eviction/helpers.go: which thresholds are
 * met, the node conditions they raise, how pods are ranked, and the messages an evicted pod gets.
 */
import type { Container, Pod } from 'kubernetes-types/core/v1.js';
import { podQOSClass } from '../../api/defaults/pod.ts';
import { Quantity } from '../../api/meta/quantity.ts';
import { findToleration } from '../../api/tolerations.ts';
import type { PodAdmitResult } from '../podsync/types.ts';
import { SIGNAL_RESOURCE, thresholdQuantity, type Signal, type StarvedResource, type Threshold } from './thresholds.ts';
import { ephemeralStorage } from '../stats/pod-storage.ts';
import type { Observations, PodUsage } from './types.ts';

/** kubelet's SystemCriticalPriority */
export const SYSTEM_CRITICAL_PRIORITY = 2_000_000_000;

export type PressureCondition = 'MemoryPressure' | 'DiskPressure' | 'PIDPressure';

export const SIGNAL_CONDITION: Record<Signal, PressureCondition> = {
  'memory.available': 'MemoryPressure',
  'allocatableMemory.available': 'MemoryPressure',
  'nodefs.available': 'DiskPressure',
  'nodefs.inodesFree': 'DiskPressure',
  'imagefs.available': 'DiskPressure',
  'imagefs.inodesFree': 'DiskPressure',
  'pid.available': 'PIDPressure',
};

/** upstream's thresholdsMet: available < threshold (+ its minimum reclaim when `enforceMinReclaim`) */
export function thresholdsMet(thresholds: readonly Threshold[], obs: Observations, enforceMinReclaim: boolean): Threshold[] {
  return thresholds.filter((t) => {
    const o = obs[t.signal];
    if (!o) return false;
    let q = thresholdQuantity(t.value, o.capacity);
    if (enforceMinReclaim && t.minReclaim) q = q.add(thresholdQuantity(t.minReclaim, o.capacity));
    return q.cmp(Quantity.fromInt(o.available)) > 0;
  });
}

export function mergeThresholds(a: readonly Threshold[], b: readonly Threshold[]): Threshold[] {
  const out = [...a];
  for (const t of b) if (!out.includes(t)) out.push(t);
  return out;
}

/** upstream's byEvictionPriority: memory (node and allocatable) first, the rest in their order */
export function byEvictionPriority(ts: readonly Threshold[]): Threshold[] {
  const memory = (t: Threshold): boolean => SIGNAL_RESOURCE[t.signal] === 'memory';
  return [...ts.filter(memory), ...ts.filter((t) => !memory(t))];
}

const annotations = (p: Pod): Record<string, string> => p.metadata?.annotations ?? {};

/** kubelettypes.IsStaticPod / IsMirrorPod */
export function isStaticOrMirrorPod(p: Pod): boolean {
  const a = annotations(p);
  if (a['kubernetes.io/config.mirror'] !== undefined) return true;
  const source = a['kubernetes.io/config.source'];
  return source !== undefined && source !== 'api';
}

/** kubelettypes.IsCriticalPod: static, mirror, or of system-critical priority */
export function isCriticalPod(p: Pod): boolean {
  if (isStaticOrMirrorPod(p)) return true;
  if (p.spec?.priority !== undefined) return p.spec.priority >= SYSTEM_CRITICAL_PRIORITY;
  // a pod not through priority admission yet: its class names the same thing
  const cls = p.spec?.priorityClassName;
  return cls === 'system-node-critical' || cls === 'system-cluster-critical';
}

/** upstream's Reason, of an eviction and of a pod refused under pressure */
export const EVICTED_REASON = 'Evicted';

const CONDITION_ORDER: readonly PressureCondition[] = ['MemoryPressure', 'DiskPressure', 'PIDPressure'];

/**
 * upstream's eviction admit handler (managerImpl.Admit): with no pressure, or for a critical pod,
 * yes; under MemoryPressure alone, every pod but a BestEffort one that does not tolerate the
 * node.kubernetes.io/memory-pressure:NoSchedule taint; under any other condition, none.
 */
export function admitUnderPressure(pod: Pod, conditions: ReadonlySet<PressureCondition>): PodAdmitResult {
  if (conditions.size === 0 || isCriticalPod(pod)) return { admit: true };
  if (conditions.size === 1 && conditions.has('MemoryPressure')) {
    const qos = pod.status?.qosClass || podQOSClass(pod.spec ?? { containers: [] });
    if (qos !== 'BestEffort') return { admit: true };
    if (findToleration(pod.spec?.tolerations, { key: 'node.kubernetes.io/memory-pressure', effect: 'NoSchedule' })) return { admit: true };
  }
  // upstream prints the []NodeConditionType with %v: `[MemoryPressure DiskPressure]`
  const list = CONDITION_ORDER.filter((c) => conditions.has(c)).join(' ');
  return { admit: false, reason: EVICTED_REASON, message: `The node had condition: [${list}]. ` };
}

const podPriority = (p: Pod): number => p.spec?.priority ?? 0;

const quantityOf = (c: Container, kind: 'requests' | 'limits', res: string): Quantity | undefined => {
  const v = c.resources?.[kind]?.[res];
  return v === undefined ? undefined : Quantity.parse(String(v));
};

/** upstream's podRequest: the app containers' sum, or the init containers' if larger */
export function podRequest(p: Pod, res: StarvedResource): Quantity {
  if (res !== 'memory' && res !== 'ephemeral-storage') return new Quantity(0n, 'BinarySI');
  const sum = (cs: readonly Container[]): Quantity => cs.reduce((acc, c) => acc.add(quantityOf(c, 'requests', res) ?? new Quantity(0n)), new Quantity(0n, 'BinarySI'));
  const apps = sum(p.spec?.containers ?? []);
  const inits = sum(p.spec?.initContainers ?? []);
  return apps.cmp(inits) > 0 ? apps : inits;
}

/**
 * what the pod holds of a disk resource, to rank it (upstream's podDiskUsage: fsStatsRoot,
 * fsStatsLogs, fsStatsLocalVolumeSource): containers' writable layers and logs and its local
 * ephemeral volumes — the summary's ephemeral-storage without the hosts file
 */
export function podDiskUsage(u: PodUsage, res: 'ephemeral-storage' | 'inodes'): number {
  const sum = ephemeralStorage(u, { etcHosts: false });
  return res === 'inodes' ? sum.inodes : sum.bytes;
}

export const podMemoryUsage = (u: PodUsage): number => u.containers.reduce((n, c) => n + (c.memoryWorkingSetBytes ?? 0), 0);

type Cmp = (a: Pod, b: Pod) => number;
/** upstream's cmpBool: true first */
const cmpBool = (a: boolean, b: boolean): number => (a === b ? 0 : a ? -1 : 1);

function orderedBy(pods: Pod[], ...cmps: Cmp[]): Pod[] {
  // a stable sort, as Go's sort.Sort is not, but a tie keeps the pods' given order either way here
  return [...pods].sort((a, b) => {
    for (const c of cmps) {
      const r = c(a, b);
      if (r !== 0) return r;
    }
    return 0;
  });
}

/** lower priority first */
const byPriority: Cmp = (a, b) => Math.sign(podPriority(a) - podPriority(b));

type UsageOf = (p: Pod) => PodUsage | undefined;

/** usage above request, a pod without figures first (upstream's exceedMemoryRequests / exceedDiskRequests) */
function exceedRequests(usage: UsageOf, measure: (u: PodUsage) => number, res: StarvedResource): Cmp {
  return (a, b) => {
    const ua = usage(a);
    const ub = usage(b);
    if (!ua || !ub) return cmpBool(!ua, !ub);
    const ea = Quantity.fromInt(measure(ua)).cmp(podRequest(a, res)) > 0;
    const eb = Quantity.fromInt(measure(ub)).cmp(podRequest(b, res)) > 0;
    return cmpBool(ea, eb);
  };
}

/** more usage above request first (upstream's memory() / disk()) */
function aboveRequest(usage: UsageOf, measure: (u: PodUsage) => number, res: StarvedResource): Cmp {
  return (a, b) => {
    const ua = usage(a);
    const ub = usage(b);
    if (!ua || !ub) return cmpBool(!ua, !ub);
    const da = Quantity.fromInt(measure(ua)).sub(podRequest(a, res));
    const db = Quantity.fromInt(measure(ub)).sub(podRequest(b, res));
    return db.cmp(da);
  };
}

/** the pods in the order they are evicted for `signal` (upstream's rankMemoryPressure, rankDiskPressureFunc, rankPIDPressure) */
export function rankForEviction(pods: readonly Pod[], signal: Signal, usage: UsageOf): Pod[] {
  const res = SIGNAL_RESOURCE[signal];
  switch (res) {
    case 'memory':
      return orderedBy([...pods], exceedRequests(usage, podMemoryUsage, res), byPriority, aboveRequest(usage, podMemoryUsage, res));
    case 'ephemeral-storage':
    case 'inodes': {
      const m = (u: PodUsage): number => podDiskUsage(u, res);
      return orderedBy([...pods], exceedRequests(usage, m, res), byPriority, aboveRequest(usage, m, res));
    }
    case 'pids':
      return orderedBy([...pods], byPriority, (a, b) => (usage(b)?.processes ?? 0) - (usage(a)?.processes ?? 0));
    default: {
      const never: never = res;
      throw new Error(`unknown resource ${String(never)}`);
    }
  }
}

const binary = (n: number): string => Quantity.fromInt(Math.max(0, Math.floor(n)), 'BinarySI').toString();

/**
 * upstream's evictionMessage, word for word (its trailing space included): the starved resource,
 * the threshold met and what is left, and every container using more of it than it requested.
 */
export function evictionMessage(res: StarvedResource, pod: Pod, usage: PodUsage | undefined, met: readonly Threshold[], obs: Observations): string {
  let msg = `The node was low on resource: ${res}. `;
  const t = met.find((x) => SIGNAL_RESOURCE[x.signal] === res && obs[x.signal]);
  const o = t && obs[t.signal];
  if (t && o) msg += `Threshold quantity: ${thresholdQuantity(t.value, o.capacity).toString()}, available: ${binary(o.available)}. `;
  if (!usage) return msg;
  for (const cs of usage.containers) {
    const c = pod.spec?.containers?.find((x) => x.name === cs.name);
    if (!c) continue;
    const req = quantityOf(c, 'requests', res) ?? new Quantity(0n);
    let used: number | undefined;
    if (res === 'ephemeral-storage' && cs.rootfs && cs.logs) used = cs.rootfs.bytes + cs.logs.bytes;
    else if (res === 'memory') used = cs.memoryWorkingSetBytes;
    if (used !== undefined && Quantity.fromInt(used).cmp(req) > 0) {
      msg += `Container ${c.name} was using ${binary(used)}, request is ${req.toString()}, has larger consumption of ${res}. `;
    }
  }
  return msg;
}

/** a limit of local ephemeral storage the pod broke, with upstream's message and metric signal */
export interface LocalStorageViolation {
  signal: 'emptydirfs.limit' | 'ephemeralpodfs.limit' | 'ephemeralcontainerfs.limit';
  message: string;
}

/** upstream's pod limit: the app containers' sum, or an init container's if larger; undefined when none sets one */
function podEphemeralLimit(p: Pod): Quantity | undefined {
  let sum: Quantity | undefined;
  for (const c of p.spec?.containers ?? []) {
    const q = quantityOf(c, 'limits', 'ephemeral-storage');
    if (q) sum = sum ? sum.add(q) : q;
  }
  for (const c of p.spec?.initContainers ?? []) {
    const q = quantityOf(c, 'limits', 'ephemeral-storage');
    if (q && (!sum || q.cmp(sum) > 0)) sum = q;
  }
  return sum;
}

/**
 * upstream's localStorageEviction for one pod (LocalStorageCapacityIsolation): an emptyDir over
 * its sizeLimit, then the pod over its containers' summed limit, then a container over its own.
 */
export function localStorageViolation(p: Pod, u: PodUsage): LocalStorageViolation | undefined {
  for (const v of p.spec?.volumes ?? []) {
    const limit = v.emptyDir?.sizeLimit;
    const used = u.volumes[v.name];
    if (limit === undefined || !used) continue;
    const size = Quantity.parse(String(limit));
    if (size.sign() === 1 && Quantity.fromInt(used.bytes).cmp(size) > 0) {
      return { signal: 'emptydirfs.limit', message: `Usage of EmptyDir volume "${v.name}" exceeds the limit "${size.toString()}". ` };
    }
  }
  const podLimit = podEphemeralLimit(p);
  // the summary's ephemeral-storage, as upstream's podEphemeralStorageLimitEviction
  if (podLimit && Quantity.fromInt(ephemeralStorage(u).bytes).cmp(podLimit) > 0) {
    return { signal: 'ephemeralpodfs.limit', message: `Pod ephemeral local storage usage exceeds the total limit of containers ${podLimit.toString()}. ` };
  }
  for (const c of p.spec?.containers ?? []) {
    const limit = quantityOf(c, 'limits', 'ephemeral-storage');
    const cs = u.containers.find((x) => x.name === c.name);
    if (!limit || !cs) continue;
    const used = (cs.rootfs?.bytes ?? 0) + (cs.logs?.bytes ?? 0);
    if (limit.cmp(Quantity.fromInt(used)) < 0) {
      return { signal: 'ephemeralcontainerfs.limit', message: `Container ${c.name} exceeded its local ephemeral storage limit "${limit.toString()}". ` };
    }
  }
  return undefined;
}
