/**
 * POST pods/{name}/eviction after admission (upstream EvictionREST.Create): a pod that is
 * finished, Pending or already terminating is deleted without a budget check; otherwise its one
 * PodDisruptionBudget must allow a disruption, which the eviction spends (disruptionsAllowed − 1,
 * the pod in `disruptedPods`) in the same read-modify-write as the check. The pod gets the
 * DisruptionTarget condition (EvictionByEvictionAPI) before its delete.
 */
import type { Pod } from 'kubernetes-types/core/v1.js';
import type { PodDisruptionBudget, PodDisruptionBudgetStatus } from 'kubernetes-types/policy/v1.js';
import type { KubeObject } from '../../api/object.ts';
import { budgetSelects, isPodReady, updateDisruptionAllowedCondition } from '../../api/policy/disruption-budget.ts';
import { HedgeError, conflict, isHedgeError } from '../../lib/errors.ts';
import { delay, realTimers } from '../../lib/timers.ts';
import { mutableMeta } from '../registry/mutable-meta.ts';
import type { DeleteOptions, OperationContext } from '../registry/registry.ts';
import { timestamp } from '../registry/strategy.ts';
import type { Status } from '../../api/meta/status.ts';
import type { RequestScope } from './scope.ts';

type PdbObject = PodDisruptionBudget & KubeObject;
type PodObject = Pod & KubeObject;

/** upstream MaxDisruptedPodSize: evictions the controller has not yet seen through */
export const MAX_DISRUPTED_POD_SIZE = 2000;
/** upstream EvictionsRetry: 20 tries 500 ms apart on conflicts */
const RETRY_STEPS = 20;
const RETRY_MS = 500;

const VIOLATES = "Cannot evict pod as it would violate the pod's disruption budget.";

/** canIgnorePDB: finished, Pending or terminating pods have no budget to ask */
export function canIgnoreBudget(pod: Pod): boolean {
  const phase = pod.status?.phase;
  return phase === 'Succeeded' || phase === 'Failed' || phase === 'Pending' || !!pod.metadata?.deletionTimestamp;
}

/** shouldEnforceResourceVersion: a pod that may still become ready is deleted only as it was read */
export function shouldEnforceResourceVersion(pod: Pod): boolean {
  const phase = pod.status?.phase;
  return !(phase === 'Succeeded' || phase === 'Failed' || pod.metadata?.deletionTimestamp);
}

/**
 * An unready pod goes without spending the budget when the policy is AlwaysAllow, or (the
 * default, IfHealthyBudget) while the application has its desired healthy pods.
 */
export function unhealthyPodMayGo(pod: Pod, pdb: PodDisruptionBudget): boolean {
  if (isPodReady(pod)) return false;
  if (pdb.spec?.unhealthyPodEvictionPolicy === 'AlwaysAllow') return true;
  const st = pdb.status;
  return !!st && st.currentHealthy >= st.desiredHealthy && st.desiredHealthy > 0;
}

const forbiddenBudget = (name: string, why: string): HedgeError =>
  new HedgeError('Forbidden', `poddisruptionbudget.policy "${name}" is forbidden: ${why}`, { details: { kind: 'poddisruptionbudget', group: 'policy', name } });

/** createTooManyRequestsError: the controller has not yet looked at the budget (or the pod changed under us) */
export function budgetBeingProcessed(name: string): HedgeError {
  return new HedgeError('TooManyRequests', VIOLATES, {
    details: { retryAfterSeconds: 10, causes: [{ reason: 'DisruptionBudget', field: '', message: `The disruption budget ${name} is still being processed by the server.` }] },
  });
}

/** checkAndDecrement: the budget's status after this eviction, or the refusal */
export function checkAndDecrement(pdb: PdbObject, podName: string, now: Date): PodDisruptionBudgetStatus {
  const name = pdb.metadata.name ?? '';
  const st = structuredClone(pdb.status ?? { currentHealthy: 0, desiredHealthy: 0, expectedPods: 0, disruptionsAllowed: 0 });
  if ((st.observedGeneration ?? 0) < (pdb.metadata.generation ?? 0)) throw budgetBeingProcessed(name);
  if (st.disruptionsAllowed < 0) throw forbiddenBudget(name, 'pdb disruptions allowed is negative');
  if (Object.keys(st.disruptedPods ?? {}).length > MAX_DISRUPTED_POD_SIZE) {
    throw forbiddenBudget(name, 'DisruptedPods map too big - too many evictions not confirmed by PDB controller');
  }
  if (st.disruptionsAllowed === 0) {
    throw new HedgeError('TooManyRequests', VIOLATES, {
      details: { causes: [{ reason: 'DisruptionBudget', field: '', message: `The disruption budget ${name} needs ${st.desiredHealthy} healthy pods and has ${st.currentHealthy} currently` }] },
    });
  }
  st.disruptionsAllowed--;
  if (st.disruptionsAllowed === 0) updateDisruptionAllowedCondition(st, now);
  st.disruptedPods = { ...(st.disruptedPods ?? {}), [podName]: timestamp(now) };
  return st;
}

export interface EvictionInput {
  namespace: string;
  name: string;
  options: DeleteOptions;
  ctx: OperationContext;
}

