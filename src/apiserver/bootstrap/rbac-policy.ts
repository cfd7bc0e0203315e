import type { KubeObject } from '../../api/object.ts';
import { bootstrapClusterRoleBindings, bootstrapClusterRoles } from '../../api/rbac/index.ts';
import type { ResourceDef } from '../../api/resources/types.ts';
import { isHedgeError } from '../../lib/errors.ts';
import type { UserInfo } from '../auth/types.ts';
import type { Registry } from '../registry/registry.ts';

/**
 * Create the default ClusterRoles and ClusterRoleBindings that are missing, as kube-apiserver's
 * `rbac/bootstrap-roles` post-start hook does. Existing objects are left as they are: an admin's
 * edit of a default role survives restarts (upstream reconciles only `autoupdate=true` ones;
 * we never overwrite).
 */
export async function ensureBootstrapPolicy(opts: { registry: Registry; clusterRoles: ResourceDef; clusterRoleBindings: ResourceDef; user: UserInfo; signal: AbortSignal }): Promise<void> {
  const seed = async (def: ResourceDef, objs: KubeObject[]): Promise<void> => {
    for (const obj of objs) {
      if (await opts.registry.storeFor(def).tryGet('', obj.metadata.name ?? '')) continue;
      try {
        await opts.registry.create(def, obj, { user: opts.user, dryRun: false, signal: opts.signal, fieldManager: 'kube-apiserver' });
      } catch (err) {
        if (!isHedgeError(err, 'AlreadyExists')) throw err;
      }
    }
  };
  await seed(opts.clusterRoles, bootstrapClusterRoles() as unknown[] as KubeObject[]);
  await seed(opts.clusterRoleBindings, bootstrapClusterRoleBindings() as unknown[] as KubeObject[]);
}
