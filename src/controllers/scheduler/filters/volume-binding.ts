import { claimClass, podClaimNames, type PersistentVolumeClaimObject, type PersistentVolumeObject, type StorageClassObject } from '../../../api/storage/claims.ts';
import { SELECTED_NODE_ANNOTATION } from '../../../api/storage/names.ts';
import type { NodeObject, PodObject } from '../../common/types.ts';
import { findMatchingVolume, volumeFitsNode } from '../../volume/binder.ts';
import { ActionType } from '../events.ts';
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

/** a PV the filter may take for an unbound claim: in a phase findMatchingVolume accepts */
const eligiblePhase = (pv: PvObject): boolean => pv.status?.phase === 'Available' || pv.status?.phase === 'Pending';
const sameJson = (a: unknown, b: unknown): boolean => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/**
 * upstream's PersistentVolume hint queues every pod with claims on any PV change. The filter reads
 * a PV's spec, labels and deletionTimestamp, and of its status only whether the phase is one a
 * free PV may be taken in: a new PV, a change to those, or a PV becoming takeable may help; a
 * status-only update (its phase Bound, a message, a transition time) cannot.
 */
function afterVolumeChange(pod: PodObject, old: PvObject | undefined, cur: PvObject | undefined): 'Queue' | 'QueueSkip' {
  if (podClaimNames(pod).length === 0 || !cur) return 'QueueSkip';
  if (!old) return 'Queue';
  const changed =
    !sameJson(old.spec, cur.spec) ||
    !sameJson(old.metadata.labels, cur.metadata.labels) ||
    old.metadata.deletionTimestamp !== cur.metadata.deletionTimestamp ||
    (!eligiblePhase(old) && eligiblePhase(cur));
  return changed ? 'Queue' : 'QueueSkip';
}

/**
 * upstream's PersistentVolumeClaim hint (a claim the pod uses, in its namespace), narrowed as for
 * PVs: the filter reads a claim's spec, annotations (class, selected-node), uid and deletion, not
 * its status, so a status-only update of the claim does not queue the pod.
 */
function afterClaimChange(pod: PodObject, old: PvcObject | undefined, cur: PvcObject | undefined): 'Queue' | 'QueueSkip' {
  if (!cur || (cur.metadata.namespace ?? '') !== (pod.metadata.namespace ?? 'default')) return 'QueueSkip';
  if (!podClaimNames(pod).includes(cur.metadata.name ?? '')) return 'QueueSkip';
  if (!old) return 'Queue';
  const changed =
    !sameJson(old.spec, cur.spec) ||
    !sameJson(old.metadata.annotations, cur.metadata.annotations) ||
    old.metadata.uid !== cur.metadata.uid ||
    old.metadata.deletionTimestamp !== cur.metadata.deletionTimestamp;
  return changed ? 'Queue' : 'QueueSkip';
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
    events: [
      // upstream's hint: a new class, or one whose allowedTopologies changed (the rest is immutable)
      {
        resource: 'StorageClass',
        actions: ActionType.Add | ActionType.Update,
        hint: (_pod, old, cur) => (!old || !sameJson(old.allowedTopologies, cur?.allowedTopologies) ? 'Queue' : 'QueueSkip'),
      },
      { resource: 'PersistentVolumeClaim', actions: ActionType.Add | ActionType.Update, hint: ({ pod }, old, cur) => afterClaimChange(pod, old, cur) },
      { resource: 'PersistentVolume', actions: ActionType.Add | ActionType.Update, hint: ({ pod }, old, cur) => afterVolumeChange(pod, old, cur) },
      // PV node affinity and allowedTopologies read node labels
      { resource: 'Node', actions: ActionType.Add | ActionType.UpdateNodeLabel },
    ],
  };
}
