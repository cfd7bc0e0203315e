import type { Pod } from 'kubernetes-types/core/v1.js';
import type { Clock } from '../../client/clock.ts';
import type { KubeClient } from '../../client/types.ts';
import type { Logger } from '../../lib/log.ts';
import type { LocalPathVolumes } from './local-path.ts';

/** A pod volume made ready on the host; containers bind-mount `hostPath` (plus any subPath). */
export interface PreparedVolume {
  name: string;
  hostPath: string;
  /** the source itself is read-only (configMap, secret, downwardAPI, projected) */
  readOnly: boolean;
  /** a persistentVolumeClaim or generic ephemeral volume: hostPath is the claim's PV directory */
  persistent?: boolean;
  /** the claim of a persistent volume (`/stats/summary` volume pvcRef) */
  claim?: { name: string; namespace: string };
  /** the PV is one of the node's local-path volumes (hostPath is its directory): metered by du, as upstream's csi volumes by their driver */
  localPath?: boolean;
}

/** Host mount operations the agent needs itself (Memory emptyDir). Injected so tests run unprivileged. */
export interface Mounter {
  mountTmpfs(target: string, opts: { sizeBytes?: number; signal: AbortSignal }): Promise<void>;
  unmount(target: string, signal: AbortSignal): Promise<void>;
  isMountPoint(target: string): Promise<boolean>;
}

export interface VolumeContext {
  pod: Pod;
  /** agent data dir; volumes live under <dataDir>/pods/<uid>/volumes */
  dataDir: string;
  client: KubeClient;
  mounter: Mounter;
  logger: Logger;
  clock: Clock;
  nodeName: string;
  signal: AbortSignal;
  /** a non-fatal problem worth an Event on the pod (e.g. TokenRequest unsupported) */
  warn?: (reason: string, message: string) => void;
  /** the pod's issued service account tokens, so a refresh re-requests only aging ones */
  tokens?: TokenCache;
  /** the node's local-path volumes, shared with the node server's DELETE (default: one over dataDir) */
  localPath?: LocalPathVolumes;
}

/** by audience/expiry/service account: the token and when to renew it (80% of its life, as the kubelet) */
export type TokenCache = Map<string, { token: string; renewAt: number; expiresAt: number }>;

/** A file to project into a volume (configMap/secret/downwardAPI/token). */
export interface ProjectedFile {
  /** relative path inside the volume, no `..` segments */
  path: string;
  data: Buffer;
  mode: number;
}
