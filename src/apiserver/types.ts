import type { FlowControlConfig } from './flowcontrol/index.ts';
import type { DefaultAccountBackoff } from './serviceaccount/default-account-controller.ts';
import type { RetryBackoff } from './serviceaccount/retry-queue.ts';
import type { EncryptionAtRest } from './encryption/transformer.ts';
import type { Registry as PromRegistry } from '../lib/prom.ts';
import type { Logger } from '../lib/log.ts';
import type { Store } from '../store/types.ts';
import type { ResourceDef } from '../api/resources/types.ts';
import type { AdmissionPlugin } from './admission/types.ts';
import type { PodSecurityConfig } from './admission/pod-security.ts';
import type { OidcAuthenticator } from './auth/oidc.ts';
import type { Authenticator } from './auth/types.ts';
import type { Authorizer } from './auth/authorizer.ts';
import type { DefaultRuntimeClass } from './bootstrap/runtime-classes.ts';
import type { DirectNodeDialerOptions, NodeDialer } from './node-proxy/node-dialer.ts';
import type { ApiGroupProvider } from './providers.ts';
import type { ServiceAccountTokenOptions } from './serviceaccount/token-signer.ts';
import type { MetricsApiConfig } from './metrics/metrics-api.ts';
import type { AuditPolicy, AuditSink, AuditWebhookOptions } from './audit/index.ts';

export interface TlsMaterial {
  /** PEM */
  cert: string;
  key: string;
  /** CA bundle that signs client certificates */
  clientCa: string;
}

export interface ApiServerConfig {
  host: string;
  /** 0 = pick a free port */
  port: number;
  store: Store;
  logger: Logger;
  /** undefined = plain HTTP (tests only); the CLI always passes TLS */
  tls?: TlsMaterial;
  authenticator: Authenticator;
  /**
   * upstream's --anonymous-auth (default true): a request without credentials is system:anonymous,
   * authorized like anyone (health and version only, by the default policy); false = a 401
   */
  anonymousAuth?: boolean;
  /** OpenID Connect ID tokens (`--oidc-*`), tried after service account tokens; the server starts and closes it */
  oidc?: OidcAuthenticator;
  /** max request body, bytes (default 3 MiB like kube-apiserver) */
  maxBodyBytes?: number;
  /** served resource types (default: builtinResources()) */
  resources?: ResourceDef[];
  /**
   * default: system:masters may do everything, nodes get the node authorizer's rules, everyone
   * else what RBAC grants (the default policy gives discovery, health and self-reviews)
   */
  authorizer?: Authorizer;
  /** admission plugins run after the built-in ones (defaults, RuntimeClass, namespace lifecycle, NodeRestriction), in order */
  admissionPlugins?: AdmissionPlugin[];
  /** idle interval between watch BOOKMARKs when clients allow them (default 60 s) */
  watchBookmarkIntervalMs?: number;
  /** watch length when a client gives no timeoutSeconds (default 1800 s, upstream's min-request-timeout) */
  watchTimeoutSeconds?: number;
  /** how often a terminating namespace with remaining content is retried (default 1 s) */
  namespaceRetryMs?: number;
  /** false skips creating default/kube-system/kube-public/kube-node-lease at startup (default true) */
  bootstrapNamespaces?: boolean;
  /** how the `default` ServiceAccount controller backs off a namespace whose create failed (200 ms doubling to 60 s) */
  defaultAccountBackoff?: Partial<DefaultAccountBackoff>;
  /** Pod Security admission defaults and exemptions (default: enforce privileged, i.e. labels only) */
  podSecurity?: PodSecurityConfig;
  /** false skips seeding the default ClusterRoles/ClusterRoleBindings (default true) */
  bootstrapPolicy?: boolean;
  /** RuntimeClasses created at startup when absent (default: defaultRuntimeClasses); [] for none */
  runtimeClasses?: readonly DefaultRuntimeClass[];
  /** how logs/exec/port-forward/nodes/proxy reach a node (default: through the node's tunnel if it has one, else directNodeDialer(kubeletClient)) */
  nodeDialer?: NodeDialer;
  /** node tunnels: ping interval and dead-link timeout (default 2 s / 6 s) */
  nodeTunnelKeepalive?: { intervalMs: number; timeoutMs: number };
  /** TLS/scheme for the default node dialer */
  kubeletClient?: DirectNodeDialerOptions;
  /** service account token signing (TokenRequest); pass a persisted key in production */
  serviceAccountTokens?: ServiceAccountTokenOptions;
  /** the CA the tokens controller writes into service-account-token Secrets as ca.crt (upstream --root-ca-file); none when undefined */
  serviceAccountRootCa?: string;
  /** how the tokens controller backs off a Secret or account whose sync failed (200 ms doubling to 60 s) */
  tokensControllerBackoff?: Partial<RetryBackoff>;
  /**
   * Service ClusterIP/NodePort allocation (default 10.96.0.0/12 and 30000-32767) and where pods
   * reach this apiserver (the `kubernetes` Service's endpoint; none when undefined)
   */
  services?: { clusterIpRange?: string; nodePortRange?: string; advertise?: { address: string; port?: number } };
  /** extra groups served by custom handlers (e.g. metrics.k8s.io), shown in discovery */
  apiGroupProviders?: ApiGroupProvider[];
  /**
   * serve metrics.k8s.io from the nodes' /metrics/resource (scrape period, staleness); not served
   * when absent (the edge hub's replica apiserver, most tests)
   */
  metrics?: MetricsApiConfig;
  /**
   * resources encrypted at rest (--encryption-provider-config); without it values are stored as
   * JSON and an encrypted value read back is an error (upstream's identity transformer)
   */
  encryption?: EncryptionAtRest;
  /** the apiserver's own Prometheus metrics (e.g. apiserver_storage_transformation_operations_total), served at /metrics */
  metricsRegistry?: PromRegistry;
  /**
   * audit events (--audit-policy-file, --audit-log-path, --audit-webhook-*): each request the
   * policy audits is written to `sink` as audit.k8s.io/v1 Event lines, buffered and batched, and/or
   * POSTed to `webhook` as EventLists (both: upstream's union backend); absent = no auditing
   */
  audit?: { policy: AuditPolicy; sink?: AuditSink; webhook?: AuditWebhookOptions; bufferSize?: number; batchMaxSize?: number };
  /**
   * overload protection: API Priority and Fairness (default) or plain max-in-flight limits, with
   * upstream's defaults (400 + 200 seats, 60 s queue wait)
   */
  flowControl?: FlowControlConfig;
}

export interface ApiServer {
  /** e.g. https://127.0.0.1:6443 */
  readonly url: string;
  close(): Promise<void>;
}
