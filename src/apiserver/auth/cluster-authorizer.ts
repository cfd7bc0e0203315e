import type { PolicyRule } from 'kubernetes-types/rbac/v1.js';
import type { AuthMetrics } from './auth-metrics.ts';
import type { AuthorizationAttributes, AuthorizationDecision, Authorizer } from './authorizer.ts';
import { authorizeNode } from './node-authorizer.ts';
import { MASTERS_GROUP, nodeNameOf } from './node-identity.ts';
import type { RbacAuthorizer } from './rbac/rbac-authorizer.ts';
import type { UserInfo } from './types.ts';

/** What a user may do in a namespace, as SelfSubjectRulesReview reports it. */
export interface SubjectRules {
  resourceRules: { verbs: string[]; apiGroups?: string[]; resources?: string[]; resourceNames?: string[] }[];
  nonResourceRules: { verbs: string[]; nonResourceURLs?: string[] }[];
  incomplete: boolean;
  evaluationError?: string;
}

/** An authorizer that can also list a user's rules (upstream authorizer.RuleResolver). */
export interface RuleResolvingAuthorizer extends Authorizer {
  rulesFor(user: UserInfo, namespace: string): SubjectRules;
}

export type NodeAuthorizerFn = (node: string, attrs: AuthorizationAttributes) => AuthorizationDecision;

/**
 * kube-apiserver's `--authorization-mode=Node,RBAC` plus the system:masters short-cut: masters
 * may do anything; a node identity gets what the node authorizer allows; then RBAC decides
 * (what is not granted is denied — default-deny). A node denied by its own rules may still be
 * granted more by an RBAC binding, as upstream's union authorizer allows.
 */
export function clusterAuthorizer(opts: { rbac: RbacAuthorizer; node?: NodeAuthorizerFn; metrics?: AuthMetrics }): RuleResolvingAuthorizer {
  const node = opts.node ?? authorizeNode;
  const { metrics } = opts;
  return {
    authorize(user, attrs): AuthorizationDecision {
      if (user.groups.includes(MASTERS_GROUP)) return { allowed: true };
      const nodeName = nodeNameOf(user);
      let nodeDecision: AuthorizationDecision | undefined;
      if (nodeName !== undefined) {
        nodeDecision = node(nodeName, attrs);
        if (nodeDecision.allowed) {
          metrics?.decided({ type: 'Node', name: 'node' }, 'allowed');
          return nodeDecision;
        }
      }
      const d = opts.rbac.authorize(user, attrs);
      if (d.allowed) {
        metrics?.decided({ type: 'RBAC', name: 'rbac' }, 'allowed');
        return d;
      }
      // neither denies outright (upstream's node authorizer and RBAC say no-opinion): the default deny
      return { allowed: false, reason: nodeDecision && !nodeDecision.allowed ? nodeDecision.reason : '', noOpinion: true };
    },
    rulesFor(user, namespace): SubjectRules {
      const rules: PolicyRule[] = opts.rbac.rulesFor(user, namespace);
      const out: SubjectRules = { resourceRules: [], nonResourceRules: [], incomplete: false };
      for (const r of rules) {
        if (r.nonResourceURLs?.length) out.nonResourceRules.push({ verbs: [...r.verbs], nonResourceURLs: [...r.nonResourceURLs] });
        else {
          const rr: SubjectRules['resourceRules'][number] = { verbs: [...r.verbs], apiGroups: [...(r.apiGroups ?? [])], resources: [...(r.resources ?? [])] };
          if (r.resourceNames?.length) rr.resourceNames = [...r.resourceNames];
          out.resourceRules.push(rr);
        }
      }
      // the node authorizer's grants are not expressible as rules (upstream says the same)
      if (nodeNameOf(user) !== undefined) {
        out.incomplete = true;
        out.evaluationError = 'node authorizer does not support user rule resolution';
      }
      return out;
    },
  };
}
