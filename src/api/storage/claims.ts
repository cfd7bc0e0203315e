import type { PersistentVolume, PersistentVolumeClaim } from 'kubernetes-types/core/v1.js';
import type { StorageClass } from 'kubernetes-types/storage/v1.js';
import type { KubeObject } from '../object.ts';
import { tryParseQuantity, type Quantity } from '../meta/quantity.ts';
import { BETA_DEFAULT_CLASS_ANNOTATION, DEFAULT_CLASS_ANNOTATION } from './names.ts';

export type PersistentVolumeObject = PersistentVolume & KubeObject;
export type PersistentVolumeClaimObject = PersistentVolumeClaim & KubeObject;
export type StorageClassObject = StorageClass & KubeObject;

/** the deprecated annotation a claim or PV may still name its class by (upstream honours it first) */
export const BETA_STORAGE_CLASS_ANNOTATION = 'volume.beta.kubernetes.io/storage-class';

/** storageutil.IsDefaultAnnotation */
export function isDefaultClass(sc: KubeObject): boolean {
  const a = sc.metadata.annotations ?? {};
  return a[DEFAULT_CLASS_ANNOTATION] === 'true' || a[BETA_DEFAULT_CLASS_ANNOTATION] === 'true';
}

/**
 * volumeutil.GetDefaultClass (1.28+): of several default classes the newest wins (then the
 * smallest name), so adding a new default before removing the old one never refuses claims.
 * `isDefault` picks another kind's defaults the same way (DefaultIngressClass does so too).
 */
export function pickDefaultClass<T extends KubeObject>(classes: Iterable<T>, isDefault: (c: T) => boolean = isDefaultClass): T | undefined {
  let best: T | undefined;
  for (const sc of classes) {
    if (!isDefault(sc)) continue;
    if (!best) {
      best = sc;
      continue;
    }
    const a = Date.parse(sc.metadata.creationTimestamp ?? '') || 0;
    const b = Date.parse(best.metadata.creationTimestamp ?? '') || 0;
    if (a > b || (a === b && (sc.metadata.name ?? '') < (best.metadata.name ?? ''))) best = sc;
  }
  return best;
}

/** storagehelpers.GetPersistentVolumeClaimClass: the beta annotation wins, then spec.storageClassName */
export function claimClass(pvc: PersistentVolumeClaimObject): string {
  return pvc.metadata.annotations?.[BETA_STORAGE_CLASS_ANNOTATION] ?? pvc.spec?.storageClassName ?? '';
}

/** storagehelpers.GetPersistentVolumeClass */
export function volumeClass(pv: PersistentVolumeObject): string {
  return pv.metadata.annotations?.[BETA_STORAGE_CLASS_ANNOTATION] ?? pv.spec?.storageClassName ?? '';
}

function quantity(raw: unknown): Quantity | undefined {
  if (raw === undefined || raw === null) return undefined;
  const q = tryParseQuantity(String(raw));
  return typeof q === 'string' ? undefined : q;
}

/** a claim's spec.resources.requests.storage, parsed */
export function requestedStorage(pvc: PersistentVolumeClaimObject): Quantity | undefined {
  return quantity((pvc.spec?.resources?.requests as Record<string, unknown> | undefined)?.storage);
}

/** a PV's spec.capacity.storage, parsed */
export function volumeCapacity(pv: PersistentVolumeObject): Quantity | undefined {
  return quantity((pv.spec?.capacity as Record<string, unknown> | undefined)?.storage);
}

/** volume modes default to Filesystem (an absent one on an old object included) */
export const volumeModeOf = (o: { spec?: { volumeMode?: string } }): string => o.spec?.volumeMode ?? 'Filesystem';

/** storagehelpers' access mode check: the volume offers every mode the claim asks for */
export function offersAccessModes(volumeModes: readonly string[] | undefined, wanted: readonly string[] | undefined): boolean {
  const have = new Set(volumeModes ?? []);
  return (wanted ?? []).every((m) => have.has(m));
}

/** the claims a pod mounts: its persistentVolumeClaim volumes, and `<pod>-<volume>` for each generic ephemeral volume (upstream's naming) */
export function podClaimNames(pod: { metadata?: { name?: string }; spec?: { volumes?: { name: string; persistentVolumeClaim?: { claimName: string }; ephemeral?: unknown }[] } }): string[] {
  const out: string[] = [];
  for (const v of pod.spec?.volumes ?? []) {
    const claim = volumeClaimName(pod, v);
    if (claim !== undefined) out.push(claim);
  }
  return out;
}

/** the claim behind one pod volume, undefined for volumes of other types */
export function volumeClaimName(pod: { metadata?: { name?: string } }, v: { name: string; persistentVolumeClaim?: { claimName: string }; ephemeral?: unknown }): string | undefined {
  if (v.persistentVolumeClaim?.claimName) return v.persistentVolumeClaim.claimName;
  return v.ephemeral ? `${pod.metadata?.name ?? ''}-${v.name}` : undefined;
}
