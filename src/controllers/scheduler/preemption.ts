import type { PodDisruptionBudget } from 'kubernetes-types/policy/v1.js';
import { matches, selectorFromLabelSelector, type Selector } from '../../api/labels/selector.ts';
import type { PodObject } from '../common/types.ts';
import { REASON_EXISTING_ANTI_AFFINITY, REASON_POD_ANTI_AFFINITY } from './filters/inter-pod-affinity.ts';
import { REASON_PORTS } from './filters/node-ports.ts';
import { REASON_SPREAD } from './filters/pod-topology-spread.ts';
import type { NodeInfo, PodInfo } from './node-info.ts';

export const REASON_NO_VICTIMS = 'No preemption victims found for incoming pod';
export const REASON_NOT_HELPFUL = 'Preemption is not helpful for scheduling';
export const NOT_ELIGIBLE_NEVER = 'not eligible due to preemptionPolicy=Never.';
export const NOT_ELIGIBLE_TERMINATING = 'not eligible due to a terminating pod on the nominated node.';
/** the DisruptionTarget condition's reason on a victim (upstream v1.PodReasonPreemptionByScheduler) */
export const REASON_PREEMPTION_BY_SCHEDULER = 'PreemptionByScheduler';

/** upstream's minCandidateNodesPercentage / minCandidateNodesAbsolute defaults */
const MIN_CANDIDATE_NODES_PERCENTAGE = 10;
const MIN_CANDIDATE_NODES_ABSOLUTE = 100;

/** Filter reasons that removing pods can cure (upstream: Unschedulable, not UnschedulableAndUnresolvable). */
const RESOLVABLE = new Set(['Too many pods', REASON_PORTS, REASON_POD_ANTI_AFFINITY, REASON_EXISTING_ANTI_AFFINITY, REASON_SPREAD]);

/** Whether evicting pods from a node that failed with `reasons` could make room (node affinity, taints, readiness… cannot). */
export function resolvableByPreemption(reasons: readonly string[]): boolean {
  return reasons.length > 0 && reasons.every((r) => RESOLVABLE.has(r) || r.startsWith('Insufficient '));
}

/** A PodDisruptionBudget as preemption counts it. */
export interface DisruptionBudget {
  namespace: string;
  selector: Selector;
  /** status.disruptionsAllowed */
  allowed: number;
  /** status.disruptedPods: already being disrupted, not counted again */
  disrupted: ReadonlySet<string>;
}

/** undefined for a budget that selects nothing (nil or empty selector, as upstream skips) or an invalid one */
export function disruptionBudget(pdb: PodDisruptionBudget): DisruptionBudget | undefined {
  const ls = pdb.spec?.selector;
  if (!ls) return undefined;
  let selector: Selector;
  try {
    selector = selectorFromLabelSelector(ls);
  } catch {
    return undefined;
  }
  if (selector.requirements.length === 0) return undefined;
  return {
    namespace: pdb.metadata?.namespace ?? '',
    selector,
    allowed: pdb.status?.disruptionsAllowed ?? 0,
    disrupted: new Set(Object.keys(pdb.status?.disruptedPods ?? {})),
  };
}

/** upstream filterPodsWithPDBViolation: each budget's allowance is spent in the pods' order */
export function splitByBudgets(pods: readonly PodInfo[], budgets: readonly DisruptionBudget[]): { violating: PodInfo[]; nonViolating: PodInfo[] } {
  const allowed = budgets.map((b) => b.allowed);
  const violating: PodInfo[] = [];
  const nonViolating: PodInfo[] = [];
  for (const pi of pods) {
    const labels = pi.pod.metadata.labels;
    let violated = false;
    if (labels && Object.keys(labels).length > 0) {
      budgets.forEach((b, i) => {
        if (b.namespace !== (pi.pod.metadata.namespace ?? '') || !matches(b.selector, labels)) return;
        if (b.disrupted.has(pi.pod.metadata.name ?? '')) return;
        allowed[i] = (allowed[i] as number) - 1;
        if ((allowed[i] as number) < 0) violated = true;
      });
    }
    (violated ? violating : nonViolating).push(pi);
  }
  return { violating, nonViolating };
}

function startTime(pod: PodObject): number {
  const t = pod.status?.startTime ?? pod.metadata.creationTimestamp;
  return t ? Date.parse(t) : Number.MAX_SAFE_INTEGER;
}

/** upstream MoreImportantPod: higher priority, then the one that started earlier */
export function moreImportant(a: PodInfo, b: PodInfo): number {
  if (a.priority !== b.priority) return b.priority - a.priority;
  return startTime(a.pod) - startTime(b.pod);
}

/** pods to evict from one node so the preemptor fits there */
export interface Candidate {
  node: string;
  /** most important first; empty when pods of lower priority that are already terminating make the room */
  victims: PodInfo[];
  pdbViolations: number;
}

/** upstream's podTerminatingByPreemption */
export function terminatingByPreemption(pod: PodObject): boolean {
  if (!pod.metadata.deletionTimestamp) return false;
  return (pod.status?.conditions ?? []).some((c) => c.type === 'DisruptionTarget' && c.status === 'True' && c.reason === REASON_PREEMPTION_BY_SCHEDULER);
}

/**
 * upstream SelectVictimsOnNode: take every pod of lower priority off the node; if the preemptor
 * then fits, put them back one by one, most important first (those a PodDisruptionBudget protects
 * before the others), keeping each one it still fits with. `fits` asks the scheduler's filters
 * about the node as the cache stands. The node is restored before returning. Pods already
 * terminating are taken off (they are leaving) but never victims again.
 */
