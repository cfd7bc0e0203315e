/**
 * A pod's `persistentVolumeClaim` volume: the claim, once Bound, names the PV whose source the
 * node makes ready. The kubelet's volume manager does the same lookups (its desired state of world
 * populator) and these errors carry its wording, so `kubectl describe pod` reads as upstream's.
 */
import type { PersistentVolume, PersistentVolumeClaim, PersistentVolumeClaimVolumeSource, Volume } from 'kubernetes-types/core/v1.js';
import { stat } from 'node:fs/promises';
import { volumeClaimName } from '../../api/storage/claims.ts';
import { Resources } from '../../client/resources.ts';
import { HedgeError, isHedgeError } from '../../lib/errors.ts';
import { checkHostPath } from './host-path.ts';
import { LOCAL_PATH_DRIVER, LocalPathVolumes } from './local-path.ts';
import type { PreparedVolume, VolumeContext } from './types.ts';

/**
 * The claim or its volume is not there yet (not bound, not found, being deleted): the pod waits in
 * ContainerCreating and the next pass tries again. `volume` is the pod volume's name.
 */
export class VolumeNotReadyError extends HedgeError {
  readonly volume: string;
  constructor(volume: string, message: string, cause?: unknown) {
    super('Unavailable', message, { cause });
    this.volume = volume;
  }
}

export const isVolumeNotReady = (err: unknown): err is VolumeNotReadyError => err instanceof VolumeNotReadyError;

/** the kubelet's FailedMount message for volumes it could not process (pkg/kubelet/volumemanager) */
export function unableToMountMessage(err: VolumeNotReadyError): string {
  return `Unable to attach or mount volumes: unmounted volumes=[${err.volume}], failed to process volumes=[${err.volume}]: ${err.message}`;
}

/**
 * A `persistentVolumeClaim` volume, or a generic `ephemeral` one: its claim `<pod>-<volume>`,
 * made by the ephemeral volume controller, must name this pod as its controller (the kubelet's
 * check), so a claim of that name made by someone else is never mounted.
 */
export async function setUpPersistentVolumeClaim(ctx: VolumeContext, v: Volume & ({ persistentVolumeClaim: PersistentVolumeClaimVolumeSource } | { ephemeral: object })): Promise<PreparedVolume> {
  const ns = ctx.pod.metadata?.namespace ?? 'default';
  const claimName = volumeClaimName(ctx.pod, v) ?? '';
  const notReady = (what: string, cause?: unknown): VolumeNotReadyError =>
    new VolumeNotReadyError(v.name, `error processing PVC ${ns}/${claimName}: ${what}`, cause);
  let pvc: PersistentVolumeClaim;
  try {
    pvc = (await ctx.client.get(Resources.persistentvolumeclaims, claimName, { namespace: ns, signal: ctx.signal })) as unknown as PersistentVolumeClaim;
  } catch (err) {
    if (ctx.signal.aborted) throw err;
    throw notReady(`failed to fetch PVC from API server: ${(err as Error).message}`, err);
  }
  if (pvc.metadata?.deletionTimestamp) throw notReady('PVC is being deleted');
  if (v.ephemeral && !(pvc.metadata?.ownerReferences ?? []).some((o) => o.controller && o.kind === 'Pod' && o.uid === ctx.pod.metadata?.uid)) {
    throw notReady(`PVC ${ns}/${claimName} was not created for pod ${ns}/${ctx.pod.metadata?.name ?? ''} (pod is not owner)`);
  }
  const pvName = pvc.spec?.volumeName ?? '';
  if (pvc.status?.phase !== 'Bound' || !pvName) throw notReady('PVC is not bound');
  let pv: PersistentVolume;
  try {
    pv = (await ctx.client.get(Resources.persistentvolumes, pvName, { signal: ctx.signal })) as unknown as PersistentVolume;
  } catch (err) {
    if (ctx.signal.aborted) throw err;
    throw notReady(`failed to fetch PV ${pvName} from API server: ${(err as Error).message}`, err);
  }
  // a PV bound to another claim must not be mounted for this one (upstream refuses a nil claimRef
  // too; the binder sets it in the same pass that binds the claim, so a missing one is accepted)
  const ref = pv.spec?.claimRef;
  if (ref?.uid && pvc.metadata?.uid && ref.uid !== pvc.metadata.uid) {
    throw notReady(`found PV object ${pvName} but its pv.Spec.ClaimRef.UID (${ref.uid}) does not point to claim.UID (${pvc.metadata.uid})`);
  }
  const modes = pv.spec?.accessModes ?? [];
  const readOnly = (v.persistentVolumeClaim?.readOnly ?? false) || (modes.length > 0 && modes.every((m) => m === 'ReadOnlyMany'));
  const hostPath = await persistentVolumePath(ctx, pv, pvName);
  return { name: v.name, hostPath, readOnly, persistent: true, claim: { name: claimName, namespace: ns }, ...(pv.spec?.csi ? { localPath: true } : {}) };
}

/** the host directory behind a PV this node can serve; anything else is an error naming the source */
async function persistentVolumePath(ctx: VolumeContext, pv: PersistentVolume, pvName: string): Promise<string> {
  const spec = pv.spec ?? {};
  const failed = (msg: string): HedgeError => new HedgeError('Invalid', `MountVolume.SetUp failed for volume "${pvName}" : ${msg}`);
  if (spec.volumeMode === 'Block') throw failed('volumeMode Block is not supported by this node (Filesystem only)');
  if (spec.csi) {
    if (spec.csi.driver !== LOCAL_PATH_DRIVER) {
      throw failed(`kubernetes.io/csi: driver name ${spec.csi.driver} not found in the list of registered CSI drivers (this node serves ${LOCAL_PATH_DRIVER})`);
    }
    const local = ctx.localPath ?? new LocalPathVolumes({ dataDir: ctx.dataDir });
    try {
      return await local.mount(ctx.pod.metadata?.uid ?? '', spec.csi.volumeHandle);
    } catch (err) {
      if (isHedgeError(err, 'BadRequest') || isHedgeError(err, 'Invalid')) throw failed((err as Error).message);
      throw err;
    }
  }
  if (spec.hostPath) {
    try {
      await checkHostPath(spec.hostPath);
    } catch (err) {
      throw failed((err as Error).message);
    }
    return spec.hostPath.path;
  }
  if (spec.local) {
    if (!(await stat(spec.local.path).then(() => true, () => false))) throw failed(`path "${spec.local.path}" does not exist`);
    return spec.local.path;
  }
  const source = Object.keys(spec).find((k) => !NOT_SOURCES.has(k)) ?? 'none';
  throw failed(`persistent volume source ${source} is not supported by this node (it serves csi driver ${LOCAL_PATH_DRIVER}, hostPath and local)`);
}

/** PersistentVolumeSpec fields that are not a volume source */
const NOT_SOURCES = new Set(['accessModes', 'capacity', 'claimRef', 'mountOptions', 'nodeAffinity', 'persistentVolumeReclaimPolicy', 'storageClassName', 'volumeMode', 'volumeAttributesClassName']);
