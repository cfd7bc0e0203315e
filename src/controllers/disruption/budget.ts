/**
 * The arithmetic of upstream's disruption controller (pkg/controller/disruption), free of I/O so
 * it can be tested on its own: expected pods and desired healthy from minAvailable /
 * maxUnavailable, healthy pods, the disruptedPods map, and the status it all gives.
 */
import type { OwnerReference } from 'kubernetes-types/meta/v1.js';
import type { PodDisruptionBudget, PodDisruptionBudgetStatus } from 'kubernetes-types/policy/v1.js';
import type { KubeObject } from '../../api/object.ts';
import { DISRUPTED_POD_TIMEOUT_MS, conditionsAreUpToDate, isPodReady, updateDisruptionAllowedCondition } from '../../api/policy/disruption-budget.ts';
import type { PodObject } from '../common/types.ts';
import { scaledValue } from '../workloads/deployment-util.ts';
import { controllerOf } from '../workloads/owners.ts';

export type PdbObject = PodDisruptionBudget & KubeObject;

/** a pod's controller and its desired replicas (upstream controllerAndScale) */
export interface ControllerScale {
  uid: string;
  scale: number;
}

/**
 * One of upstream's finders: the scalable controller behind a pod's controllerRef, or undefined
 * when this finder does not know it (another may).
 */
export type ScaleFinder = (ref: OwnerReference, namespace: string) => ControllerScale | undefined;

export class ExpectedCountError extends Error {}

/** intstr.GetScaledValueFromIntOrPercent(roundUp=true), refusing a string that is not a percentage */
function scaled(v: number | string, total: number): number {
  if (typeof v === 'string' && !/^-?\d+%$/.test(v)) throw new ExpectedCountError(`invalid value for IntOrString: invalid value ${JSON.stringify(v)}`);
  return scaledValue(v, total, true);
}

/**
 * getExpectedScale: the sum of the scales of the controllers of the pods. Pods without a
 * controller are listed as unmanaged (and counted as nothing); a controller no finder knows is
 * an error ("found no controllers for pod").
 */
export function expectedScale(pods: readonly PodObject[], finders: readonly ScaleFinder[]): { expected: number; unmanaged: string[] } {
  const scales = new Map<string, number>();
  const unmanaged: string[] = [];
  for (const pod of pods) {
    const ref = controllerOf(pod);
    if (!ref) {
      unmanaged.push(pod.metadata.name ?? '');
      continue;
    }
    if (scales.has(ref.uid)) continue;
    let found: ControllerScale | undefined;
    for (const f of finders) {
      found = f(ref, pod.metadata.namespace ?? '');
      if (found) break;
    }
    if (!found) throw new ExpectedCountError(`found no controllers for pod ${JSON.stringify(pod.metadata.name ?? '')}`);
    scales.set(found.uid, found.scale);
  }
  let expected = 0;
  for (const n of scales.values()) expected += n;
  return { expected, unmanaged };
}

/** getExpectedPodCount: maxUnavailable and percentage minAvailable need the controllers' scale; an integer minAvailable counts the pods */
export function expectedPodCount(
  pdb: PdbObject,
  pods: readonly PodObject[],
  finders: readonly ScaleFinder[],
): { expectedCount: number; desiredHealthy: number; unmanaged: string[] } {
  const spec = pdb.spec ?? {};
  if (spec.maxUnavailable !== undefined && spec.maxUnavailable !== null) {
    const { expected, unmanaged } = expectedScale(pods, finders);
    const maxUnavailable = scaled(spec.maxUnavailable, expected);
    return { expectedCount: expected, desiredHealthy: Math.max(0, expected - maxUnavailable), unmanaged };
  }
  if (spec.minAvailable !== undefined && spec.minAvailable !== null) {
    if (typeof spec.minAvailable === 'number') return { expectedCount: pods.length, desiredHealthy: spec.minAvailable, unmanaged: [] };
    const { expected, unmanaged } = expectedScale(pods, finders);
    return { expectedCount: expected, desiredHealthy: scaled(spec.minAvailable, expected), unmanaged };
  }
  return { expectedCount: 0, desiredHealthy: 0, unmanaged: [] };
}