export function selectVictimsOnNode(pod: PodInfo, ni: NodeInfo, fits: () => boolean, budgets: readonly DisruptionBudget[]): Candidate | undefined {
  const lower: PodInfo[] = [];
  for (const other of ni.pods.values()) if (other.priority < pod.priority) lower.push(other);
  if (lower.length === 0) return undefined;
  for (const other of lower) ni.removePod(other.key);
  try {
    if (!fits()) return undefined;
    const potential = lower.filter((p) => !p.pod.metadata.deletionTimestamp).sort(moreImportant);
    const { violating, nonViolating } = splitByBudgets(potential, budgets);
    const victims: PodInfo[] = [];
    let pdbViolations = 0;
    const reprieve = (p: PodInfo, violates: boolean): void => {
      ni.addPod(p);
      if (fits()) return;
      ni.removePod(p.key);
      victims.push(p);
      if (violates) pdbViolations++;
    };
    for (const p of violating) reprieve(p, true);
    for (const p of nonViolating) reprieve(p, false);
    victims.sort(moreImportant);
    return { node: ni.name, victims, pdbViolations };
  } finally {
    for (const other of lower) if (!ni.pods.has(other.key)) ni.addPod(other);
  }
}

/**
 * upstream pickOneNodeForPreemption: no victims at all; else fewest PDB violations, then the
 * lowest highest-victim priority, the smallest sum of priorities, the fewest victims, the latest
 * start among the highest-priority victims, then the first.
 */
export function pickOneNode(candidates: readonly Candidate[]): Candidate | undefined {
  const free = candidates.find((c) => c.victims.length === 0);
  if (free) return free;
  const score = (c: Candidate): number[] => {
    const top = c.victims[0] as PodInfo;
    // as upstream, each priority is shifted by MaxInt32+1 so negative priorities still add up
    const sum = c.victims.reduce((acc, v) => acc + v.priority + 2 ** 31, 0);
    let earliestTop = Number.MAX_SAFE_INTEGER;
    for (const v of c.victims) if (v.priority === top.priority) earliestTop = Math.min(earliestTop, startTime(v.pod));
    return [c.pdbViolations, top.priority, sum, c.victims.length, -earliestTop];
  };
  let best: Candidate | undefined;
  let bestScore: number[] = [];
  for (const c of candidates) {
    const s = score(c);
    if (!best || lexLess(s, bestScore)) {
      best = c;
      bestScore = s;
    }
  }
  return best;
}

function lexLess(a: number[], b: number[]): boolean {
  for (let i = 0; i < a.length; i++) {
    if ((a[i] as number) !== (b[i] as number)) return (a[i] as number) < (b[i] as number);
  }
  return false;
}

/** the pod asks for more than the empty node has: no eviction helps (and no filter pass is spent on it) */
function exceedsAllocatable(pod: PodInfo, ni: NodeInfo): boolean {
  const want = pod.requests;
  const alloc = ni.allocatable;
  return want.milliCPU > alloc.milliCPU || want.memory > alloc.memory || want.ephemeralStorage > alloc.ephemeralStorage;
}

/** upstream calculateNumCandidates: 10% of the nodes, at least 100, at most all */
export function numCandidates(nodes: number): number {
  return Math.min(nodes, Math.max(MIN_CANDIDATE_NODES_ABSOLUTE, Math.floor((nodes * MIN_CANDIDATE_NODES_PERCENTAGE) / 100)));
}

export interface CandidateSearch {
  pod: PodInfo;
  /** every node with a Node object */
  nodes: readonly NodeInfo[];
  /** why each node rejected the pod in the failed attempt */
  reasons: ReadonlyMap<string, string[]>;
  /** whether the pod fits on `node` as the cache stands now */
  fits(node: string): boolean;
  budgets: readonly DisruptionBudget[];
  /** where in `nodes` to start (upstream starts at a random offset so retries look at other nodes) */
  offset: number;
}

/**
 * upstream DryRunPreemption: try nodes from `offset` on, skipping at no cost those whose reasons
 * preemption cannot cure and those without a pod of lower priority, until numCandidates nodes were
 * tried (hedge's bound: upstream stops at numCandidates candidates) or that many candidates, one
 * without PDB violations among them, were found. Also returns the per-node preemption reasons for
 * the FailedScheduling message.
 */
export function findCandidates(s: CandidateSearch): { candidates: Candidate[]; reasons: Map<string, string[]> } {
  const want = numCandidates(s.nodes.length);
  const candidates: Candidate[] = [];
  const reasons = new Map<string, string[]>();
  let tried = 0;
  let nonViolating = 0;
  const n = s.nodes.length;
  for (let i = 0; i < n; i++) {
    const ni = s.nodes[(s.offset + i) % n] as NodeInfo;
    const failed = s.reasons.get(ni.name);
    if (!failed || !resolvableByPreemption(failed)) {
      reasons.set(ni.name, [REASON_NOT_HELPFUL]);
      continue;
    }
    reasons.set(ni.name, [REASON_NO_VICTIMS]);
    const enough = (nonViolating > 0 && candidates.length >= want) || tried >= want;
    if (enough || !ni.hasPodBelow(s.pod.priority) || exceedsAllocatable(s.pod, ni)) continue;
    tried++;
    const c = selectVictimsOnNode(s.pod, ni, () => s.fits(ni.name), s.budgets);
    if (!c) continue;
    candidates.push(c);
    if (c.pdbViolations === 0) nonViolating++;
  }
  return { candidates, reasons };
}
