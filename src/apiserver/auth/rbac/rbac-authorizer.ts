import type { ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding } from 'kubernetes-types/rbac/v1.js';
import { ruleAllows, type RuleRequest } from '../../../api/rbac/index.ts';
import type { ResourceDef } from '../../../api/resources/types.ts';
import type { Logger } from '../../../lib/log.ts';
import type { AuthorizationAttributes } from '../authorizer.ts';
import type { Registry } from '../../registry/registry.ts';
import { ObjectCache } from '../object-cache.ts';
import type { UserInfo } from '../types.ts';
import { RbacIndex } from './rbac-index.ts';

export const RBAC_GROUP = 'rbac.authorization.k8s.io';

/** upstream authorizer.Attributes → what a PolicyRule is matched against */
export function ruleRequestOf(attrs: AuthorizationAttributes): RuleRequest {
  if (!attrs.isResourceRequest) return { kind: 'nonResource', verb: attrs.verb, path: attrs.path };
  return { kind: 'resource', verb: attrs.verb, group: attrs.group, resource: attrs.resource, subresource: attrs.subresource, name: attrs.name, namespace: attrs.namespace };
}

/** An RBAC decision: allowed with the binding that allowed it, or no opinion. */
export type RbacDecision = { allowed: true; reason: string } | { allowed: false; reason: '' };

/**
 * The RBAC authorizer over informer-style caches of the four RBAC types. Requests never touch
 * the store; the subject index is rebuilt lazily after a change (changes are rare, requests many).
 */
export class RbacAuthorizer {
  readonly #caches: { clusterRoles: ObjectCache; roles: ObjectCache; clusterRoleBindings: ObjectCache; roleBindings: ObjectCache };
  #index: RbacIndex | undefined;
  readonly #listeners = new Set<() => void>();

  constructor(opts: { registry: Registry; defs: { clusterRoles: ResourceDef; roles: ResourceDef; clusterRoleBindings: ResourceDef; roleBindings: ResourceDef }; logger: Logger; signal: AbortSignal }) {
    const onEvent = (): void => {
      this.#index = undefined;
      for (const l of this.#listeners) l();
    };
    const cache = (def: ResourceDef): ObjectCache => new ObjectCache({ registry: opts.registry, def, logger: opts.logger, signal: opts.signal, onEvent });
    this.#caches = {
      clusterRoles: cache(opts.defs.clusterRoles),
      roles: cache(opts.defs.roles),
      clusterRoleBindings: cache(opts.defs.clusterRoleBindings),
      roleBindings: cache(opts.defs.roleBindings),
    };
  }

  async start(): Promise<void> {
    await Promise.all(Object.values(this.#caches).map((c) => c.start()));
  }

  /** called after any RBAC object changed (the aggregation of ClusterRoles listens) */
  onChange(fn: () => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  get index(): RbacIndex {
    this.#index ??= new RbacIndex({
      clusterRoles: this.#caches.clusterRoles.list() as Iterable<unknown> as Iterable<ClusterRole>,
      roles: this.#caches.roles.list() as Iterable<unknown> as Iterable<Role>,
      clusterRoleBindings: this.#caches.clusterRoleBindings.list() as Iterable<unknown> as Iterable<ClusterRoleBinding>,
      roleBindings: this.#caches.roleBindings.list() as Iterable<unknown> as Iterable<RoleBinding>,
    });
    return this.#index;
  }

  clusterRoles(): ClusterRole[] {
    return [...this.#caches.clusterRoles.list()] as unknown[] as ClusterRole[];
  }

  authorize(user: UserInfo, attrs: AuthorizationAttributes): RbacDecision {
    const req = ruleRequestOf(attrs);
    const ns = req.kind === 'resource' ? req.namespace : '';
    let reason = '';
    this.index.visit(user, ns, (src) => {
      for (const rule of src.rules) {
        if (!ruleAllows(req, rule)) continue;
        const where = src.binding.namespace ? ` in namespace "${src.binding.namespace}"` : '';
        reason = `RBAC: allowed by ${src.binding.kind} "${src.binding.name}"${where} of ${src.role.kind} "${src.role.name}" to ${describeUser(user)}`;
        return true;
      }
      return false;
    });
    return reason ? { allowed: true, reason } : { allowed: false, reason: '' };
  }

  rulesFor(user: UserInfo, namespace: string): PolicyRule[] {
    return this.index.rulesFor(user, namespace);
  }
}

function describeUser(user: UserInfo): string {
  return user.username.startsWith('system:serviceaccount:') ? `ServiceAccount "${user.username.slice('system:serviceaccount:'.length)}"` : `User "${user.username}"`;
}
