/**
 * The upstream HPA replica calculation for resource metrics (pkg/controller/podautoscaler/
 * replica_calculator.go): usage ratio against the target, a tolerance band in which nothing
 * changes, and the conservative treatment of pods without metrics (assumed at 100% of their
 * request when scaling down, at 0 when scaling up) and of unready pods (at 0 when scaling up).
 * Pure: the controller passes the pods, their requests and their metrics.
 */

export interface PodInfo {
  name: string;
  /** sum of the containers' requests for the resource (milli-units for cpu, bytes for memory); undefined if any container has none */
  request?: number;
  /** Ready (a cpu metric of an unready pod is not trusted, as upstream) */
  ready: boolean;
  /** Failed, or being deleted: left out entirely */
  ignored: boolean;
}

export type Target = { kind: 'utilization'; percent: number } | { kind: 'averageValue'; value: number };

export interface Recommendation {
  replicas: number;
  /** the average utilization in percent (utilization targets) */
  utilization?: number;
  /** the average usage per pod (milli-units / bytes) */
  averageValue: number;
}

export class ReplicaCalcError extends Error {
  constructor(
    readonly reason: 'FailedGetResourceMetric' | 'MissingRequest',
    message: string,
  ) {
    super(message);
  }
}

export const DEFAULT_TOLERANCE = 0.1;

export function calcReplicas(opts: {
  currentReplicas: number;
  pods: PodInfo[];
  /** pod name → usage */
  metrics: Map<string, number>;
  target: Target;
  resource: string;
  tolerance?: number;
}): Recommendation {
  const tolerance = opts.tolerance ?? DEFAULT_TOLERANCE;
  const { currentReplicas, target } = opts;
  if (opts.pods.length === 0) throw new ReplicaCalcError('FailedGetResourceMetric', 'no pods returned by selector while calculating replica count');
  const ready = new Map<string, number>();
  const unready: string[] = [];
  const missing: string[] = [];
  const requests = new Map<string, number>();
  for (const p of opts.pods) {
    if (p.ignored) continue;
    const m = opts.metrics.get(p.name);
    if (m === undefined) {
      missing.push(p.name);
    } else if (!p.ready && opts.resource === 'cpu') {
      unready.push(p.name);
    } else ready.set(p.name, m);
    if (target.kind === 'utilization') {
      if (p.request === undefined || p.request === 0) throw new ReplicaCalcError('MissingRequest', `failed to get ${opts.resource} utilization: missing request for ${opts.resource} in pod ${p.name}`);
      requests.set(p.name, p.request);
    }
  }
  if (ready.size === 0 && missing.length === 0 && unready.length === 0) throw new ReplicaCalcError('FailedGetResourceMetric', 'no pods to compute a metric for');
  if (ready.size === 0) throw new ReplicaCalcError('FailedGetResourceMetric', `did not receive metrics for targeted pods (pods might be unready)`);

  const ratioOf = (ms: Map<string, number>): { ratio: number; utilization?: number; average: number } => {
    let sum = 0;
    let req = 0;
    for (const [name, v] of ms) {
      sum += v;
      req += requests.get(name) ?? 0;
    }
    const average = sum / ms.size;
    if (target.kind === 'utilization') {
      const utilization = (sum * 100) / req;
      return { ratio: utilization / target.percent, utilization, average };
    }
    return { ratio: average / target.value, average };
  };

  const first = ratioOf(ready);
  const rebalanceUnready = unready.length > 0 && first.ratio > 1;
  const out = (replicas: number): Recommendation => ({ replicas, utilization: first.utilization === undefined ? undefined : Math.trunc(first.utilization), averageValue: first.average });
  if (!rebalanceUnready && missing.length === 0) {
    if (Math.abs(1 - first.ratio) <= tolerance) return out(currentReplicas);
    return out(Math.ceil(first.ratio * ready.size));
  }
  const all = new Map(ready);
  for (const name of missing) {
    // scaling down: a pod without metrics might be busy, count it at its request (or the target)
    // scaling up: it might be idle, count it at zero
    const assumed = first.ratio < 1 ? (target.kind === 'utilization' ? (requests.get(name) ?? 0) : target.value) : 0;
    all.set(name, assumed);
  }
  if (rebalanceUnready) for (const name of unready) all.set(name, 0);
  const second = ratioOf(all);
  if (Math.abs(1 - second.ratio) <= tolerance || (first.ratio < 1 && second.ratio > 1) || (first.ratio > 1 && second.ratio < 1)) return out(currentReplicas);
  const replicas = Math.ceil(second.ratio * all.size);
  if ((second.ratio < 1 && replicas > currentReplicas) || (second.ratio > 1 && replicas < currentReplicas)) return out(currentReplicas);
  return out(replicas);
}
