/**
 * Labels the agent stamps on every container it creates. They are how a restarted agent
 * recognises its containers (adoption) and recovers the restart count without a database.
 */
export const Labels = {
  podUid: 'io.hedge.pod.uid',
  podName: 'io.hedge.pod.name',
  podNamespace: 'io.hedge.pod.namespace',
  containerName: 'io.hedge.container.name',
  /** 'init' | 'app' */
  containerKind: 'io.hedge.container.kind',
  /** restartCount at creation: the adopted container's restartCount */
  restartCount: 'io.hedge.container.restart-count',
  /**
   * the image the container was made from: its id (config digest, the kubelet's ImageID) and the
   * store's reference, so the image GC sees it in use across agent restarts, in every runtime
   */
  imageId: 'io.hedge.container.image-id',
  imageRef: 'io.hedge.container.image-ref',
} as const;

export type ContainerKind = 'init' | 'app' | 'ephemeral';
