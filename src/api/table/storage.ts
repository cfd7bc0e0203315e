import type { TableDef } from '../resources/types.ts';
import { isDefaultClass, type PersistentVolumeClaimObject, type PersistentVolumeObject, type StorageClassObject } from '../storage/claims.ts';
import { ageColumn, column, nameColumn } from './columns.ts';
import { since } from './duration.ts';

/** storagehelpers.GetAccessModesAsString: the short names in upstream's fixed order */
export function accessModesString(modes: readonly string[] | undefined): string {
  const have = new Set(modes ?? []);
  const short: [string, string][] = [['ReadWriteOnce', 'RWO'], ['ReadOnlyMany', 'ROX'], ['ReadWriteMany', 'RWX'], ['ReadWriteOncePod', 'RWOP']];
  return short.filter(([m]) => have.has(m)).map(([, s]) => s).join(',');
}

const volumeModeColumn = () => column('VolumeMode', 'Mode of the volume: Block or Filesystem.', { priority: 1 });
const attributesClass = (name: string | undefined): string => name || '<unset>';

/** printPersistentVolume */
export const persistentVolumeTable: TableDef = {
  columns: [
    nameColumn(),
    column('Capacity', 'capacity is the description of the persistent volume\'s resources and capacity.'),
    column('Access Modes', 'accessModes contains all ways the volume can be mounted.'),
    column('Reclaim Policy', 'persistentVolumeReclaimPolicy defines what happens to a persistent volume when released from its claim.'),
    column('Status', 'phase indicates if a volume is available, bound to a claim, or released by a claim.'),
    column('Claim', 'claimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim.'),
    column('StorageClass', 'storageClassName is the name of StorageClass to which this persistent volume belongs.'),
    column('VolumeAttributesClass', 'Name of VolumeAttributesClass to which this persistent volume belongs.'),
    column('Reason', 'reason is a brief CamelCase string that describes any failure.'),
    ageColumn(),
    volumeModeColumn(),
  ],
  row(obj, now) {
    const pv = obj as PersistentVolumeObject;
    const ref = pv.spec?.claimRef;
    return [
      obj.metadata.name ?? '',
      String((pv.spec?.capacity as Record<string, unknown> | undefined)?.storage ?? ''),
      accessModesString(pv.spec?.accessModes),
      pv.spec?.persistentVolumeReclaimPolicy ?? '',
      obj.metadata.deletionTimestamp ? 'Terminating' : (pv.status?.phase ?? ''),
      ref ? `${ref.namespace ?? ''}/${ref.name ?? ''}` : '',
      pv.spec?.storageClassName ?? '',
      attributesClass(pv.spec?.volumeAttributesClassName),
      pv.status?.reason ?? '',
      since(obj.metadata.creationTimestamp, now),
      pv.spec?.volumeMode ?? '<unset>',
    ];
  },
};

/** printPersistentVolumeClaim: capacity and access modes are the bound volume's (status), blank before */
export const persistentVolumeClaimTable: TableDef = {
  columns: [
    nameColumn(),
    column('Status', 'phase represents the current phase of PersistentVolumeClaim.'),
    column('Volume', 'volumeName is the binding reference to the PersistentVolume backing this claim.'),
    column('Capacity', 'capacity represents the actual resources of the underlying volume.'),
    column('Access Modes', 'accessModes contains the actual access modes the volume backing the PVC has.'),
    column('StorageClass', 'storageClassName is the name of the StorageClass required by the claim.'),
    column('VolumeAttributesClass', 'volumeAttributesClassName may be used to set the VolumeAttributesClass used by this claim.'),
    ageColumn(),
    volumeModeColumn(),
  ],
  row(obj, now) {
    const pvc = obj as PersistentVolumeClaimObject;
    const bound = !!pvc.spec?.volumeName;
    return [
      obj.metadata.name ?? '',
      obj.metadata.deletionTimestamp ? 'Terminating' : (pvc.status?.phase ?? ''),
      pvc.spec?.volumeName ?? '',
      bound ? String((pvc.status?.capacity as Record<string, unknown> | undefined)?.storage ?? '') : '',
      bound ? accessModesString(pvc.status?.accessModes) : '',
      pvc.spec?.storageClassName ?? '',
      attributesClass(pvc.spec?.volumeAttributesClassName),
      since(obj.metadata.creationTimestamp, now),
      pvc.spec?.volumeMode ?? '<unset>',
    ];
  },
};

/** printStorageClass: the default class shows as `name (default)` */
export const storageClassTable: TableDef = {
  columns: [
    nameColumn(),
    column('Provisioner', 'provisioner indicates the type of the provisioner.'),
    column('ReclaimPolicy', 'reclaimPolicy controls the reclaimPolicy for dynamically provisioned PersistentVolumes of this storage class.'),
    column('VolumeBindingMode', 'volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and bound.'),
    column('AllowVolumeExpansion', 'allowVolumeExpansion shows whether the storage class allow volume expand.'),
    ageColumn(),
  ],
  row(obj, now) {
    const sc = obj as StorageClassObject;
    const name = obj.metadata.name ?? '';
    return [
      isDefaultClass(obj) ? `${name} (default)` : name,
      sc.provisioner ?? '',
      sc.reclaimPolicy ?? 'Delete',
      sc.volumeBindingMode ?? 'Immediate',
      sc.allowVolumeExpansion ?? false,
      since(obj.metadata.creationTimestamp, now),
    ];
  },
};
