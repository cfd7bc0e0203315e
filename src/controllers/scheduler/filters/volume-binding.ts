import { claimClass, podClaimNames, type PersistentVolumeClaimObject, type PersistentVolumeObject, type StorageClassObject } from '../../../api/storage/claims.ts';
import { SELECTED_NODE_ANNOTATION } from '../../../api/storage/names.ts';
import type { NodeObject } from '../../common/types.ts';
import { matchTerm } from './node-affinity.ts';
import type { Filter } from './types.ts';

export type { StorageClassObject };
export type PvcObject = PersistentVolumeClaimObject;
export type PvObject = PersistentVolumeObject;

/** The scheduler's views of the storage objects (its informers). */
export interface VolumeLookup {
  claim(namespace: string, name: string): PvcObject | undefined;
  volume(name: string): PvObject | undefined;
  storageClass(name: string): StorageClassObject | undefined;
}

/** Upstream's annotation: the node a WaitForFirstConsumer claim's volume is to be provisioned for. */
export const ANNOTATION_SELECTED_NODE = SELECTED_NODE_ANNOTATION;
/** A class whose volumes are made by hand only (upstream's local static provisioning). */
export const NO_PROVISIONER = 'kubernetes.io/no-provisioner';

export const REASON_NODE_CONFLICT = 'node(s) had volume node affinity conflict';
export const REASON_BIND_CONFLICT = "node(s) didn't find available persistent volumes to bind";
export const REASON_PV_MISSING = 'node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)';

/** Per attempt: the bound claims' volumes and the claims to provision once a node is picked. */
export interface VolumeBindingState {
  /** PVs the pod's bound claims use (undefined: the PV is not known) */
  bound: { claim: string; volume: PvObject | undefined }[];
  /** unbound claims with a WaitForFirstConsumer class: provisioned for the chosen node */
  delayed: { claim: PvcObject; storageClass: StorageClassObject }[];
}

/** The PV's node affinity admits the node (no affinity: any node). */
export function volumeFitsNode(pv: PvObject, node: NodeObject): boolean {
  const terms = pv.spec?.nodeAffinity?.required?.nodeSelectorTerms;
  return !terms?.length || terms.some((t) => matchTerm(t, node));
}

/** The class's allowedTopologies admit the node (none: any node). */
function topologyAllows(sc: StorageClassObject, node: NodeObject): boolean {
  const topologies = sc.allowedTopologies;
  if (!topologies?.length) return true;
  const labels = node.metadata.labels ?? {};
  return topologies.some((t) => (t.matchLabelExpressions ?? []).every((e) => labels[e.key] !== undefined && e.values.includes(labels[e.key])));
}

/**
 * VolumeBinding's filter (upstream's, for bound claims and dynamic provisioning): a pod whose claim
 * is missing, being deleted, or unbound with an Immediate class is unschedulable everywhere; a bound
 * claim's PV must admit the node (its nodeAffinity); an unbound WaitForFirstConsumer claim needs a
 * class that provisions (not `kubernetes.io/no-provisioner`) and whose allowedTopologies admit the
 * node. The scheduler then annotates those claims with the chosen node (`selected-node`) before it
 * binds the pod, and the provisioner makes their volumes there.
 */
export function volumeBinding(lookup: VolumeLookup): Filter {
  return {
    name: 'VolumeBinding',
    prepare({ pod }, state) {
      const names = podClaimNames(pod.pod);
      if (names.length === 0) return false;
      const ns = pod.pod.metadata.namespace ?? 'default';
      const s: VolumeBindingState = { bound: [], delayed: [] };
      for (const name of names) {
        const pvc = lookup.claim(ns, name);
        if (!pvc) return `persistentvolumeclaim "${name}" not found`;
        if (pvc.metadata.deletionTimestamp) return `persistentvolumeclaim "${name}" is being deleted`;
        const volumeName = pvc.spec?.volumeName;
        if (volumeName) {
          s.bound.push({ claim: name, volume: lookup.volume(volumeName) });
          continue;
        }
        const className = claimClass(pvc);
        const sc = className ? lookup.storageClass(className) : undefined;
        if (!sc) return className ? `storageclass.storage.k8s.io "${className}" not found` : 'pod has unbound immediate PersistentVolumeClaims';
        if (sc.volumeBindingMode !== 'WaitForFirstConsumer') return 'pod has unbound immediate PersistentVolumeClaims';
        s.delayed.push({ claim: pvc, storageClass: sc });
      }
      state.volumeBinding = s;
      return true;
    },
    filter({ node, cycle }) {
      const s = cycle.volumeBinding;
      if (!s) return [];
      for (const b of s.bound) {
        if (!b.volume) return [REASON_PV_MISSING];
        if (!volumeFitsNode(b.volume, node)) return [REASON_NODE_CONFLICT];
      }
      for (const d of s.delayed) {
        if (d.storageClass.provisioner === NO_PROVISIONER || !topologyAllows(d.storageClass, node)) return [REASON_BIND_CONFLICT];
        // an earlier attempt chose a node for it and the provisioner may be at work there
        const selected = d.claim.metadata.annotations?.[ANNOTATION_SELECTED_NODE];
        if (selected !== undefined && selected !== node.metadata.name) return [REASON_BIND_CONFLICT];
      }
      return [];
    },
  };
}
