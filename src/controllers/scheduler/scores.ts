import type { Labels } from '../../api/labels/index.ts';
import { toleratesTaint } from '../common/tolerations.ts';
import { preferredNodeAffinityWeight } from './filters/node-affinity.ts';
import { countMatching, hasAllKeys, LABEL_HOSTNAME, nodeIncluded, spreadConstraints } from './filters/pod-topology-spread.ts';
import type { NodeInfo, PodInfo } from './node-info.ts';
import { termMatches, type AffinityTerm } from './pod-affinity-terms.ts';

export const MAX_SCORE = 100;

/**
 * Weights as upstream's default profile: TaintToleration 3, NodeAffinity 2, PodTopologySpread 2
 * (`spread`: the pod's own ScheduleAnyway constraints, or for a pod without constraints the
 * owner/labels spreading that stands in for upstream's system-default ones), InterPodAffinity 2,
 * NodeResourcesFit 1.
 */
export const SCORE_WEIGHTS = { leastAllocated: 1, spread: 2, preferNoSchedule: 3, nodeAffinity: 2, interPodAffinity: 2 } as const;

/** The rest of the cluster, for the scores that look beyond the feasible nodes. */
export interface ScoreContext {
  /** every node with its Node object */
  allNodes: readonly NodeInfo[];
  namespaceLabels(name: string): Labels;
}

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
export function scoreNodes(pod: PodInfo, feasible: NodeInfo[], ctx?: ScoreContext): ScoredNode[] {
  const out = scoreAll(pod, feasible, ctx);
  return out.sort(byScore);
}

/** The best node of scoreNodes without sorting them all: what the scheduler needs per pod. */
export function bestNode(pod: PodInfo, feasible: NodeInfo[], ctx?: ScoreContext): ScoredNode | undefined {
  let best: ScoredNode | undefined;
  for (const s of scoreAll(pod, feasible, ctx)) if (best === undefined || byScore(s, best) < 0) best = s;
  return best;
}

