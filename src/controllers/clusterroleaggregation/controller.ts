import type { ClusterRole } from 'kubernetes-types/rbac/v1.js';
import type { KubeObject } from '../../api/object.ts';
import { jsonEqual } from '../../api/patch/index.ts';
import { aggregatedRules } from '../../api/rbac/index.ts';
import { Informer } from '../../client/informer.ts';
import type { KubeClient, ResourceRef } from '../../client/types.ts';
import { isHedgeError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';

export const clusterRolesRef: ResourceRef = { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'ClusterRole', plural: 'clusterroles', namespaced: false };

type ClusterRoleObject = ClusterRole & KubeObject;

export interface ClusterRoleAggregationConfig {
  client: KubeClient;
  logger: Logger;
}

/**
 * upstream's clusterrole-aggregation controller: a ClusterRole with an `aggregationRule` holds
 * the rules of every ClusterRole its selectors pick (admin/edit/view pick up a CRD's
 * `aggregate-to-*` roles). Any ClusterRole change re-evaluates every aggregating role; the
 * write is a merge patch of `rules` only, skipped when nothing changed. An API client like
 * every controller: informer in, patches out.
 */
export class ClusterRoleAggregationController {
  readonly roles: Informer<ClusterRoleObject>;
  readonly #client: KubeClient;
  readonly #log: Logger;
  #pending = false;
  #running: Promise<void> = Promise.resolve();
  #signal: AbortSignal | undefined;

  constructor(cfg: ClusterRoleAggregationConfig) {
    this.#client = cfg.client;
    this.#log = cfg.logger.child({ component: 'clusterrole-aggregation' });
    const kick = (): void => this.#schedule();
    this.roles = new Informer<ClusterRoleObject>({ client: cfg.client, resource: clusterRolesRef, logger: this.#log, onAdd: kick, onUpdate: kick, onDelete: kick });
  }

  async run(signal: AbortSignal): Promise<void> {
    this.#signal = signal;
    const informer = this.roles.run(signal);
    await this.roles.waitForSync(signal).catch(() => undefined);
    this.#schedule();
    await informer;
    await this.#running;
  }

  /** one pass at a time; changes during a pass cause one more */
  #schedule(): void {
    if (!this.#signal || this.#signal.aborted || this.#pending) return;
    this.#pending = true;
    this.#running = this.#running.then(async () => {
      this.#pending = false;
      await this.syncAll();
    });
  }

  /** Bring every aggregating ClusterRole's rules up to date; returns the names patched. */
  async syncAll(): Promise<string[]> {
    const all = this.roles.list();
    const patched: string[] = [];
    for (const role of all) {
      const want = aggregatedRules(role, all);
      if (want === undefined || jsonEqual((role.rules ?? []) as never, want as never)) continue;
      const name = role.metadata.name ?? '';
      try {
        await this.#client.patch(clusterRolesRef, name, 'merge', { rules: want }, { signal: this.#signal, fieldManager: 'clusterrole-aggregation-controller' });
        patched.push(name);
      } catch (err) {
        if (this.#signal?.aborted) return patched;
        // gone meanwhile, or a conflict: the informer's next event schedules another pass
        if (!isHedgeError(err, 'NotFound')) this.#log.warn({ err, clusterRole: name }, 'could not update aggregated rules');
      }
    }
    return patched;
  }
}
