import { claimClass, podClaimNames, type PersistentVolumeClaimObject, type PersistentVolumeObject, type StorageClassObject } from '../../../api/storage/claims.ts';
import { SELECTED_NODE_ANNOTATION } from '../../../api/storage/names.ts';
import type { NodeObject } from '../../common/types.ts';
import { findMatchingVolume, volumeFitsNode } from '../../volume/binder.ts';
import type { Filter } from './types.ts';

export type { StorageClassObject };
export type PvcObject = PersistentVolumeClaimObject;
export type PvObject = PersistentVolumeObject;

/** The scheduler's views of the storage objects (its informers). */
export interface VolumeLookup {
  claim(namespace: string, name: string): PvcObject | undefined;
  volume(name: string): PvObject | undefined;
  storageClass(name: string): StorageClassObject | undefined;
  /** every PV (for the static volumes a WaitForFirstConsumer claim may bind to) */
  volumes(): Iterable<PvObject>;
  /**
   * The claim (`namespace/name`) the scheduler has already given this PV to, while the PV's
   * claimRef is on its way (upstream's assume cache): no other claim may take it meanwhile.
   */
  assumedClaim(pvName: string): string | undefined;
}

/** Upstream's annotation: the node a WaitForFirstConsumer claim's volume is to be provisioned for. */
export const ANNOTATION_SELECTED_NODE = SELECTED_NODE_ANNOTATION;
/** A class whose volumes are made by hand only (upstream's local static provisioning). */
export const NO_PROVISIONER = 'kubernetes.io/no-provisioner';

export const REASON_NODE_CONFLICT = 'node(s) had volume node affinity conflict';
export const REASON_BIND_CONFLICT = "node(s) didn't find available persistent volumes to bind";
export const REASON_PV_MISSING = 'node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)';

/** Per attempt: the bound claims' volumes and the claims to bind or provision once a node is picked. */
export interface VolumeBindingState {
  /** PVs the pod's bound claims use (undefined: the PV is not known) */
  bound: { claim: string; volume: PvObject | undefined }[];
  /**
   * unbound claims with a WaitForFirstConsumer class, each with the existing PVs it could bind to
   * on some node (class, size, modes, selector; or pre-bound to it): bound to one of them on the
   * chosen node, else provisioned there
   */
  delayed: { claim: PvcObject; storageClass: StorageClassObject; candidates: PvObject[] }[];
  /** per node that passed: the static PV each delayed claim (by name) binds to there; claims not in it are provisioned */
  staticByNode: Map<string, Map<string, PvObject>>;
}

export { volumeFitsNode };

/** The PVs a claim could bind to on some node: free ones that match it, or the one pre-bound to it. */
function candidateVolumes(pvc: PvcObject, lookup: VolumeLookup): PvObject[] {
  const key = `${pvc.metadata.namespace ?? ''}/${pvc.metadata.name ?? ''}`;
  const out: PvObject[] = [];
  for (const pv of lookup.volumes()) {
    const assumed = lookup.assumedClaim(pv.metadata.name ?? '');
    if (assumed !== undefined && assumed !== key) continue;
    if (findMatchingVolume(pvc, [pv])) out.push(pv);
  }
  return out;
}

/** The class's allowedTopologies admit the node (none: any node). */
function topologyAllows(sc: StorageClassObject, node: NodeObject): boolean {
  const topologies = sc.allowedTopologies;
  if (!topologies?.length) return true;
  const labels = node.metadata.labels ?? {};
  return topologies.some((t) => (t.matchLabelExpressions ?? []).every((e) => labels[e.key] !== undefined && e.values.includes(labels[e.key])));
}

/**
 * VolumeBinding's filter (upstream's): a pod whose claim is missing, being deleted, or unbound
 * with an Immediate class is unschedulable everywhere; a bound claim's PV must admit the node (its
 * nodeAffinity); an unbound WaitForFirstConsumer claim needs, on the node, an existing PV it can
 * bind to (the smallest that matches and admits the node, each PV to one claim of the pod; a PV
 * pre-bound to the claim wins: upstream's static binding, e.g. `local` volumes of a
 * `kubernetes.io/no-provisioner` class) or else a class that provisions and whose
 * allowedTopologies admit the node. Before it binds the pod, the scheduler gives those PVs their
 * claimRef and annotates the claims to provision with the chosen node (`selected-node`); the PV
 * controller then binds them, and the provisioner makes the rest's volumes there.
 */
export function volumeBinding(lookup: VolumeLookup): Filter {
  return {
    name: 'VolumeBinding',
    prepare({ pod }, state) {
      const names = podClaimNames(pod.pod);
      if (names.length === 0) return false;
      const ns = pod.pod.metadata.namespace ?? 'default';
      const s: VolumeBindingState = { bound: [], delayed: [], staticByNode: new Map() };
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
        s.delayed.push({ claim: pvc, storageClass: sc, candidates: candidateVolumes(pvc, lookup) });
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
      const chosen = new Map<string, PvObject>();
      const taken = new Set<string>();
      for (const d of s.delayed) {
        const free = d.candidates.filter((pv) => !taken.has(pv.metadata.name ?? ''));
        const pv = free.length > 0 ? findMatchingVolume(d.claim, free, node) : undefined;
        if (pv) {
          chosen.set(d.claim.metadata.name ?? '', pv);
          taken.add(pv.metadata.name ?? '');
          continue;
        }
        if (d.storageClass.provisioner === NO_PROVISIONER || !topologyAllows(d.storageClass, node)) return [REASON_BIND_CONFLICT];
        // an earlier attempt chose a node for it and the provisioner may be at work there
        const selected = d.claim.metadata.annotations?.[ANNOTATION_SELECTED_NODE];
        if (selected !== undefined && selected !== node.metadata.name) return [REASON_BIND_CONFLICT];
      }
      if (chosen.size > 0) s.staticByNode.set(node.metadata.name ?? '', chosen);
      return [];
    },
  };
}