function byScore(a: ScoredNode, b: ScoredNode): number {
  return b.score - a.score || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

/** NodeAffinity: preferred terms' weights, normalised to the best candidate (0 for all when none match). */
function nodeAffinityScores(pod: PodInfo, feasible: NodeInfo[]): number[] | undefined {
  if (!pod.pod.spec?.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution?.length) return undefined;
  const raw = feasible.map((ni) => preferredNodeAffinityWeight(pod.pod, ni.node!));
  const max = Math.max(0, ...raw);
  return raw.map((w) => (max > 0 ? (w * MAX_SCORE) / max : 0));
}

/**
 * InterPodAffinity's score: per topology pair, + the weight of each of the incoming pod's
 * preferred affinity terms a placed pod matches (− for anti-affinity), + 1 for each placed pod's
 * required affinity term, ± each placed pod's preferred terms that select the incoming pod;
 * a node sums the pairs it is in; min–max normalised over the candidates.
 */
function interPodAffinityScores(pod: PodInfo, feasible: NodeInfo[], ctx: ScoreContext): number[] | undefined {
  const own = pod.affinity;
  const ownPreferred = own !== undefined && (own.preferredAffinity.length > 0 || own.preferredAntiAffinity.length > 0);
  if (!ownPreferred && (feasible[0]?.cluster.podsWithAffinity ?? 0) === 0) return undefined;
  const ns = ctx.namespaceLabels;
  const topo = new Map<string, Map<string, number>>();
  const add = (terms: AffinityTerm[], target: PodInfo, labels: Labels, sign: number): void => {
    for (const t of terms) {
      const v = labels?.[t.topologyKey];
      if (v === undefined || !termMatches(t, target.pod, ns)) continue;
      let values = topo.get(t.topologyKey);
      if (!values) topo.set(t.topologyKey, (values = new Map()));
      values.set(v, (values.get(v) ?? 0) + sign * t.weight);
    }
  };
  for (const ni of ctx.allNodes) {
    const labels = ni.node?.metadata.labels;
    for (const other of (ownPreferred ? ni.pods : ni.podsWithAffinity).values()) {
      if (own) {
        add(own.preferredAffinity, other, labels, 1);
        add(own.preferredAntiAffinity, other, labels, -1);
      }
      const theirs = other.affinity;
      if (!theirs) continue;
      add(theirs.requiredAffinity, pod, labels, 1);
      add(theirs.preferredAffinity, pod, labels, 1);
      add(theirs.preferredAntiAffinity, pod, labels, -1);
    }
  }
  if (topo.size === 0) return undefined;
  const raw = feasible.map((ni) => {
    const labels = ni.node?.metadata.labels;
    let sum = 0;
    for (const [key, values] of topo) {
      const v = labels?.[key];
      if (v !== undefined) sum += values.get(v) ?? 0;
    }
    return sum;
  });
  const min = Math.min(...raw);
  const diff = Math.max(...raw) - min;
  return raw.map((r) => (diff > 0 ? (MAX_SCORE * (r - min)) / diff : 0));
}

/**
 * PodTopologySpread's score for a pod with topologySpreadConstraints: for each ScheduleAnyway
 * constraint, the matching pods in the node's domain × log(domains + 2) + maxSkew − 1, summed;
 * fewer is better (upstream's NormalizeScore). Candidates without every key score 0. A pod with
 * only DoNotSchedule constraints gets the same score everywhere.
 */
function topologySpreadScores(pod: PodInfo, feasible: NodeInfo[], ctx: ScoreContext): number[] {
  const constraints = spreadConstraints(pod.pod, 'ScheduleAnyway');
  if (constraints.length === 0) return feasible.map(() => 0);
  const ns = pod.pod.metadata.namespace ?? 'default';
  const scored = feasible.map((ni) => hasAllKeys(ni.node!, constraints));
  const counts = constraints.map(() => new Map<string, number>());
  let candidates = 0;
  feasible.forEach((ni, j) => {
    if (!scored[j]) return;
    candidates++;
    constraints.forEach((c, i) => {
      if (c.topologyKey !== LABEL_HOSTNAME) counts[i].set(ni.node!.metadata.labels![c.topologyKey], 0);
    });
  });
  for (const ni of ctx.allNodes) {
    const node = ni.node;
    if (!node || !hasAllKeys(node, constraints)) continue;
    constraints.forEach((c, i) => {
      const v = node.metadata.labels![c.topologyKey];
      const cur = counts[i].get(v);
      if (c.topologyKey === LABEL_HOSTNAME || cur === undefined || !nodeIncluded(c, pod.pod, node)) return;
      counts[i].set(v, cur + countMatching(ni, c.selector, ns));
    });
  }
  const weights = constraints.map((c, i) => Math.log((c.topologyKey === LABEL_HOSTNAME ? candidates : counts[i].size) + 2));
  const raw = feasible.map((ni, j) => {
    if (!scored[j]) return -1;
    let sum = 0;
    constraints.forEach((c, i) => {
      const n = c.topologyKey === LABEL_HOSTNAME ? countMatching(ni, c.selector, ns) : (counts[i].get(ni.node!.metadata.labels![c.topologyKey]) ?? 0);
      sum += n * weights[i] + c.maxSkew - 1;
    });
    return Math.round(sum);
  });
  const valid = raw.filter((r) => r >= 0);
  const min = Math.min(...valid);
  const max = Math.max(0, ...valid);
  return raw.map((r) => (r < 0 ? 0 : max === 0 ? MAX_SCORE : (MAX_SCORE * (max + min - r)) / max));
}

function scoreAll(pod: PodInfo, feasible: NodeInfo[], ctx: ScoreContext = { allNodes: feasible, namespaceLabels: () => undefined }): ScoredNode[] {
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
  const ownSpread = pod.pod.spec?.topologySpreadConstraints?.length ? topologySpreadScores(pod, feasible, ctx) : undefined;
  const nodeAff = nodeAffinityScores(pod, feasible);
  const podAff = interPodAffinityScores(pod, feasible, ctx);
  const out = new Array<ScoredNode>(feasible.length);
  for (let i = 0; i < feasible.length; i++) {
    const ni = feasible[i];
    out[i] = {
      name: ni.name,
      score:
        SCORE_WEIGHTS.leastAllocated * leastAllocatedScore(pod, ni) +
        SCORE_WEIGHTS.spread * (ownSpread ? ownSpread[i] : spreadScore(pod, ni, maxSpread)) +
        SCORE_WEIGHTS.preferNoSchedule * preferNoScheduleScore(taintCounts[i], maxTaints) +
        (nodeAff ? SCORE_WEIGHTS.nodeAffinity * nodeAff[i] : 0) +
        (podAff ? SCORE_WEIGHTS.interPodAffinity * podAff[i] : 0),
    };
  }
  return out;
}
