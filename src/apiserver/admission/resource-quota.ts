import type { ResourceQuota } from 'kubernetes-types/core/v1.js';
import type { KubeObject } from '../../api/object.ts';
import { evaluatorFor, quotaMatches, quotaScopes, type QuotaEvaluator } from '../../api/quota/evaluators.ts';
import {
  addAmounts,
  exceededNames,
  formatAmounts,
  maskAmounts,
  parseAmounts,
  prettyAmounts,
  withoutZeros,
  type Amounts,
} from '../../api/quota/resource-list.ts';
import { Quantity } from '../../api/meta/quantity.ts';
import { isHedgeError } from '../../lib/errors.ts';
import { admissionForbidden } from './forbidden.ts';
import type { AdmissionPlugin, AdmissionRequest } from './types.ts';

export interface ResourceQuotaAdmissionOptions {
  /** the namespace's quotas as stored now (each with its resourceVersion); read afresh on every call */
  listQuotas(namespace: string, signal: AbortSignal): Promise<KubeObject[]>;
  /**
   * write `quota.status` if the stored quota is still at `quota.metadata.resourceVersion`, else
   * throw a Conflict HedgeError (the optimistic concurrency that keeps two writers from both
   * spending the last unit)
   */
  updateQuotaStatus(quota: KubeObject, signal: AbortSignal): Promise<void>;
  /** an object of that type and name is stored already (its create will fail: charge nothing) */
  exists(req: AdmissionRequest): Promise<boolean>;
  /** false when the namespace certainly has no quota (a cache), so the request costs no read */
  mayHaveQuotas?(namespace: string): boolean;
  now?: () => Date;
  /** re-reads after a conflicting status write before giving up with the Conflict; default 10 */
  maxRetries?: number;
}


const statusOf = (q: KubeObject): { hard: Amounts; used?: Record<string, unknown> } => {
  const st = (q as unknown as ResourceQuota).status;
  return { hard: parseAmounts(st?.hard as Record<string, unknown> | undefined), used: st?.used as Record<string, unknown> | undefined };
};

/** SubtractWithNonNegativeResult over a's keys */
function growth(now: Amounts, before: Amounts): Amounts {
  const out: Amounts = new Map();
  for (const [k, q] of now) {
    const diff = q.sub(before.get(k) ?? Quantity.fromInt(0));
    out.set(k, diff.sign() < 0 ? Quantity.fromInt(0) : diff);
  }
  return out;
}

/** A quota with the usage this request would leave it at. */
interface Charge {
  quota: KubeObject;
  used: Amounts;
}

/**
 * upstream's CheckRequest: the quotas that match the object must be computed (status known) and
 * the object must state what they constrain; each one's used + this request's usage must stay
 * within its hard limits. Returns the quotas whose usage grows, with the new usage.
 */
export function checkQuotas(ev: QuotaEvaluator, quotas: KubeObject[], req: AdmissionRequest, now: Date): Charge[] {
  const obj = req.object!;
  const interesting: KubeObject[] = [];
  for (const q of quotas) {
    const hardNames = [...statusOf(q).hard.keys()];
    if (!quotaMatches(ev, hardNames, quotaScopes(q), obj)) continue;
    const restricted = ev.matchingResources(hardNames);
    const constraint = ev.constraintError(obj, restricted);
    if (constraint) throw admissionForbidden(req, `failed quota: ${q.metadata.name}: ${constraint}`);
    const used = statusOf(q).used ?? {};
    const unknown = restricted.filter((n) => !(n in used));
    if (unknown.length > 0) throw admissionForbidden(req, `status unknown for quota: ${q.metadata.name}, resources: ${restricted.sort().join(',')}`);
    interesting.push(q);
  }
  if (interesting.length === 0) return [];
  const usage = ev.usage(obj, now);
  const negative = [...usage].filter(([, q]) => q.sign() < 0).map(([k]) => k);
  if (negative.length > 0) throw admissionForbidden(req, `quota usage is negative for resource(s): ${negative.sort().join(',')}`);
  const charges: Charge[] = [];
  for (const q of interesting) {
    const { hard } = statusOf(q);
    let delta = usage;
    // an update is charged only for what it adds, where the quota counted the old object too
    if (req.operation === 'UPDATE' && req.oldObject && quotaMatches(ev, [...hard.keys()], quotaScopes(q), req.oldObject)) {
      delta = growth(usage, ev.usage(req.oldObject, now));
    }
    const requested = maskAmounts(withoutZeros(delta), hard.keys());
    if (requested.size === 0) continue;
    const used = parseAmounts(statusOf(q).used);
    const next = addAmounts(used, requested);
    const exceeded = exceededNames(maskAmounts(next, requested.keys()), hard);
    if (exceeded.length > 0) {
      throw admissionForbidden(
        req,
        `exceeded quota: ${q.metadata.name}, requested: ${prettyAmounts(maskAmounts(requested, exceeded))}, used: ${prettyAmounts(maskAmounts(used, exceeded))}, limited: ${prettyAmounts(maskAmounts(hard, exceeded))}`,
      );
    }
    charges.push({ quota: q, used: next });
  }
  return charges;
}

