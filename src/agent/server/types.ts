import type { Registry } from '../../lib/prom.ts';
import type { Pod } from 'kubernetes-types/core/v1.js';
import type { ContainerId, RuntimeHandler } from '../runtime/types.ts';
import type { LocalPathVolumes } from '../volumes/local-path.ts';
import type { AccessReviews } from './auth/access-reviews.ts';
import type { NodeAuthTuning } from './auth/node-auth.ts';

/** What the node server needs from pod sync (PodSync implements it). */
export interface PodSource {
  pods(): Pod[];
  locate(
    namespace: string,
    name: string,
    container?: string,
  ): { pod: Pod; handler?: RuntimeHandler; id?: ContainerId; prevId?: ContainerId; logDir: string; restartCount: number } | undefined;
}

/** Who may call the node's server (auth/node-auth.ts, the kubelet's authentication and authorization). */
export interface NodeServerAuth {
  /** TLS client certificates that verify against `tls.ca` authenticate: the user is the CN, the groups the Os */
  clientCerts: boolean;
  /** bearer tokens accepted as they are (tests), as the user `node-server-token` */
  tokens?: ReadonlySet<string>;
  /**
   * The node's own edgehub, in this process, serving local `kubectl logs/exec/attach/port-forward`
   * (decision 0018): a random token made when the node starts, held in memory only and sent only
   * over loopback to this server's own certificate. It is `system:hedge-edgehub` in
   * `system:masters`, decided here without a review, as the apiserver's kubelet client identity.
   */
  localToken?: string;
  /** a request without credentials is `system:anonymous` (then authorized like any other) instead of a 401 */
  anonymous?: boolean;
  /**
   * `Webhook`: other bearer tokens are whoever the cloud's TokenReview says, and every request
   * is authorized by a SubjectAccessReview (kubelet --authentication-token-webhook
   * --authorization-mode=Webhook), through `NodeServerOptions.reviews`. `AlwaysAllow`: whoever
   * authenticates may do anything (tests; loopback-only setups).
   */
  authorization: 'Webhook' | 'AlwaysAllow';
}

export interface NodeServerOptions {
  /** where the node server's own metrics go (the delegated authn/authz reviews), served on /metrics */
  metrics?: Registry;
  host: string;
  /** 0 = any free port */
  port: number;
  tls?: { cert: string; key: string; ca?: string };
  auth: NodeServerAuth;
  /** the Node this server is: requests are authorized as nodes/<subresource> of this name */
  nodeName?: string;
  /** the cloud's TokenReview and SubjectAccessReview (auth.authorization Webhook) */
  reviews?: AccessReviews;
  /** cache lifetimes and the review timeout (tests); upstream's defaults otherwise */
  authTuning?: Partial<NodeAuthTuning>;
  pods: PodSource;
  /** serves DELETE /volumes/local-path/<handle> (the cloud's PV controller reclaiming a local-path PV) */
  localPath?: Pick<LocalPathVolumes, 'remove'>;
}
