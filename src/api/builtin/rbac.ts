import { validatePathSegmentName } from '../meta/name.ts';
import { roleBindingTable, roleTable } from '../table/rbac.ts';
import { objectValidator, type SpecValidator } from '../validation/for-resource.ts';
import { validateClusterRole, validateClusterRoleBinding, validateRole, validateRoleBinding } from '../validation/rbac.ts';
import type { ResourceDef, TableDef, Verb } from '../resources/types.ts';

const ALL_VERBS: Verb[] = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

function rbacDef(kind: string, plural: string, namespaced: boolean, table: TableDef, spec: SpecValidator): ResourceDef {
  return {
    group: 'rbac.authorization.k8s.io',
    version: 'v1',
    kind,
    listKind: `${kind}List`,
    plural,
    singular: kind.toLowerCase(),
    shortNames: [],
    categories: [],
    namespaced,
    verbs: [...ALL_VERBS],
    subresources: [],
    hasStatus: false,
    table,
    // RBAC names are path segments (system:masters-style colons allowed), upstream ValidateRBACName
    validate: objectValidator({ namespaced, nameFn: validatePathSegmentName, spec }),
  };
}

/** `rbac.authorization.k8s.io/v1`: Role, ClusterRole, RoleBinding, ClusterRoleBinding. */
export function rbacResources(): ResourceDef[] {
  return [
    rbacDef('ClusterRole', 'clusterroles', false, roleTable, validateClusterRole),
    rbacDef('ClusterRoleBinding', 'clusterrolebindings', false, roleBindingTable, validateClusterRoleBinding),
    rbacDef('Role', 'roles', true, roleTable, validateRole),
    rbacDef('RoleBinding', 'rolebindings', true, roleBindingTable, validateRoleBinding),
  ];
}