/**
 * Upstream's ResourceQuota admission, last among the validating plugins: a create (and a Service
 * update, whose type decides its node ports and load balancers) is checked against every quota
 * of its namespace it falls under, and the usage it adds is written to those quotas'
 * `status.used` before the object is stored, each write guarded by the resourceVersion that was
 * checked. A conflicting write means another request spent quota meanwhile: the quotas that
 * failed are read again and checked again, so two creates that only fit one at a time never
 * both pass, on one apiserver or several. If a status write fails for good the request fails and
 * the object is not stored. An object that is then not stored after all (a name taken
 * meanwhile) leaves its charge until the quota controller recounts, as upstream.
 * Writes from one apiserver are taken one namespace at a time, so they do not race each other.
 */
export function resourceQuotaPlugin(opts: ResourceQuotaAdmissionOptions): AdmissionPlugin {
  const now = opts.now ?? (() => new Date());
  const maxRetries = opts.maxRetries ?? 10;
  const lanes = new Map<string, Promise<void>>();

  /** runs `fn` after the namespace's earlier quota checks on this server */
  async function inLane(namespace: string, fn: () => Promise<void>): Promise<void> {
    const before = lanes.get(namespace) ?? Promise.resolve();
    const mine = before.then(fn, fn);
    const tail = mine.then(
      () => undefined,
      () => undefined,
    );
    lanes.set(namespace, tail);
    try {
      await mine;
    } finally {
      if (lanes.get(namespace) === tail) lanes.delete(namespace);
    }
  }

  async function admit(ev: QuotaEvaluator, req: AdmissionRequest): Promise<void> {
    let only: Set<string> | undefined;
    for (let attempt = 0; ; attempt++) {
      let quotas = await opts.listQuotas(req.namespace, req.signal);
      if (only) {
        const names = only;
        quotas = quotas.filter((q) => names.has(q.metadata.name ?? ''));
      }
      if (quotas.length === 0) return;
      const charges = checkQuotas(ev, quotas, req, now());
      if (charges.length === 0 || req.dryRun) return;
      let lastConflict: unknown;
      const failed = new Set<string>();
      for (const c of charges) {
        const st = (c.quota as unknown as ResourceQuota).status ?? {};
        const updated: KubeObject = { ...c.quota, status: { ...st, used: formatAmounts(c.used) } };
        try {
          await opts.updateQuotaStatus(updated, req.signal);
        } catch (err) {
          if (!isHedgeError(err, 'Conflict')) throw err;
          lastConflict = err;
          failed.add(c.quota.metadata.name ?? '');
        }
      }
      if (failed.size === 0) return;
      if (attempt >= maxRetries) throw lastConflict;
      only = failed;
    }
  }

  return {
    name: 'ResourceQuota',
    async validate(req) {
      if (req.subresource !== '' || req.namespace === '' || !req.object) return;
      if (req.operation !== 'CREATE' && req.operation !== 'UPDATE') return;
      const ev = evaluatorFor(req.def.group, req.def.plural);
      if (!ev || (req.operation === 'UPDATE' && !ev.chargesUpdates)) return;
      // the common namespace has no quota: no read, no queueing behind the namespace's other writes
      if (opts.mayHaveQuotas && !opts.mayHaveQuotas(req.namespace)) return;
      if ((await opts.listQuotas(req.namespace, req.signal)).length === 0) return;
      await inLane(req.namespace, async () => {
        if (req.operation === 'CREATE' && (await opts.exists(req))) return;
        await admit(ev, req);
      });
    },
  };
}
