import type { ClusterRoleBinding, RoleBinding, Subject } from 'kubernetes-types/rbac/v1.js';
import type { KubeObject } from '../object.ts';
import type { TableDef } from '../resources/types.ts';
import { ageColumn, column, nameColumn } from './columns.ts';
import { since } from './duration.ts';

const name = (obj: KubeObject): string => obj.metadata?.name ?? '';

/** Roles and ClusterRoles: upstream prints the creation time, not an age. */
export const roleTable: TableDef = {
  columns: [nameColumn(), column('Created At', 'CreationTimestamp is a timestamp representing the server time when this object was created.', { type: 'date' })],
  row: (obj) => [name(obj), obj.metadata?.creationTimestamp ? new Date(obj.metadata.creationTimestamp).toISOString().replace(/\.\d{3}Z$/, 'Z') : ''],
};

function subjectsOf(subjects: Subject[] | undefined, bindingNamespace: string): [string, string, string] {
  const users: string[] = [];
  const groups: string[] = [];
  const sas: string[] = [];
  for (const s of subjects ?? []) {
    if (s.kind === 'User') users.push(s.name);
    else if (s.kind === 'Group') groups.push(s.name);
    else if (s.kind === 'ServiceAccount') sas.push(`${s.namespace || bindingNamespace}:${s.name}`);
  }
  return [users.join(', '), groups.join(', '), sas.join(', ')];
}

/** RoleBindings and ClusterRoleBindings: NAME ROLE AGE, with subjects under -o wide. */
export const roleBindingTable: TableDef = {
  columns: [
    nameColumn(),
    column('Role', 'Role of the binding.'),
    ageColumn(),
    column('Users', 'Users in the binding.', { priority: 1 }),
    column('Groups', 'Groups in the binding.', { priority: 1 }),
    column('ServiceAccounts', 'ServiceAccounts in the binding.', { priority: 1 }),
  ],
  row(obj, now) {
    const b = obj as unknown as RoleBinding | ClusterRoleBinding;
    const ns = obj.metadata?.namespace ?? '';
    return [name(obj), `${b.roleRef?.kind ?? ''}/${b.roleRef?.name ?? ''}`, since(obj.metadata?.creationTimestamp, now), ...subjectsOf(b.subjects, ns)];
  },
};
