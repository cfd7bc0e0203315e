import type { ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef } from 'kubernetes-types/rbac/v1.js';
import { subjectKey, userKeys } from '../../../api/rbac/index.ts';

/** Where a rule came from, for allow reasons and rules reviews. */
export interface RuleSource {
  binding: { kind: 'ClusterRoleBinding' | 'RoleBinding'; name: string; namespace?: string };
  role: RoleRef;
  rules: readonly PolicyRule[];
}

/** What the index is built from: the four RBAC types as the caches hold them. */
export interface RbacObjects {
  clusterRoles: Iterable<ClusterRole>;
  roles: Iterable<Role>;
  clusterRoleBindings: Iterable<ClusterRoleBinding>;
  roleBindings: Iterable<RoleBinding>;
}

const EMPTY: readonly PolicyRule[] = [];

/**
 * Bindings indexed by subject (`u:<user>`, `g:<group>`; service accounts are users), so a
 * request looks at only the bindings naming its user or one of its groups — not all of them.
 * Immutable: rebuilt when any RBAC object changes.
 */
export class RbacIndex {
  readonly #clusterRoles = new Map<string, readonly PolicyRule[]>();
  readonly #roles = new Map<string, readonly PolicyRule[]>();
  readonly #crbBySubject = new Map<string, ClusterRoleBinding[]>();
  /** key: `<namespace>|<subject key>` */
  readonly #rbBySubject = new Map<string, RoleBinding[]>();

  constructor(objs: RbacObjects) {
    for (const cr of objs.clusterRoles) this.#clusterRoles.set(cr.metadata?.name ?? '', cr.rules ?? EMPTY);
    for (const r of objs.roles) this.#roles.set(`${r.metadata?.namespace ?? ''}/${r.metadata?.name ?? ''}`, r.rules ?? EMPTY);
    for (const b of objs.clusterRoleBindings) {
      for (const key of new Set((b.subjects ?? []).map((s) => subjectKey(s, '')))) {
        if (key === undefined) continue;
        let list = this.#crbBySubject.get(key);
        if (!list) this.#crbBySubject.set(key, (list = []));
        list.push(b);
      }
    }
    for (const b of objs.roleBindings) {
      const ns = b.metadata?.namespace ?? '';
      for (const key of new Set((b.subjects ?? []).map((s) => subjectKey(s, ns)))) {
        if (key === undefined) continue;
        const k = `${ns}|${key}`;
        let list = this.#rbBySubject.get(k);
        if (!list) this.#rbBySubject.set(k, (list = []));
        list.push(b);
      }
    }
  }

  /** The rules a roleRef points at ([] when the role does not exist, as upstream treats a dangling binding). */
  roleRules(ref: RoleRef, namespace: string): readonly PolicyRule[] | undefined {
    if (ref.kind === 'ClusterRole') return this.#clusterRoles.get(ref.name);
    if (ref.kind === 'Role' && namespace) return this.#roles.get(`${namespace}/${ref.name}`);
    return undefined;
  }

  /**
   * Visit the rule sets that apply to a user: cluster role bindings first, then role bindings of
   * `namespace` ('' = cluster scope only). Stops when `visit` returns true.
   */
  visit(user: { username: string; groups: readonly string[] }, namespace: string, visit: (src: RuleSource) => boolean): boolean {
    const keys = userKeys(user);
    const seen = new Set<object>();
    for (const key of keys) {
      for (const b of this.#crbBySubject.get(key) ?? []) {
        if (seen.has(b)) continue;
        seen.add(b);
        const rules = this.roleRules(b.roleRef, '');
        if (rules && visit({ binding: { kind: 'ClusterRoleBinding', name: b.metadata?.name ?? '' }, role: b.roleRef, rules })) return true;
      }
    }
    if (!namespace) return false;
    for (const key of keys) {
      for (const b of this.#rbBySubject.get(`${namespace}|${key}`) ?? []) {
        if (seen.has(b)) continue;
        seen.add(b);
        const rules = this.roleRules(b.roleRef, namespace);
        if (rules && visit({ binding: { kind: 'RoleBinding', name: b.metadata?.name ?? '', namespace }, role: b.roleRef, rules })) return true;
      }
    }
    return false;
  }

  /** Every rule a user holds in `namespace` (cluster-wide ones included). */
  rulesFor(user: { username: string; groups: readonly string[] }, namespace: string): PolicyRule[] {
    const out: PolicyRule[] = [];
    this.visit(user, namespace, (src) => {
      out.push(...src.rules);
      return false;
    });
    return out;
  }
}
