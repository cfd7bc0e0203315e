import type { KubeObject } from '../../api/object.ts';
import { SYSTEM_PRIORITY_CLASSES } from '../../api/priority-classes.ts';
import type { ResourceDef } from '../../api/resources/types.ts';
import { isHedgeError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import type { UserInfo } from '../auth/types.ts';
import type { Registry } from '../registry/registry.ts';
import { runtimeClassObject, type DefaultRuntimeClass } from './runtime-classes.ts';
import { localPathStorageClass } from './storage-class.ts';
import { isDefaultClass } from '../../api/storage/claims.ts';

/** Who the apiserver's own writes come from (upstream's loopback client is in system:masters too). */
export const systemUser: UserInfo = { username: 'system:apiserver', groups: ['system:masters'] };

export const bootstrapNamespaceNames = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

export interface SeedOptions {
  registry: Registry;
  /** the namespaces type, when served; the bootstrap namespaces are created in it */
  namespaces?: ResourceDef;
  /** the RuntimeClass type, when served */
  runtimeClasses?: ResourceDef;
  /** false skips the bootstrap namespaces */
  seedNamespaces: boolean;
  defaultRuntimeClasses: readonly DefaultRuntimeClass[];
  /** the PriorityClass type, when served: the system classes are created in it */
  priorityClasses?: ResourceDef;
  /** the StorageClass type, when served: the default `local-path` class is created in it */
  storageClasses?: ResourceDef;
  signal: AbortSignal;
}

/**
 * What a fresh server creates before it listens: the bootstrap namespaces, default RuntimeClasses,
 * the system PriorityClasses (upstream's scheduling storage post-start hook) and the `local-path`
 * StorageClass, each only when absent.
 */
export async function seedBootstrapObjects(opts: SeedOptions): Promise<void> {
  const { registry, signal } = opts;
  if (opts.namespaces && opts.seedNamespaces) {
    for (const name of bootstrapNamespaceNames) {
      await createIfAbsent(registry, opts.namespaces, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } }, signal);
    }
  }
  if (opts.runtimeClasses) {
    for (const rc of opts.defaultRuntimeClasses) await createIfAbsent(registry, opts.runtimeClasses, runtimeClassObject(rc), signal);
  }
  if (opts.priorityClasses) {
    for (const pc of SYSTEM_PRIORITY_CLASSES) {
      const obj: KubeObject = { apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: { name: pc.name }, value: pc.value, description: pc.description };
      await createIfAbsent(registry, opts.priorityClasses, obj, signal);
    }
  }
  if (opts.storageClasses) {
    // a cluster whose users made another class the default (and deleted ours) keeps theirs
    const classes = await registry.storeFor(opts.storageClasses).list('', {});
    if (!classes.items.some((kv) => isDefaultClass(registry.codec.decode(kv).obj))) await createIfAbsent(registry, opts.storageClasses, localPathStorageClass(), signal);
  }
}

/** Every new namespace gets a `default` ServiceAccount (upstream's serviceaccounts controller). */
export async function ensureDefaultServiceAccount(opts: { registry: Registry; serviceAccounts: ResourceDef; namespace: string; signal: AbortSignal; log: Logger }): Promise<void> {
  const sa: KubeObject = { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace: opts.namespace } };
  try {
    await opts.registry.create(opts.serviceAccounts, sa, { user: systemUser, dryRun: false, signal: opts.signal, fieldManager: 'kube-controller-manager' });
  } catch (err) {
    if (!isHedgeError(err, 'AlreadyExists')) opts.log.warn({ err, namespace: opts.namespace }, 'could not create the default service account');
  }
}

/** Cluster-scoped objects only: a restart (or a second apiserver) finds them there already. */
async function createIfAbsent(registry: Registry, def: ResourceDef, obj: KubeObject, signal: AbortSignal): Promise<void> {
  if (await registry.storeFor(def).tryGet('', obj.metadata.name ?? '')) return;
  try {
    await registry.create(def, obj, { user: systemUser, dryRun: false, signal, fieldManager: 'kube-apiserver' });
  } catch (err) {
    if (!isHedgeError(err, 'AlreadyExists')) throw err;
  }
}
