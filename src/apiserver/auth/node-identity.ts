import type { UserInfo } from './types.ts';

export const NODE_USER_PREFIX = 'system:node:';
export const NODES_GROUP_NAME = 'system:nodes';
export const MASTERS_GROUP = 'system:masters';
export const NODE_LEASE_NAMESPACE = 'kube-node-lease';

/** The node a user acts as (`system:node:<name>` in `system:nodes`), as upstream's NodeIdentifier decides. */
export function nodeNameOf(user: UserInfo): string | undefined {
  if (!user.username.startsWith(NODE_USER_PREFIX) || !user.groups.includes(NODES_GROUP_NAME)) return undefined;
  const name = user.username.slice(NODE_USER_PREFIX.length);
  return name === '' ? undefined : name;
}
