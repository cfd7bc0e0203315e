/** Names in-cluster clients rely on, shared by the apiserver's ServiceAccount admission and the root CA publisher. */

/** where in-cluster clients (client-go's InClusterConfig and the others) read token, ca.crt and namespace */
export const SERVICE_ACCOUNT_MOUNT_PATH = '/var/run/secrets/kubernetes.io/serviceaccount';
/** the ConfigMap with the cluster's root CA (`ca.crt`) in every namespace */
export const ROOT_CA_CONFIGMAP = 'kube-root-ca.crt';
/** the account a pod that names none runs as (created in every namespace) */
export const DEFAULT_SERVICE_ACCOUNT = 'default';
/** marks a static pod's mirror (the kubelet's `kubernetes.io/config.mirror`): it runs as no service account */
export const MIRROR_POD_ANNOTATION = 'kubernetes.io/config.mirror';

export const isMirrorPod = (obj: { metadata?: { annotations?: Record<string, string> } }): boolean => obj.metadata?.annotations?.[MIRROR_POD_ANNOTATION] !== undefined;
