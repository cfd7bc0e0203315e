import { toleratesTaint } from '../common/tolerations.ts';
import type { NodeInfo, PodInfo } from './node-info.ts';

export const MAX_SCORE = 100;

/** Weights as upstream's default profile: TaintToleration 3, PodTopologySpread 2, NodeResourcesFit 1. */
export const SCORE_WEIGHTS = { leastAllocated: 1, spread: 2, preferNoSchedule: 3 } as const;

/**
 * NodeResourcesFit LeastAllocated: mean over cpu and memory of free share after placing the
 * pod, with the scoring defaults for request-less containers so empty pods still spread.
 */
export function leastAllocatedScore(pod: PodInfo, ni: NodeInfo): number {
  const part = (alloc: number, used: number, want: number): number => {
    if (alloc <= 0) return 0;
    const req = used + want;
    return req > alloc ? 0 : ((alloc - req) * MAX_SCORE) / alloc;
  };
  const cpu = part(ni.allocatable.milliCPU, ni.nonZeroRequested.milliCPU, pod.nonZero.milliCPU);
  const mem = part(ni.allocatable.memory, ni.nonZeroRequested.memory, pod.nonZero.memory);
  return (cpu + mem) / 2;
}

/** Fewer pods of the same owner (or the same labels) on a node scores higher; normalised against the busiest candidate. */
export function spreadScore(pod: PodInfo, ni: NodeInfo, maxCount: number): number {
  if (maxCount <= 0) return MAX_SCORE;
  return ((maxCount - ni.spreadCount(pod.spreadKey)) * MAX_SCORE) / maxCount;
}

export function intolerablePreferNoSchedule(pod: PodInfo, ni: NodeInfo): number {
  const tols = (pod.pod.spec?.tolerations ?? []).filter((t) => !t.effect || t.effect === 'PreferNoSchedule');
  return (ni.node?.spec?.taints ?? []).filter(
    (taint) => taint.effect === 'PreferNoSchedule' && !tols.some((t) => toleratesTaint(t, taint)),
  ).length;
}

export function preferNoScheduleScore(count: number, maxCount: number): number {
  return maxCount <= 0 ? MAX_SCORE : MAX_SCORE - (count * MAX_SCORE) / maxCount;
}

export interface ScoredNode {
  name: string;
  score: number;
}

/** Weighted sum of the scores for each feasible node, highest first; ties broken by name for determinism. */
export function scoreNodes(pod: PodInfo, feasible: NodeInfo[]): ScoredNode[] {
  let maxSpread = 0;
  let maxTaints = 0;
  const taintCounts = feasible.map((ni) => {
    maxSpread = Math.max(maxSpread, ni.spreadCount(pod.spreadKey));
    const n = intolerablePreferNoSchedule(pod, ni);
    maxTaints = Math.max(maxTaints, n);
    return n;
  });
  const out = feasible.map((ni, i) => ({
    name: ni.name,
    score:
      SCORE_WEIGHTS.leastAllocated * leastAllocatedScore(pod, ni) +
      SCORE_WEIGHTS.spread * spreadScore(pod, ni, maxSpread) +
      SCORE_WEIGHTS.preferNoSchedule * preferNoScheduleScore(taintCounts[i], maxTaints),
  }));
  return out.sort((a, b) => b.score - a.score || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
