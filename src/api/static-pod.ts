import { MIRROR_POD_ANNOTATION } from './service-account.ts';

export { MIRROR_POD_ANNOTATION };
/** where the kubelet got a pod: `file` for a static pod (upstream kubetypes.ConfigSourceAnnotationKey) */
export const CONFIG_SOURCE_ANNOTATION = 'kubernetes.io/config.source';
/** the static pod's hash, also its UID; the mirror carries it as `config.mirror` */
export const CONFIG_HASH_ANNOTATION = 'kubernetes.io/config.hash';
/** when the kubelet first saw the pod (RFC 3339, nanoseconds) */
export const CONFIG_SEEN_ANNOTATION = 'kubernetes.io/config.seen';

type Annotated = { metadata?: { annotations?: Record<string, string> } };

/** a pod from a source other than the apiserver (upstream kubetypes.IsStaticPod) */
export const isStaticPod = (pod: Annotated): boolean => {
  const source = pod.metadata?.annotations?.[CONFIG_SOURCE_ANNOTATION];
  return source !== undefined && source !== 'api';
};
