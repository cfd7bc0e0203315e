import type { ResourceRegistry } from '../../api/resources/registry.ts';
import type { Logger } from '../../lib/log.ts';
import type { AuthMetrics } from './auth-metrics.ts';
import type { AdmissionPlugin } from '../admission/types.ts';
import type { Authorizer } from './authorizer.ts';
import { ensureBootstrapPolicy } from '../bootstrap/rbac-policy.ts';
import { defaultAuthorizer } from './node-authorizer.ts';
import type { Registry } from '../registry/registry.ts';
import { NodeGraph } from './node-graph.ts';
import { ObjectCache } from './object-cache.ts';
import { authorizeNode } from './node-authorizer.ts';
import { clusterAuthorizer, type RuleResolvingAuthorizer, type SubjectRules } from './cluster-authorizer.ts';
import { rbacEscalationPlugin } from './rbac/escalation.ts';
import { RBAC_GROUP, RbacAuthorizer } from './rbac/rbac-authorizer.ts';
import type { UserInfo } from './types.ts';

/**
 * The apiserver's authorization, assembled once the registry exists: the configured authorizer
 * when one is given (tests), otherwise masters + node authorizer + RBAC over caches of the RBAC
 * types, with the default policy seeded. `authorizer` is stable from construction on (the
 * reviews and the escalation check hold it before `start`).
 */
export class ApiAuthorization {
  #active: Authorizer;
  #rbac: RbacAuthorizer | undefined;
  #resolver: RuleResolvingAuthorizer | undefined;
  readonly #configured: Authorizer | undefined;

  readonly #metrics: AuthMetrics | undefined;

  constructor(opts: { configured?: Authorizer; metrics?: AuthMetrics }) {
    this.#configured = opts.configured;
    this.#metrics = opts.metrics;
    this.#active = opts.configured ?? defaultAuthorizer();
  }

  readonly authorizer: Authorizer = { authorize: (user, attrs) => this.#active.authorize(user, attrs) };

  /** SelfSubjectRulesReview's answer; undefined rules when the configured authorizer cannot list them */
  readonly rules = (user: UserInfo, namespace: string): SubjectRules =>
    this.#resolver?.rulesFor(user, namespace) ?? { resourceRules: [], nonResourceRules: [], incomplete: true, evaluationError: 'the configured authorizer does not list rules' };

  /** the node authorizer's pod → object graph (undefined until started, or with a configured authorizer) */
  graph: NodeGraph | undefined;

  get rbac(): RbacAuthorizer | undefined {
    return this.#rbac;
  }

  admissionPlugins(): AdmissionPlugin[] {
    if (this.#configured) return [];
    const plugin = rbacEscalationPlugin({ authorizer: this.authorizer, index: () => this.#rbac!.index });
    // before start there is no RBAC index: nothing but the apiserver itself writes then
    return [{ name: plugin.name, validate: (req) => (this.#rbac ? plugin.validate?.(req) : undefined) }];
  }

  /** `pods`: the server's started pod cache, when it keeps one (shared, not a second copy) */
  async start(opts: { registry: Registry; resources: ResourceRegistry; logger: Logger; signal: AbortSignal; systemUser: UserInfo; bootstrapPolicy: boolean; pods?: ObjectCache }): Promise<void> {
    if (this.#configured) return;
    const lookup = (plural: string) => opts.resources.lookup(RBAC_GROUP, 'v1', plural);
    const defs = { clusterRoles: lookup('clusterroles'), roles: lookup('roles'), clusterRoleBindings: lookup('clusterrolebindings'), roleBindings: lookup('rolebindings') };
    const { clusterRoles, roles, clusterRoleBindings, roleBindings } = defs;
    // a server without the RBAC types (a trimmed resource list) keeps the built-in default-deny rules
    if (!clusterRoles || !roles || !clusterRoleBindings || !roleBindings) return;
    if (opts.bootstrapPolicy) await ensureBootstrapPolicy({ registry: opts.registry, clusterRoles, clusterRoleBindings, user: opts.systemUser, signal: opts.signal });
    const rbac = new RbacAuthorizer({ registry: opts.registry, defs: { clusterRoles, roles, clusterRoleBindings, roleBindings }, logger: opts.logger, signal: opts.signal });
    const podsDef = opts.resources.lookup('', 'v1', 'pods');
    const graph = new NodeGraph();
    if (opts.pods) {
      const pods = opts.pods;
      pods.listen((ev) => graph.apply(ev, () => pods.list()));
      graph.apply({ type: 'resynced' }, () => pods.list());
    } else if (podsDef) {
      const pods: ObjectCache = new ObjectCache({ registry: opts.registry, def: podsDef, logger: opts.logger, signal: opts.signal, onEvent: (ev) => graph.apply(ev, () => pods.list()) });
      await pods.start();
    }
    const claimsDef = opts.resources.lookup('', 'v1', 'persistentvolumeclaims');
    if (claimsDef) {
      const claims: ObjectCache = new ObjectCache({ registry: opts.registry, def: claimsDef, logger: opts.logger, signal: opts.signal, onEvent: (ev) => graph.applyClaim(ev, () => claims.list()) });
      await claims.start();
    }
    const ingressesDef = opts.resources.lookup('networking.k8s.io', 'v1', 'ingresses');
    if (ingressesDef) {
      const ingresses: ObjectCache = new ObjectCache({ registry: opts.registry, def: ingressesDef, logger: opts.logger, signal: opts.signal, onEvent: (ev) => graph.applyIngress(ev, () => ingresses.list()) });
      await ingresses.start();
    }
    await rbac.start();
    this.#rbac = rbac;
    this.graph = graph;
    this.#resolver = clusterAuthorizer({ rbac, node: (node, attrs) => authorizeNode(node, attrs, graph), metrics: this.#metrics });
    this.#active = this.#resolver;
  }
}
