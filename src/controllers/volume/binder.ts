import { matches, selectorFromLabelSelector } from '../../api/labels/selector.ts';
import {
  claimClass,
  offersAccessModes,
  requestedStorage,
  volumeCapacity,
  volumeClass,
  volumeModeOf,
  type PersistentVolumeClaimObject,
  type PersistentVolumeObject,
  type StorageClassObject,
} from '../../api/storage/claims.ts';
import {
  BOUND_BY_CONTROLLER_ANNOTATION,
  HOSTNAME_LABEL,
  LOCAL_PATH_CLEANUP_FINALIZER,
  LOCAL_PATH_DRIVER,
  LOCAL_PATH_PROVISIONER,
  PROVISIONED_BY_ANNOTATION,
} from '../../api/storage/names.ts';
import type { NodeObject } from '../common/types.ts';
import { matchTerm } from '../scheduler/filters/node-affinity.ts';

/** a PV's required node terms admit the node (no affinity admits every node): the scheduler's VolumeBinding test too */
export function volumeFitsNode(pv: PersistentVolumeObject, node: NodeObject): boolean {
  const terms = pv.spec?.nodeAffinity?.required?.nodeSelectorTerms;
  return !terms?.length || terms.some((t) => matchTerm(t, node));
}

/** the claim is the one this PV's claimRef names (by uid once the binder has filled it) */
export function claimRefMatches(pv: PersistentVolumeObject, pvc: PersistentVolumeClaimObject): boolean {
  const ref = pv.spec?.claimRef;
  if (!ref || ref.name !== pvc.metadata.name || (ref.namespace ?? '') !== (pvc.metadata.namespace ?? '')) return false;
  return !ref.uid || ref.uid === pvc.metadata.uid;
}

/**
 * upstream's findMatchingVolume: a volume pre-bound to the claim wins; otherwise the smallest
 * unclaimed, non-terminating volume of the claim's class that offers its access modes, volume
 * mode, selector labels and at least its requested capacity (and, when `node` is given, admits
 * that node).
 */
export function findMatchingVolume(pvc: PersistentVolumeClaimObject, volumes: Iterable<PersistentVolumeObject>, node?: NodeObject): PersistentVolumeObject | undefined {
  const wanted = requestedStorage(pvc);
  if (!wanted) return undefined;
  const selector = pvc.spec?.selector ? selectorFromLabelSelector(pvc.spec.selector) : undefined;
  const cls = claimClass(pvc);
  let best: PersistentVolumeObject | undefined;
  for (const pv of volumes) {
    if (pv.metadata.deletionTimestamp) continue;
    const capacity = volumeCapacity(pv);
    if (!capacity || capacity.cmp(wanted) < 0) continue;
    if (volumeModeOf(pv) !== volumeModeOf(pvc)) continue;
    if (!offersAccessModes(pv.spec?.accessModes, pvc.spec?.accessModes)) continue;
    if (node && !volumeFitsNode(pv, node)) continue;
    const preBound = claimRefMatches(pv, pvc);
    if (preBound) return pv;
    if (pv.spec?.claimRef) continue;
    if (pv.status?.phase !== 'Available' && pv.status?.phase !== 'Pending') continue;
    if (volumeClass(pv) !== cls) continue;
    if (selector && !matches(selector, pv.metadata.labels ?? {})) continue;
    if (!best || capacity.cmp(volumeCapacity(best)!) < 0) best = pv;
  }
  return best;
}

/** the value a local-path PV's node affinity names: the node's hostname label, else its name */
export const nodeHostname = (node: NodeObject): string => node.metadata.labels?.[HOSTNAME_LABEL] ?? node.metadata.name ?? '';

/** the PV name (and volumeHandle, and node directory) of a claim's local-path volume */
export const localPathVolumeName = (pvc: PersistentVolumeClaimObject): string => `pvc-${pvc.metadata.uid}`;

/**
 * The PV the local-path provisioner makes for a claim on `node` (the fixed interface the node
 * agent mounts and deletes): a CSI source of driver local-path.hedge.io, pinned to the node by
 * its hostname, already bound to the claim, held by the cleanup finalizer until the node has
 * deleted the directory.
 */
export function provisionedVolume(pvc: PersistentVolumeClaimObject, sc: StorageClassObject, node: NodeObject): PersistentVolumeObject {
  const name = localPathVolumeName(pvc);
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: {
      name,
      annotations: { [PROVISIONED_BY_ANNOTATION]: LOCAL_PATH_PROVISIONER, [BOUND_BY_CONTROLLER_ANNOTATION]: 'yes' },
      finalizers: [LOCAL_PATH_CLEANUP_FINALIZER],
    },
    spec: {
      capacity: { storage: String((pvc.spec?.resources?.requests as Record<string, unknown> | undefined)?.storage) },
      accessModes: [...(pvc.spec?.accessModes ?? [])],
      storageClassName: sc.metadata.name,
      persistentVolumeReclaimPolicy: sc.reclaimPolicy ?? 'Delete',
      volumeMode: 'Filesystem',
      csi: { driver: LOCAL_PATH_DRIVER, volumeHandle: name },
      nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: HOSTNAME_LABEL, operator: 'In', values: [nodeHostname(node)] }] }] } },
      claimRef: { kind: 'PersistentVolumeClaim', apiVersion: 'v1', namespace: pvc.metadata.namespace, name: pvc.metadata.name, uid: pvc.metadata.uid, resourceVersion: pvc.metadata.resourceVersion },
      ...(sc.mountOptions?.length ? { mountOptions: [...sc.mountOptions] } : {}),
    },
  };
}

/** the node name a local-path PV lives on: the node whose hostname label (else name) its affinity names */
export function volumeNode(pv: PersistentVolumeObject, nodes: Iterable<NodeObject>): { hostname: string; node?: NodeObject } | undefined {
  const expr = pv.spec?.nodeAffinity?.required?.nodeSelectorTerms?.[0]?.matchExpressions?.find((e) => e.key === HOSTNAME_LABEL && e.operator === 'In');
  const hostname = expr?.values?.[0];
  if (!hostname) return undefined;
  for (const n of nodes) if (nodeHostname(n) === hostname) return { hostname, node: n };
  return { hostname };
}

export const isLocalPathVolume = (pv: PersistentVolumeObject): boolean => pv.spec?.csi?.driver === LOCAL_PATH_DRIVER;
