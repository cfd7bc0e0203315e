/**
 * PriorityClass constants as upstream (k8s.io/kubernetes/pkg/apis/scheduling): shared by the
 * validation, the Priority admission plugin, the apiserver's bootstrap and the scheduler.
 */

/** user-defined classes may not go above this (upstream HighestUserDefinablePriority) */
export const HIGHEST_USER_DEFINABLE_PRIORITY = 1_000_000_000;
/** upstream SystemCriticalPriority */
export const SYSTEM_CRITICAL_PRIORITY = 2 * HIGHEST_USER_DEFINABLE_PRIORITY;
/** names with this prefix are reserved for the system classes */
export const SYSTEM_PRIORITY_CLASS_PREFIX = 'system-';
/** a pod without a class where no class is globalDefault */
export const DEFAULT_PRIORITY = 0;

export type PreemptionPolicy = 'PreemptLowerPriority' | 'Never';
export const PREEMPTION_POLICIES: readonly PreemptionPolicy[] = ['PreemptLowerPriority', 'Never'];

export interface SystemPriorityClass {
  name: string;
  value: number;
  description: string;
}

/** the classes every cluster has, created at bootstrap and never deletable (upstream systemPriorityClasses) */
export const SYSTEM_PRIORITY_CLASSES: readonly SystemPriorityClass[] = [
  {
    name: 'system-node-critical',
    value: SYSTEM_CRITICAL_PRIORITY + 1000,
    description: 'Used for system critical pods that must not be moved from their current node.',
  },
  {
    name: 'system-cluster-critical',
    value: SYSTEM_CRITICAL_PRIORITY,
    description: 'Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.',
  },
];

export function systemPriorityClass(name: string): SystemPriorityClass | undefined {
  return SYSTEM_PRIORITY_CLASSES.find((c) => c.name === name);
}

/** The pod's priority as the scheduler reads it (upstream corev1helpers.PodPriority: unset is 0). */
export function podPriority(pod: { spec?: { priority?: number } }): number {
  return pod.spec?.priority ?? DEFAULT_PRIORITY;
}
