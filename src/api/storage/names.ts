/**
 * The names persistent volumes are wired by: upstream's annotations and finalizers, and hedge's
 * local-path provisioner (the node agent and the scheduler build against these exact strings).
 */

/** storageclass.kubernetes.io/is-default-class: "true" marks the class a claim without one gets */
export const DEFAULT_CLASS_ANNOTATION = 'storageclass.kubernetes.io/is-default-class';
/** the pre-GA spelling upstream still honours */
export const BETA_DEFAULT_CLASS_ANNOTATION = 'storageclass.beta.kubernetes.io/is-default-class';

/** set by the scheduler on a WaitForFirstConsumer claim: the node its first pod goes to */
export const SELECTED_NODE_ANNOTATION = 'volume.kubernetes.io/selected-node';
/** on a claim: the provisioner asked to provision it (upstream's binder sets it, with the beta spelling) */
export const STORAGE_PROVISIONER_ANNOTATION = 'volume.kubernetes.io/storage-provisioner';
export const BETA_STORAGE_PROVISIONER_ANNOTATION = 'volume.beta.kubernetes.io/storage-provisioner';
/** on a PV: who provisioned it */
export const PROVISIONED_BY_ANNOTATION = 'pv.kubernetes.io/provisioned-by';
/** on a claim: the binder finished binding it */
export const BIND_COMPLETED_ANNOTATION = 'pv.kubernetes.io/bind-completed';
/** on a claim or PV: the binding was made by the controller (not pre-bound by a user) */
export const BOUND_BY_CONTROLLER_ANNOTATION = 'pv.kubernetes.io/bound-by-controller';

export const PVC_PROTECTION_FINALIZER = 'kubernetes.io/pvc-protection';
export const PV_PROTECTION_FINALIZER = 'kubernetes.io/pv-protection';

/** the StorageClass every hedge server creates at bootstrap */
export const LOCAL_PATH_CLASS = 'local-path';
/** StorageClass.provisioner of local-path volumes (provisioned by the cloud-side PV controller) */
export const LOCAL_PATH_PROVISIONER = 'hedge.io/local-path';
/** spec.csi.driver of a local-path PV; the node agent mounts `<data dir>/local-path/<volumeHandle>` */
export const LOCAL_PATH_DRIVER = 'local-path.hedge.io';
/** on a local-path PV: held until the node has deleted the volume's directory */
export const LOCAL_PATH_CLEANUP_FINALIZER = 'local-path.hedge.io/cleanup';

export const HOSTNAME_LABEL = 'kubernetes.io/hostname';

export const ACCESS_MODES = ['ReadOnlyMany', 'ReadWriteMany', 'ReadWriteOnce', 'ReadWriteOncePod'] as const;
export const VOLUME_MODES = ['Block', 'Filesystem'] as const;
export const RECLAIM_POLICIES = ['Delete', 'Recycle', 'Retain'] as const;
export const BINDING_MODES = ['Immediate', 'WaitForFirstConsumer'] as const;