/**
 * buildDisruptedPodMap: keeps the entries of pods that still exist, are not yet being deleted and
 * whose timeout has not passed; `recheckAt` is the earliest expiry left; `expired` the pods an
 * eviction promised to delete that are still here.
 */
export function buildDisruptedPodMap(pods: readonly PodObject[], pdb: PdbObject, now: number): { disrupted: Record<string, string>; recheckAt?: number; expired: PodObject[] } {
  const prior = pdb.status?.disruptedPods ?? {};
  const disrupted: Record<string, string> = {};
  const expired: PodObject[] = [];
  let recheckAt: number | undefined;
  for (const pod of pods) {
    if (pod.metadata.deletionTimestamp) continue;
    const name = pod.metadata.name ?? '';
    const at = prior[name];
    if (at === undefined) continue;
    const due = Date.parse(at) + DISRUPTED_POD_TIMEOUT_MS;
    if (Number.isNaN(due) || due < now) {
      expired.push(pod);
      continue;
    }
    if (recheckAt === undefined || due < recheckAt) recheckAt = due;
    disrupted[name] = at;
  }
  return { disrupted, recheckAt, expired };
}

/** countHealthyPods: Ready pods that are neither being deleted nor about to be (a live disruptedPods entry) */
export function countHealthyPods(pods: readonly PodObject[], disrupted: Record<string, string>, now: number): number {
  let n = 0;
  for (const pod of pods) {
    if (pod.metadata.deletionTimestamp) continue;
    const at = disrupted[pod.metadata.name ?? ''];
    if (at !== undefined && Date.parse(at) + DISRUPTED_POD_TIMEOUT_MS > now) continue;
    if (isPodReady(pod)) n++;
  }
  return n;
}

const sameMap = (a: Record<string, string> | undefined, b: Record<string, string>): boolean => {
  const ak = Object.keys(a ?? {});
  return ak.length === Object.keys(b).length && ak.every((k) => a?.[k] === b[k]);
};

/**
 * updatePdbStatus: the status to write, or undefined when the stored one already says it.
 * disruptionsAllowed is 0 while no pods are expected, so a budget that matches nothing yet is
 * safe when its first pods appear.
 */
export function nextStatus(
  pdb: PdbObject,
  v: { currentHealthy: number; desiredHealthy: number; expectedCount: number; disrupted: Record<string, string> },
  now: Date,
): PodDisruptionBudgetStatus | undefined {
  let allowed = v.currentHealthy - v.desiredHealthy;
  if (v.expectedCount <= 0 || allowed <= 0) allowed = 0;
  const st = pdb.status;
  const generation = pdb.metadata.generation ?? 0;
  if (
    st &&
    st.currentHealthy === v.currentHealthy &&
    st.desiredHealthy === v.desiredHealthy &&
    st.expectedPods === v.expectedCount &&
    st.disruptionsAllowed === allowed &&
    sameMap(st.disruptedPods, v.disrupted) &&
    (st.observedGeneration ?? 0) === generation &&
    conditionsAreUpToDate(pdb)
  ) {
    return undefined;
  }
  const out: PodDisruptionBudgetStatus = {
    currentHealthy: v.currentHealthy,
    desiredHealthy: v.desiredHealthy,
    expectedPods: v.expectedCount,
    disruptionsAllowed: allowed,
    observedGeneration: generation,
    conditions: st?.conditions ?? [],
    ...(Object.keys(v.disrupted).length > 0 ? { disruptedPods: v.disrupted } : {}),
  };
  updateDisruptionAllowedCondition(out, now);
  return out;
}
