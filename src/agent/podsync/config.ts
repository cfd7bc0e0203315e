/** Pod sync tunables; defaults follow the kubelet. */
export interface PodSyncConfig {
  nodeName: string;
  dataDir: string;
  /** handler used when a pod names no RuntimeClass */
  defaultHandler: string;
  /** CrashLoopBackOff / ImagePullBackOff: first delay, doubling up to max */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** a container that ran this long gets its back-off reset */
  backoffResetMs: number;
  /** how often each pod worker re-checks its containers (exits, probes) */
  resyncMs: number;
  /**
   * how often a steady pod (every container running, nothing pending) re-checks when its runtime
   * reports exits as events (RuntimeHandler.watchExits); its probes still run on their periods.
   * Only a safety net (an exit with no exit file: conmon itself killed), so 2 minutes, cut short by
   * the pod's next volume refresh (volumeRefreshMs) when it has configMap/secret/downwardAPI/
   * projected volumes: with 100 pods a re-check every 1.2 s instead of 10 a second (1 s) or 3 (30 s)
   * (bench/density.ts --idle-only). The kubelet's evented PLEG relists every 5 minutes.
   */
  idleResyncMs?: number;
  /** the node's address, reported as status.hostIP */
  hostIP?: string;
  /** host resolv.conf copied into pods with dnsPolicy Default (and ClusterFirst without cluster DNS) */
  hostResolvConf: string;
  /** the host's /etc/hosts: a hostNetwork pod's /etc/hosts is a copy of it (+ its hostAliases), as the kubelet makes it */
  hostHostsFile?: string;
  /** the node's host name: a hostNetwork pod's (it shares the host's UTS namespace, as under containerd) */
  hostName?: string;
  /** cluster DNS servers for dnsPolicy ClusterFirst; empty = fall back to the host's */
  clusterDNS: string[];
  clusterDomain: string;
  /** cgroup parent for pods (relative path) */
  cgroupRoot: string;
  /** where pod network namespaces are created */
  netnsDir: string;
  /** how often configMap/secret/downwardAPI/projected volume contents are re-read (kubelet: sync period, 1 min) */
  volumeRefreshMs: number;
  /** pods being started at once (sandbox, network, first containers), oldest first; default 2 × cores (start-gate.ts) */
  maxConcurrentStarts?: number;
}

export const defaultPodSyncConfig = (nodeName: string, dataDir: string): PodSyncConfig => ({
  nodeName,
  dataDir,
  defaultHandler: 'runc',
  backoffBaseMs: 10_000,
  backoffMaxMs: 300_000,
  backoffResetMs: 600_000,
  resyncMs: 1_000,
  idleResyncMs: 120_000,
  hostResolvConf: '/etc/resolv.conf',
  clusterDNS: [],
  clusterDomain: 'cluster.local',
  cgroupRoot: 'hedge',
  netnsDir: '/run/hedge/netns',
  volumeRefreshMs: 60_000,
});
