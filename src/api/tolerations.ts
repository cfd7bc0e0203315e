/** Tolerations against taints (the scheduler, the node lifecycle controller, the agent's admission). */
import type { Taint, Toleration } from 'kubernetes-types/core/v1.js';

/** v1.Toleration.ToleratesTaint: empty key + Exists tolerates everything; empty effect matches all effects. */
export function toleratesTaint(tol: Toleration, taint: Taint): boolean {
  if (tol.effect && tol.effect !== taint.effect) return false;
  if (tol.key && tol.key !== taint.key) return false;
  if (!tol.key && tol.operator !== 'Exists') return false;
  switch (tol.operator ?? 'Equal') {
    case 'Exists':
      return true;
    case 'Equal':
      return (tol.value ?? '') === (taint.value ?? '');
    default:
      return false;
  }
}

export function findToleration(tols: Toleration[] | undefined, taint: Taint): Toleration | undefined {
  return (tols ?? []).find((t) => toleratesTaint(t, taint));
}
