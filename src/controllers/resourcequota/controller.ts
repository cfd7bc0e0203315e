import type { Pod, ResourceQuota } from 'kubernetes-types/core/v1.js';
import { cacheKey } from '../../client/informer.ts';
import { SharedInformerFactory, type SharedInformer } from '../../client/shared-informers.ts';
import { Resources } from '../../client/resources.ts';
import type { KubeClient, ResourceRef } from '../../client/types.ts';
import type { KubeObject } from '../../api/object.ts';
import { evaluatorFor, quotaScopes } from '../../api/quota/evaluators.ts';
import { podHoldsResources } from '../../api/quota/pod-usage.ts';
import { addAmounts, formatAmounts, maskAmounts, parseAmounts, sameAmounts, type Amounts } from '../../api/quota/resource-list.ts';
import { Quantity } from '../../api/meta/quantity.ts';
import { isHedgeError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import { sleep } from '../../lib/sleep.ts';
import { whenAborted } from '../../lib/signals.ts';

export interface ResourceQuotaControllerConfig {
  client: KubeClient;
  logger: Logger;
  /** the process's shared informers (default: a factory of its own) */
  informerFactory?: SharedInformerFactory;
  /** every quota is recounted this often (upstream's --resource-quota-sync-period); default 5 min */
  resyncPeriodMs?: number;
  now?: () => Date;
}

/** the kinds whose objects a quota can count, by the names it counts them under */
const COUNTED: ResourceRef[] = Object.values(Resources).filter((r) => r.namespaced);

const FIELD_MANAGER = 'resourcequota-controller';

/** the resources a quota's hard names need counted: the pod and service evaluators', then object counts */
function resourcesFor(hardNames: readonly string[]): ResourceRef[] {
  return COUNTED.filter((r) => {
    const ev = evaluatorFor(r.group, r.plural);
    return ev !== undefined && ev.matchingResources(hardNames).length > 0;
  });
}

/** names no served kind answers for (count/ of a custom resource): their usage is left as admission wrote it */
function uncountable(hardNames: readonly string[], counted: readonly ResourceRef[]): string[] {
  return hardNames.filter((n) => n.startsWith('count/') && !counted.some((r) => evaluatorFor(r.group, r.plural)!.matchingResources([n]).length > 0));
}

/**
 * Upstream's resource quota controller: a quota's `status.hard` is its `spec.hard` and
 * `status.used` what the objects of its namespace use now (pods in a terminal phase hold no
 * compute resources). Recounted when a quota is created or changed, when a pod is deleted or
 * finishes or a Service is deleted or changes type in a namespace with quotas, and every resync
 * period (which catches deleted ConfigMaps, Secrets and other counted objects). Counting lists
 * afresh through the API, so a recount never rests on a stale cache; the write is guarded by the
 * quota's resourceVersion, so a charge admission wrote meanwhile makes it count again instead of
 * being overwritten.
 */
export class ResourceQuotaController {
  readonly quotas: SharedInformer<KubeObject>;
  readonly pods: SharedInformer<KubeObject>;
  readonly services: SharedInformer<KubeObject>;
  readonly #cfg: ResourceQuotaControllerConfig;
  readonly #log: Logger;
  readonly #queue = new Set<string>();
  #wake: (() => void) | undefined;

  constructor(cfg: ResourceQuotaControllerConfig) {
    this.#cfg = cfg;
    this.#log = cfg.logger.child({ component: 'resourcequota-controller' });
    const factory = cfg.informerFactory ?? new SharedInformerFactory({ client: cfg.client, logger: this.#log });
    const quota = (o: KubeObject): void => this.#enqueue(cacheKey(o));
    this.quotas = factory.informer<KubeObject>({ resource: Resources.resourcequotas, onAdd: quota, onUpdate: (o, n) => this.#quotaChanged(o, n) });
    const replenish = (o: KubeObject): void => this.#enqueueNamespace(o.metadata.namespace ?? '');
    this.pods = factory.informer<KubeObject>({
      resource: Resources.pods,
      onUpdate: (o, n) => {
        const now = this.#now();
        if (podHoldsResources(o as unknown as Pod, now) !== podHoldsResources(n as unknown as Pod, now)) replenish(n);
      },
      onDelete: replenish,
    });
    this.services = factory.informer<KubeObject>({
      resource: Resources.services,
      onUpdate: (o, n) => {
        const spec = (x: KubeObject) => x.spec as { type?: string; ports?: unknown[] } | undefined;
        if (spec(o)?.type !== spec(n)?.type || spec(o)?.ports?.length !== spec(n)?.ports?.length) replenish(n);
      },
      onDelete: replenish,
    });
  }

  #now(): Date {
    return this.#cfg.now?.() ?? new Date();
  }

  #quotaChanged(old: KubeObject, cur: KubeObject): void {
    // its own status writes (and admission's) change only status: nothing to recount
    if (JSON.stringify(old.spec) !== JSON.stringify(cur.spec) || !this.#statusCurrent(cur)) this.#enqueue(cacheKey(cur));
  }

  /** status.hard is spec.hard and every hard name has a usage */
  #statusCurrent(q: KubeObject): boolean {
    const rq = q as unknown as ResourceQuota;
    const hard = parseAmounts(rq.spec?.hard as Record<string, unknown> | undefined);
    const used = rq.status?.used ?? {};
    return sameAmounts(hard, parseAmounts(rq.status?.hard as Record<string, unknown> | undefined)) && [...hard.keys()].every((k) => k in used);
  }

  #enqueue(key: string): void {
    this.#queue.add(key);
    this.#wake?.();
  }

  #enqueueNamespace(namespace: string): void {
    for (const q of this.quotas.list()) if (q.metadata.namespace === namespace) this.#enqueue(cacheKey(q));
  }

  async run(signal: AbortSignal): Promise<void> {
    const runs = [this.quotas.run(signal), this.pods.run(signal), this.services.run(signal)];
    try {
      await Promise.all([this.quotas.waitForSync(signal), this.pods.waitForSync(signal), this.services.waitForSync(signal)]);
    } catch {
      // stopped before the first lists
    }
    const resync = (async () => {
      while (!signal.aborted) {
        await sleep(this.#cfg.resyncPeriodMs ?? 300_000, signal);
        for (const q of this.quotas.list()) this.#enqueue(cacheKey(q));
      }
    })();
    while (!signal.aborted) {
      const next = this.#queue.values().next();
      if (next.done) {
        let forget = (): void => {};
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
          forget = whenAborted(signal, () => resolve());
        });
        forget();
        this.#wake = undefined;
        continue;
      }
      this.#queue.delete(next.value);
      const [namespace, name] = next.value.split('/');
      await this.sync(namespace, name, signal);
    }
    await Promise.allSettled([...runs, resync]);
  }

  /** recounts one quota and writes its status when it changed; a failure is retried after a pause */
  async sync(namespace: string, name: string, signal: AbortSignal): Promise<void> {
    const { client } = this.#cfg;
    try {
      // read afresh: the resourceVersion guards the write against a charge admission made since
      const quota = await client.get<KubeObject>(Resources.resourcequotas, name, { namespace, signal });
      const used = await this.usage(quota, signal);
      const rq = quota as unknown as ResourceQuota;
      const hard = parseAmounts(rq.spec?.hard as Record<string, unknown> | undefined);
      const current = parseAmounts(rq.status?.used as Record<string, unknown> | undefined);
      if (this.#statusCurrent(quota) && sameAmounts(maskAmounts(current, hard.keys()), used)) return;
      await client.updateStatus(
        Resources.resourcequotas,
        { ...quota, status: { hard: { ...rq.spec?.hard }, used: formatAmounts(used) } } as KubeObject,
        { signal, fieldManager: FIELD_MANAGER },
      );
    } catch (err) {
      if (signal.aborted || isHedgeError(err, 'NotFound')) return;
      if (!isHedgeError(err, 'Conflict')) this.#log.warn({ err, namespace, name }, 'could not recount a resource quota');
      // try again soon, without spinning
      void sleep(isHedgeError(err, 'Conflict') ? 50 : 5_000, signal).then(() => {
        if (!signal.aborted) this.#enqueue(`${namespace}/${name}`);
      });
    }
  }

  /** what the quota's namespace uses now, for each of its hard names (0 where nothing is used) */
  async usage(quota: KubeObject, signal: AbortSignal): Promise<Amounts> {
    const rq = quota as unknown as ResourceQuota;
    const hardNames = Object.keys(rq.spec?.hard ?? {});
    const scopes = quotaScopes(quota);
    const namespace = quota.metadata.namespace ?? '';
    const now = this.#now();
    const counted = resourcesFor(hardNames);
    let used: Amounts = new Map(hardNames.map((n) => [n, Quantity.fromInt(0)]));
    // custom resources' counts: admission charged them, nothing here can recount them
    const keep = parseAmounts(rq.status?.used as Record<string, unknown> | undefined);
    for (const n of uncountable(hardNames, counted)) if (keep.has(n)) used.set(n, keep.get(n)!);
    for (const ref of counted) {
      const ev = evaluatorFor(ref.group, ref.plural)!;
      const names = ev.matchingResources(hardNames);
      const objects = await this.#list(ref, namespace, signal);
      for (const obj of objects) {
        if (!scopes.every((s) => ev.matchesScope(s, obj))) continue;
        used = addAmounts(used, maskAmounts(ev.usage(obj, now), names));
      }
    }
    return used;
  }

  async #list(ref: ResourceRef, namespace: string, signal: AbortSignal): Promise<KubeObject[]> {
    const out: KubeObject[] = [];
    let cont: string | undefined;
    do {
      const page = await this.#cfg.client.list<KubeObject>(ref, { namespace, signal, limit: 500, continue: cont });
      out.push(...page.items);
      cont = page.metadata?.continue || undefined;
    } while (cont);
    return out;
  }
}
