import type { Subject } from 'kubernetes-types/rbac/v1.js';

export const SERVICE_ACCOUNT_USER_PREFIX = 'system:serviceaccount:';

/** The user name a service account authenticates as (upstream serviceaccount.MakeUsername). */
export function serviceAccountUsername(namespace: string, name: string): string {
  return `${SERVICE_ACCOUNT_USER_PREFIX}${namespace}:${name}`;
}

/** The service account a user name stands for, if it is one. */
export function parseServiceAccountUsername(username: string): { namespace: string; name: string } | undefined {
  if (!username.startsWith(SERVICE_ACCOUNT_USER_PREFIX)) return undefined;
  const rest = username.slice(SERVICE_ACCOUNT_USER_PREFIX.length).split(':');
  if (rest.length !== 2 || !rest[0] || !rest[1]) return undefined;
  return { namespace: rest[0], name: rest[1] };
}

/**
 * The key a subject is indexed under: `u:<username>` for users and service accounts (an SA is
 * the user `system:serviceaccount:<ns>:<name>`, its namespace defaulting to the binding's),
 * `g:<group>` for groups. Undefined for subjects that can never match (unknown kind, no name).
 */
export function subjectKey(subject: Subject, bindingNamespace: string): string | undefined {
  if (!subject.name) return undefined;
  switch (subject.kind) {
    case 'User':
      return `u:${subject.name}`;
    case 'Group':
      return `g:${subject.name}`;
    case 'ServiceAccount': {
      const ns = subject.namespace || bindingNamespace;
      return ns ? `u:${serviceAccountUsername(ns, subject.name)}` : undefined;
    }
    default:
      return undefined;
  }
}

/** The keys a user matches: its name and each of its groups. */
export function userKeys(user: { username: string; groups: readonly string[] }): string[] {
  return [`u:${user.username}`, ...user.groups.map((g) => `g:${g}`)];
}

/** upstream appliesTo: does any subject of a binding name this user? */
export function subjectsApply(user: { username: string; groups: readonly string[] }, subjects: readonly Subject[] | undefined, bindingNamespace: string): boolean {
  const keys = new Set(userKeys(user));
  for (const s of subjects ?? []) {
    const k = subjectKey(s, bindingNamespace);
    if (k !== undefined && keys.has(k)) return true;
  }
  return false;
}
