import type { KubeObject } from '../../api/object.ts';
import { SYSTEM_PRIORITY_CLASSES } from '../../api/priority-classes.ts';
import type { ResourceDef } from '../../api/resources/types.ts';
import { isHedgeError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import type { UserInfo } from '../auth/types.ts';
import type { Registry } from '../registry/registry.ts';
import { runtimeClassObject, type DefaultRuntimeClass } from './runtime-classes.ts';
import { localPathStorageClass } from './storage-class.ts';
import { hedgeIngressClass } from './ingress-class.ts';
import { isDefaultIngressClass } from '../../api/networking/ingress.ts';
import { isDefaultClass } from '../../api/storage/claims.ts';
import { DEFAULT_SERVICE_ACCOUNT } from '../../api/service-account.ts';

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
  /** the IngressClass type, when served: the `hedge` class is created in it */
  ingressClasses?: ResourceDef;
  signal: AbortSignal;
}

/**
 * What a fresh server creates before it listens: the bootstrap namespaces, default RuntimeClasses,
 * the system PriorityClasses (upstream's scheduling storage post-start hook), the `local-path`
 * StorageClass and the `hedge` IngressClass, each only when absent.
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
  if (opts.ingressClasses) {
    // as the StorageClass: a cluster whose users made another class the default keeps theirs
    const classes = await registry.storeFor(opts.ingressClasses).list('', {});
    if (!classes.items.some((kv) => isDefaultIngressClass(registry.codec.decode(kv).obj))) await createIfAbsent(registry, opts.ingressClasses, hedgeIngressClass(), signal);
  }
}

/**
 * Creates a namespace's `default` ServiceAccount; true when it is there afterwards (made, or made
 * before), or needs none (a namespace being deleted refuses it: Forbidden); a failure throws.
 */
export async function createDefaultServiceAccount(opts: { registry: Registry; serviceAccounts: ResourceDef; namespace: string; signal: AbortSignal }): Promise<void> {
  const sa: KubeObject = { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: DEFAULT_SERVICE_ACCOUNT, namespace: opts.namespace } };
  try {
    await opts.registry.create(opts.serviceAccounts, sa, { user: systemUser, dryRun: false, signal: opts.signal, fieldManager: 'kube-controller-manager' });
  } catch (err) {
    if (!isHedgeError(err, 'AlreadyExists') && !isHedgeError(err, 'Forbidden')) throw err;
  }
}

/**
 * Every new namespace gets a `default` ServiceAccount at once (upstream's serviceaccounts
 * controller makes it a moment later; a pod created right after its namespace needs it). A
 * failure is logged: serviceaccount/default-account-controller.ts tries again with backoff.
 */
export async function ensureDefaultServiceAccount(opts: { registry: Registry; serviceAccounts: ResourceDef; namespace: string; signal: AbortSignal; log: Logger }): Promise<void> {
  try {
    await createDefaultServiceAccount(opts);
  } catch (err) {
    opts.log.warn({ err, namespace: opts.namespace }, 'could not create the default service account');
  }
}

/**
 * The rest of upstream's serviceaccounts controller, which the ServiceAccount admission relies on
 * (a pod whose account is missing is refused): a `default` account deleted from a namespace that
 * is not being deleted is made again, and at start every such namespace without one (a create
 * that failed, a store written before) gets it. `namespace` limits it to one.
 */
export async function restoreDefaultServiceAccounts(opts: {
  registry: Registry;
  namespaces: ResourceDef;
  serviceAccounts: ResourceDef;
  namespace?: string;
  /** whether a namespace has its `default` account (a synced cache, at start); else read from the store */
  hasDefault?: (namespace: string) => boolean;
  signal: AbortSignal;
  log: Logger;
}): Promise<void> {
  const { registry } = opts;
  const namespaces =
    opts.namespace === undefined
      ? (await registry.storeFor(opts.namespaces).list('', {})).items.map((kv) => registry.codec.decode(kv).obj)
      : [(await registry.storeFor(opts.namespaces).tryGet('', opts.namespace))?.obj].filter((o) => o !== undefined);
  for (const ns of namespaces) {
    const name = ns.metadata.name ?? '';
    if (!name || ns.metadata.deletionTimestamp || (ns.status as { phase?: string } | undefined)?.phase === 'Terminating') continue;
    if (opts.hasDefault ? opts.hasDefault(name) : await registry.storeFor(opts.serviceAccounts).tryGet(name, DEFAULT_SERVICE_ACCOUNT)) continue;
    await ensureDefaultServiceAccount({ ...opts, namespace: name });
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