/** evict; resolves to the Status to send (success, or upstream's 500 for a pod with several budgets) */
export async function evictPod(rq: RequestScope, ev: EvictionInput): Promise<Status> {
  const reg = rq.server.registry;
  const { namespace, name, ctx } = ev;
  const userRv = ev.options.preconditions?.resourceVersion;

  // 1. pods that need no budget: deleted at once (retried on conflicts unless the caller gave a resourceVersion)
  let pod: PodObject | undefined;
  for (let attempt = 1; ; attempt++) {
    pod = (await rq.rs.get(namespace, name)).obj as PodObject;
    if (!canIgnoreBudget(pod)) break;
    const options = shouldEnforceResourceVersion(pod) && !userRv ? withResourceVersion(ev.options, pod) : ev.options;
    try {
      await markAndDelete(rq, namespace, name, options, ctx);
      return success();
    } catch (err) {
      if (userRv || !isHedgeError(err, 'Conflict') || attempt >= RETRY_STEPS) throw err;
      await delay(realTimers, RETRY_MS);
    }
  }

  // 2. its budget
  const pdbDef = reg.defFor('policy', 'poddisruptionbudgets');
  const budgets: PdbObject[] = [];
  if (pdbDef) {
    const rs = reg.storeFor(pdbDef);
    const page = await rs.list(namespace, {});
    for (const kv of page.items) {
      const pdb = rs.codec.decode(kv).obj as PdbObject;
      if (budgetSelects(pdb, pod)) budgets.push(pdb);
    }
  }
  if (budgets.length > 1) {
    return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.', code: 500 };
  }
  let options = ev.options;
  const pdb = budgets[0];
  if (pdb && pdbDef) {
    const pdbName = pdb.metadata.name ?? '';
    if (unhealthyPodMayGo(pod, pdb)) {
      // not counted as healthy: delete it as read, so it cannot have turned ready meanwhile
      options = withResourceVersion(options, pod);
      try {
        await markAndDelete(rq, namespace, name, options, ctx);
      } catch (err) {
        if (isHedgeError(err, 'Conflict') && !userRv) throw budgetBeingProcessed(pdbName);
        throw err;
      }
      return success();
    }
    const now = reg.now();
    if (ctx.dryRun) {
      checkAndDecrement(pdb, name, now);
    } else {
      // the check and the decrement in one guarded write of the budget's status: a concurrent
      // change of it makes the write conflict, and it is retried against the budget as it is then
      await reg.transform(
        pdbDef,
        namespace,
        pdbName,
        'status',
        ctx,
        (current) => {
          current.status = checkAndDecrement(current as PdbObject, name, now) as unknown as KubeObject['status'];
          delete mutableMeta(current).resourceVersion;
          return current;
        },
        { admission: 'none' },
      );
    }
  }
  await markAndDelete(rq, namespace, name, options, ctx);
  return success();
}

function success(): Status {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 };
}

function withResourceVersion(options: DeleteOptions, pod: PodObject): DeleteOptions {
  return { ...options, preconditions: { ...options.preconditions, resourceVersion: pod.metadata.resourceVersion } };
}

/**
 * addConditionAndDeletePod: DisruptionTarget=True (EvictionByEvictionAPI) on the pod as it is
 * (its preconditions checked first), then the delete; a resourceVersion precondition moves to
 * the version that condition wrote. A dry run writes no condition.
 */
async function markAndDelete(rq: RequestScope, namespace: string, name: string, options: DeleteOptions, ctx: OperationContext): Promise<void> {
  const reg = rq.server.registry;
  let opts = options;
  if (!ctx.dryRun) {
    const pre = options.preconditions;
    const updated = await reg.transform(
      rq.def,
      namespace,
      name,
      'status',
      ctx,
      (pod) => {
        if (pre?.uid && pre.uid !== pod.metadata.uid) {
          throw conflict('Pod', name, `the UID in the precondition (${pre.uid}) does not match the UID in record (${pod.metadata.uid ?? ''}). The object might have been deleted and then recreated`);
        }
        if (pre?.resourceVersion && pre.resourceVersion !== pod.metadata.resourceVersion) {
          throw conflict('Pod', name, `the ResourceVersion in the precondition (${pre.resourceVersion}) does not match the ResourceVersion in record (${pod.metadata.resourceVersion ?? ''}). The object might have been modified`);
        }
        setDisruptionTarget(pod, reg.now());
        delete mutableMeta(pod).resourceVersion;
        return pod;
      },
      { admission: 'none' },
    );
    if (pre?.resourceVersion) opts = { ...options, preconditions: { ...pre, resourceVersion: updated.obj.metadata.resourceVersion } };
  }
  await reg.delete(rq.def, namespace, name, { gracePeriodSeconds: opts.gracePeriodSeconds, preconditions: opts.preconditions }, ctx, true);
}

/** podutil.UpdatePodCondition: lastTransitionTime moves only with the status */
function setDisruptionTarget(pod: KubeObject, now: Date): void {
  const p = pod as { status?: { conditions?: { type: string; status: string; lastTransitionTime?: string }[] } };
  const status = (p.status ??= {});
  const conds = (status.conditions ??= []);
  const next = { type: 'DisruptionTarget', status: 'True', reason: 'EvictionByEvictionAPI', message: 'Eviction API: evicting', lastTransitionTime: timestamp(now) };
  const i = conds.findIndex((c) => c.type === 'DisruptionTarget');
  if (i < 0) conds.push(next);
  else conds[i] = { ...next, lastTransitionTime: conds[i].status === 'True' ? conds[i].lastTransitionTime : next.lastTransitionTime };
}
