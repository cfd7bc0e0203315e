import type { ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding } from 'kubernetes-types/rbac/v1.js';
import { covers, describeRule } from '../../../api/rbac/index.ts';
import { HedgeError } from '../../../lib/errors.ts';
import type { AdmissionPlugin, AdmissionRequest } from '../../admission/types.ts';
import type { AuthorizationAttributes, Authorizer } from '../authorizer.ts';
import { MASTERS_GROUP } from '../node-identity.ts';
import type { UserInfo } from '../types.ts';
import { RBAC_GROUP } from './rbac-authorizer.ts';
import type { RbacIndex } from './rbac-index.ts';

export interface EscalationCheckOptions {
  authorizer: Authorizer;
  /** the current RBAC index (what the user holds, what a roleRef grants) */
  index(): RbacIndex;
}

function forbid(req: AdmissionRequest, reason: string): HedgeError {
  const { def } = req;
  return new HedgeError('Forbidden', `${def.plural}.${def.group} "${req.name}" is forbidden: ${reason}`, {
    details: { kind: def.plural, group: def.group, name: req.name },
  });
}

const describeUser = (u: UserInfo): string => `user "${u.username}" (groups=[${u.groups.map((g) => JSON.stringify(g)).join(' ')}])`;

/**
 * RBAC's escalation prevention (upstream's policybased role and binding storage): a user may
 * create or update a Role/ClusterRole only with rules it already holds where the role applies,
 * unless it may `escalate` that role; and a RoleBinding/ClusterRoleBinding only to a role whose
 * rules it holds in the binding's namespace, unless it may `bind` that role. system:masters
 * (the apiserver's own bootstrap writes included) is exempt.
 */
export function rbacEscalationPlugin(opts: EscalationCheckOptions): AdmissionPlugin {
  const allowedVerb = async (user: UserInfo, verb: string, resource: string, name: string, namespace: string): Promise<boolean> => {
    const attrs: AuthorizationAttributes = { isResourceRequest: true, verb: verb as AuthorizationAttributes['verb'], apiPrefix: 'apis', group: RBAC_GROUP, version: 'v1', namespace, resource, subresource: '', name, path: '' };
    return (await opts.authorizer.authorize(user, attrs)).allowed;
  };
  const notHeld = (req: AdmissionRequest, missing: PolicyRule[]): HedgeError =>
    forbid(req, `${describeUser(req.user)} is attempting to grant RBAC permissions not currently held:\n${missing.map(describeRule).join('\n')}`);

  return {
    name: 'RBACEscalation',
    async validate(req) {
      if (req.def.group !== RBAC_GROUP || req.subresource !== '' || (req.operation !== 'CREATE' && req.operation !== 'UPDATE') || !req.object) return;
      if (req.user.groups.includes(MASTERS_GROUP)) return;
      const ns = req.namespace;
      switch (req.def.plural) {
        case 'roles':
        case 'clusterroles': {
          const role = req.object as unknown as Role | ClusterRole;
          if (await allowedVerb(req.user, 'escalate', req.def.plural, req.name, ns)) return;
          const agg = (role as ClusterRole).aggregationRule;
          const oldAgg = (req.oldObject as unknown as ClusterRole | undefined)?.aggregationRule;
          if (agg && JSON.stringify(agg) !== JSON.stringify(oldAgg ?? null)) throw forbid(req, 'must have cluster-admin privileges to use the aggregationRule');
          // an aggregated role's rules are the controller's to fill
          if (agg) return;
          const { covered, missing } = covers(opts.index().rulesFor(req.user, ns), role.rules ?? []);
          if (!covered) throw notHeld(req, missing);
          return;
        }
        case 'rolebindings':
        case 'clusterrolebindings': {
          const b = req.object as unknown as RoleBinding | ClusterRoleBinding;
          const old = req.oldObject as unknown as RoleBinding | undefined;
          // only a new roleRef grants anything new: subjects may be edited by whoever may update the binding
          if (old && old.roleRef?.kind === b.roleRef?.kind && old.roleRef?.name === b.roleRef?.name) return;
          const ref = b.roleRef;
          const refResource = ref.kind === 'ClusterRole' ? 'clusterroles' : 'roles';
          if (await allowedVerb(req.user, 'bind', refResource, ref.name, ref.kind === 'ClusterRole' ? '' : ns)) return;
          if (await allowedVerb(req.user, 'bind', refResource, ref.name, ns)) return;
          const rules = opts.index().roleRules(ref, ns);
          if (rules === undefined) throw forbid(req, `${refResource}.${RBAC_GROUP} "${ref.name}" not found`);
          const { covered, missing } = covers(opts.index().rulesFor(req.user, ns), rules);
          if (!covered) throw notHeld(req, missing);
          return;
        }
      }
    },
  };
}
