import { toleratesTaint } from '../common/tolerations.ts';
import type { NodeInfo, PodInfo } from './node-info.ts';

export const MAX_SCORE = 100;

/** Weights as upstream's default profile: TaintToleration 3, PodTopologySpread 2, NodeResourcesFit 1. */
export const SCORE_WEIGHTS = { leastAllocated: 1, spread: 2, preferNoSchedule: 3 } as const;

/**
 * NodeResourcesFit LeastAllocated: mean over cpu and memory of free share after placing the
 * pod, with the scoring defaults for request-less containers so empty pods still spread.
 */
function freeShare(alloc: number, used: number, want: number): number {
  if (alloc <= 0) return 0;
  const req = used + want;
  return req > alloc ? 0 : ((alloc - req) * MAX_SCORE) / alloc;
}

export function leastAllocatedScore(pod: PodInfo, ni: NodeInfo): number {
  const cpu = freeShare(ni.allocatable.milliCPU, ni.nonZeroRequested.milliCPU, pod.nonZero.milliCPU);
  const mem = freeShare(ni.allocatable.memory, ni.nonZeroRequested.memory, pod.nonZero.memory);
  return (cpu + mem) / 2;
}

/** Fewer pods of the same owner (or the same labels) on a node scores higher; normalised against the busiest candidate. */
export function spreadScore(pod: PodInfo, ni: NodeInfo, maxCount: number): number {
  if (maxCount <= 0) return MAX_SCORE;
  return ((maxCount - ni.spreadCount(pod.spreadKey)) * MAX_SCORE) / maxCount;
}

export function intolerablePreferNoSchedule(pod: PodInfo, ni: NodeInfo): number {
  const taints = ni.node?.spec?.taints;
  if (taints === undefined || taints.length === 0) return 0;
  const tols = (pod.pod.spec?.tolerations ?? []).filter((t) => !t.effect || t.effect === 'PreferNoSchedule');
  return taints.filter(
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
  const out = scoreAll(pod, feasible);
  return out.sort(byScore);
}

/** The best node of scoreNodes without sorting them all: what the scheduler needs per pod. */
export function bestNode(pod: PodInfo, feasible: NodeInfo[]): ScoredNode | undefined {
  let best: ScoredNode | undefined;
  for (const s of scoreAll(pod, feasible)) if (best === undefined || byScore(s, best) < 0) best = s;
  return best;
}

function byScore(a: ScoredNode, b: ScoredNode): number {
  return b.score - a.score || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

function scoreAll(pod: PodInfo, feasible: NodeInfo[]): ScoredNode[] {
  let maxSpread = 0;
  let maxTaints = 0;
  const taintCounts = new Array<number>(feasible.length);
  for (let i = 0; i < feasible.length; i++) {
    const ni = feasible[i];
    maxSpread = Math.max(maxSpread, ni.spreadCount(pod.spreadKey));
    const n = intolerablePreferNoSchedule(pod, ni);
    maxTaints = Math.max(maxTaints, n);
    taintCounts[i] = n;
  }
  const out = new Array<ScoredNode>(feasible.length);
  for (let i = 0; i < feasible.length; i++) {
    const ni = feasible[i];
    out[i] = {
      name: ni.name,
      score:
        SCORE_WEIGHTS.leastAllocated * leastAllocatedScore(pod, ni) +
        SCORE_WEIGHTS.spread * spreadScore(pod, ni, maxSpread) +
        SCORE_WEIGHTS.preferNoSchedule * preferNoScheduleScore(taintCounts[i], maxTaints),
    };
  }
  return out;
}
