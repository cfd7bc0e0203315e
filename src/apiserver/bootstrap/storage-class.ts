import type { KubeObject } from '../../api/object.ts';
import { DEFAULT_CLASS_ANNOTATION, LOCAL_PATH_CLASS, LOCAL_PATH_PROVISIONER } from '../../api/storage/names.ts';

/**
 * The StorageClass a fresh server creates: node-local directories (rancher's local-path model),
 * provisioned by the cloud-side PV controller once the scheduler has picked the claim's node
 * (WaitForFirstConsumer), deleted by the node when the claim goes (reclaimPolicy Delete).
 */
export function localPathStorageClass(): KubeObject {
  return {
    apiVersion: 'storage.k8s.io/v1',
    kind: 'StorageClass',
    metadata: { name: LOCAL_PATH_CLASS, annotations: { [DEFAULT_CLASS_ANNOTATION]: 'true' } },
    provisioner: LOCAL_PATH_PROVISIONER,
    reclaimPolicy: 'Delete',
    volumeBindingMode: 'WaitForFirstConsumer',
  } as KubeObject;
}
