import type { KubeObject } from '../object.ts';
import type { PersistentVolumeClaimObject, PersistentVolumeObject, StorageClassObject } from '../storage/claims.ts';

/** SetDefaults_PersistentVolumeClaimSpec: volumeMode Filesystem; status.phase Pending */
export function defaultPersistentVolumeClaim(obj: KubeObject): void {
  const pvc = obj as PersistentVolumeClaimObject;
  if (pvc.spec) pvc.spec.volumeMode ??= 'Filesystem';
  obj.status = { ...pvc.status, phase: pvc.status?.phase ?? 'Pending' };
}

/** SetDefaults_PersistentVolume: reclaim policy Retain, volumeMode Filesystem; status.phase Pending */
export function defaultPersistentVolume(obj: KubeObject): void {
  const pv = obj as PersistentVolumeObject;
  if (pv.spec) {
    pv.spec.persistentVolumeReclaimPolicy ??= 'Retain';
    pv.spec.volumeMode ??= 'Filesystem';
  }
  obj.status = { ...pv.status, phase: pv.status?.phase ?? 'Pending' };
}

/** SetDefaults_StorageClass: reclaimPolicy Delete, volumeBindingMode Immediate */
export function defaultStorageClass(obj: KubeObject): void {
  const sc = obj as StorageClassObject;
  sc.reclaimPolicy ??= 'Delete';
  sc.volumeBindingMode ??= 'Immediate';
}
