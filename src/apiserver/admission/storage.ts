import type { KubeObject } from '../../api/object.ts';
import { BETA_STORAGE_CLASS_ANNOTATION, pickDefaultClass, type PersistentVolumeClaimObject } from '../../api/storage/claims.ts';
import { PV_PROTECTION_FINALIZER, PVC_PROTECTION_FINALIZER } from '../../api/storage/names.ts';
import type { AdmissionPlugin, AdmissionRequest } from './types.ts';

export interface DefaultStorageClassOptions {
  /** the StorageClasses as stored now */
  listStorageClasses(signal: AbortSignal): Promise<KubeObject[]>;
}

const isCoreCreate = (req: AdmissionRequest, plural: string): boolean =>
  req.operation === 'CREATE' && req.subresource === '' && req.def.group === '' && req.def.plural === plural && req.object !== undefined;

/**
 * Upstream's DefaultStorageClass plugin: a claim created without a class (spec.storageClassName
 * absent; `""` asks for none and is kept) gets the default class's name; of several defaults the
 * newest wins (1.28+). Without a default class the claim stays classless (the PV controller sets
 * it later if a default appears, as upstream's retroactive assignment does).
 */
export function defaultStorageClassPlugin(opts: DefaultStorageClassOptions): AdmissionPlugin {
  return {
    name: 'DefaultStorageClass',
    async mutate(req) {
      if (!isCoreCreate(req, 'persistentvolumeclaims')) return;
      const pvc = req.object as PersistentVolumeClaimObject;
      if (pvc.spec?.storageClassName !== undefined || pvc.metadata.annotations?.[BETA_STORAGE_CLASS_ANNOTATION] !== undefined) return;
      const def = pickDefaultClass(await opts.listStorageClasses(req.signal));
      if (def?.metadata.name && pvc.spec) pvc.spec.storageClassName = def.metadata.name;
    },
  };
}

/**
 * Upstream's StorageObjectInUseProtection plugin: a new PVC gets `kubernetes.io/pvc-protection`
 * and a new PV `kubernetes.io/pv-protection`, so neither goes while in use (the protection
 * controllers remove them).
 */
export function storageProtectionPlugin(): AdmissionPlugin {
  return {
    name: 'StorageObjectInUseProtection',
    mutate(req) {
      const finalizer = isCoreCreate(req, 'persistentvolumeclaims') ? PVC_PROTECTION_FINALIZER : isCoreCreate(req, 'persistentvolumes') ? PV_PROTECTION_FINALIZER : undefined;
      if (!finalizer) return;
      const meta = req.object!.metadata;
      if (!meta.finalizers?.includes(finalizer)) meta.finalizers = [...(meta.finalizers ?? []), finalizer];
    },
  };
}
