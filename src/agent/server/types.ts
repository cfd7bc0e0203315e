import type { Pod } from 'kubernetes-types/core/v1.js';
import type { ContainerId, RuntimeHandler } from '../runtime/types.ts';
import type { LocalPathVolumes } from '../volumes/local-path.ts';

/** What the node server needs from pod sync (PodSync implements it). */
export interface PodSource {
  pods(): Pod[];
  locate(
    namespace: string,
    name: string,
    container?: string,
  ): { pod: Pod; handler?: RuntimeHandler; id?: ContainerId; prevId?: ContainerId; logDir: string; restartCount: number } | undefined;
}

export interface NodeServerAuth {
  /** accepted bearer tokens (tests, or a token the apiserver is configured with) */
  tokens: Set<string>;
  /** accept any TLS client certificate that verifies against `tls.ca` */
  clientCerts: boolean;
  /** no authentication at all (loopback-only test setups) */
  anonymous?: boolean;
}

export interface NodeServerOptions {
  host: string;
  /** 0 = any free port */
  port: number;
  tls?: { cert: string; key: string; ca?: string };
  auth: NodeServerAuth;
  pods: PodSource;
  /** serves DELETE /volumes/local-path/<handle> (the cloud's PV controller reclaiming a local-path PV) */
  localPath?: Pick<LocalPathVolumes, 'remove'>;
}
