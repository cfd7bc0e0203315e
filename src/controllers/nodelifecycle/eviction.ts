import { isMirrorPod } from '../../api/service-account.ts';
import type { Taint } from 'kubernetes-types/core/v1.js';
import { findToleration } from '../common/tolerations.ts';
import type { PodObject } from '../common/types.ts';
import type { NodeHealth } from './health.ts';

export const TAINT_UNREACHABLE = 'node.kubernetes.io/unreachable';
export const TAINT_NOT_READY = 'node.kubernetes.io/not-ready';

export interface EvictionConfig {
  /** for pods without a toleration of the taint (upstream DefaultTolerationSeconds admission adds 300 s) */
  defaultTolerationSeconds: number;
}

/** the NoExecute taint the node lifecycle controller puts on a node in this health, if any */
export function noExecuteTaintFor(h: NodeHealth): Taint | undefined {
  switch (h.kind) {
    case 'Healthy':
      return undefined;
    case 'NotReady':
      return { key: TAINT_NOT_READY, effect: 'NoExecute' };
    case 'Unreachable':
      return { key: TAINT_UNREACHABLE, effect: 'NoExecute' };
  }
}

/**
 * When (our clock, ms) the pod is to be evicted from a node in health `h`; undefined = never.
 * Autonomous nodes (ordinarySince undefined) never evict. A matching toleration without
 * tolerationSeconds tolerates forever; no matching toleration uses the configured default.
 */
export function evictionTime(pod: PodObject, h: NodeHealth, cfg: EvictionConfig): number | undefined {
  if (pod.metadata.deletionTimestamp) return undefined;
  // a static pod's mirror: deleting it stops nothing (the node re-creates it), as kubectl drain skips it
  if (isMirrorPod(pod)) return undefined;
  let base: number;
  switch (h.kind) {
    case 'Healthy':
      return undefined;
    case 'NotReady':
      base = h.since;
      break;
    case 'Unreachable':
      if (h.ordinarySince === undefined) return undefined;
      base = h.ordinarySince;
      break;
  }
  const taint = noExecuteTaintFor(h) as Taint;
  const tol = findToleration(pod.spec?.tolerations, taint);
  if (!tol) return base + cfg.defaultTolerationSeconds * 1000;
  if (tol.tolerationSeconds === undefined || tol.tolerationSeconds === null) return undefined;
  return base + Math.max(0, tol.tolerationSeconds) * 1000;
}
