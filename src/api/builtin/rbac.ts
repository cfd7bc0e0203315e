import { validatePathSegmentName } from '../meta/name.ts';
import { roleBindingTable, roleTable } from '../table/rbac.ts';
import type { SpecValidator } from '../validation/for-resource.ts';
import { validateClusterRole, validateClusterRoleBinding, validateRole, validateRoleBinding } from '../validation/rbac.ts';
import type { ResourceDef, TableDef } from '../resources/types.ts';
import { builtinDef } from './builtin-def.ts';

const rbacDef = (kind: string, plural: string, namespaced: boolean, table: TableDef, spec: SpecValidator): ResourceDef =>
  // RBAC names are path segments (system:masters-style colons allowed), upstream ValidateRBACName
  builtinDef({ group: 'rbac.authorization.k8s.io', version: 'v1', kind, plural, namespaced, table, nameFn: validatePathSegmentName, spec });

/** `rbac.authorization.k8s.io/v1`: Role, ClusterRole, RoleBinding, ClusterRoleBinding. */
export function rbacResources(): ResourceDef[] {
  return [
    rbacDef('ClusterRole', 'clusterroles', false, roleTable, validateClusterRole),
    rbacDef('ClusterRoleBinding', 'clusterrolebindings', false, roleBindingTable, validateClusterRoleBinding),
    rbacDef('Role', 'roles', true, roleTable, validateRole),
    rbacDef('RoleBinding', 'rolebindings', true, roleBindingTable, validateRoleBinding),
  ];
}
