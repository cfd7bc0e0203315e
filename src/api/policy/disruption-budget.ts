/**
 * PodDisruptionBudget helpers shared by the disruption controller and the eviction subresource
 * (upstream's component-helpers/apps/poddisruptionbudget plus the selector rule both apply).
 */
import type { Pod } from 'kubernetes-types/core/v1.js';
import type { Condition } from 'kubernetes-types/meta/v1.js';
import type { PodDisruptionBudget, PodDisruptionBudgetStatus } from 'kubernetes-types/policy/v1.js';
import { matches, selectorFromLabelSelector } from '../labels/selector.ts';

export const DISRUPTION_ALLOWED = 'DisruptionAllowed';
export const SUFFICIENT_PODS = 'SufficientPods';
export const INSUFFICIENT_PODS = 'InsufficientPods';
export const SYNC_FAILED = 'SyncFailed';

/** how long an eviction's `disruptedPods` entry holds before the controller stops expecting the delete (upstream DeletionTimeout) */
export const DISRUPTED_POD_TIMEOUT_MS = 2 * 60 * 1000;

/** podutil.IsPodReady */
export function isPodReady(pod: Pod): boolean {
  return (pod.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

/**
 * Whether `pdb` covers `pod`: same namespace, a valid selector that matches its labels. A nil or
 * empty selector matches nothing (upstream: "it should match nothing, not everything").
 */
export function budgetSelects(pdb: PodDisruptionBudget, pod: Pod): boolean {
  if ((pdb.metadata?.namespace ?? '') !== (pod.metadata?.namespace ?? '')) return false;
  const ls = pdb.spec?.selector;
  if (!ls) return false;
  let sel;
  try {
    sel = selectorFromLabelSelector(ls);
  } catch {
    return false;
  }
  if (sel.nothing || sel.requirements.length === 0) return false;
  return matches(sel, pod.metadata?.labels ?? {});
}

const rfc3339 = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** apimeta.SetStatusCondition: replaces the condition of its type; lastTransitionTime moves only when the status changes */
export function setStatusCondition(conds: Condition[], c: Omit<Condition, 'lastTransitionTime'>, now: Date): Condition[] {
  const old = conds.find((x) => x.type === c.type);
  const next: Condition = { ...c, lastTransitionTime: old && old.status === c.status ? old.lastTransitionTime : rfc3339(now) };
  return old ? conds.map((x) => (x === old ? next : x)) : [...conds, next];
}

/** pdbhelper.UpdateDisruptionAllowedCondition: True/SufficientPods while disruptions are allowed, else False/InsufficientPods */
export function updateDisruptionAllowedCondition(status: PodDisruptionBudgetStatus, now: Date): void {
  const allowed = status.disruptionsAllowed > 0;
  status.conditions = setStatusCondition(
    status.conditions ?? [],
    {
      type: DISRUPTION_ALLOWED,
      status: allowed ? 'True' : 'False',
      reason: allowed ? SUFFICIENT_PODS : INSUFFICIENT_PODS,
      message: '',
      observedGeneration: status.observedGeneration,
    },
    now,
  );
}

/** pdbhelper.ConditionsAreUpToDate */
export function conditionsAreUpToDate(pdb: PodDisruptionBudget): boolean {
  const st = pdb.status;
  const c = st?.conditions?.find((x) => x.type === DISRUPTION_ALLOWED);
  if (!st || !c || st.observedGeneration !== pdb.metadata?.generation) return false;
  return st.disruptionsAllowed > 0 ? c.status === 'True' && c.reason === SUFFICIENT_PODS : c.status === 'False' && c.reason === INSUFFICIENT_PODS;
}
