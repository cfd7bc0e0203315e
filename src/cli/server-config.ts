import { DEFAULT_NODE_PORT_RANGE, DEFAULT_SERVICE_CIDR, parseNodePortRange, parseServiceIpRanges } from '../apiserver/services/service-ranges.ts';
import * as z from 'zod';
import { formatClusterCidrs, parseClusterCidrs } from '../controllers/ipam/cluster-cidrs.ts';
import { ConfigError, layerSettings, listenSchema, secondsSchema } from './config-file.ts';
import type { ListenAddress } from './listen-address.ts';
import { validateOidcOptions, type OidcOptions } from '../apiserver/auth/oidc-options.ts';
import { WEBHOOK_MODES, type WebhookMode } from '../apiserver/audit/webhook-backend.ts';
import type { BatchConfig } from '../apiserver/audit/buffered-backend.ts';
import type { TruncateConfig } from '../apiserver/audit/truncate.ts';
import { parseDuration } from '../lib/duration.ts';

export { ConfigError };

/**
 * `hedge server` settings. Each has a flag and a config-file key of the same name
 * (flag `--data-dir` = key `dataDir`); flags win over the file, the file over defaults.
 */
export interface ServerSettings {
  dataDir: string;
  listen: ListenAddress;
  store: StoreKind;
  /** etcd client URLs (`--store etcd`) */
  etcdServers: string[];
  /** PEM files for etcd client TLS */
  etcdCafile?: string;
  etcdCertfile?: string;
  etcdKeyfile?: string;
  /** prepended to every key, so several clusters can share one etcd */
  etcdPrefix: string;
  /** seconds between etcd compactions (history of one interval is kept); 0 = never */
  etcdCompactionInterval: number;
  /** extra host names / IPs for the serving certificate */
  advertiseHost: string[];
  logLevel: LogLevel;
  /** run the scheduler and node lifecycle controller in this process */
  controllers: boolean;
  /** seconds without a node heartbeat before the node is Unknown and tainted */
  nodeMonitorGracePeriod: number;
  /** seconds a pod without a matching toleration stays on an unreachable node (autonomous nodes: forever) */
  defaultTolerationSeconds: number;
  /** Pod Security level enforced in namespaces without a `pod-security.kubernetes.io/enforce` label */
  podSecurityLevel: 'privileged' | 'baseline' | 'restricted';
  /** users, namespaces and RuntimeClasses Pod Security admission skips (config file only) */
  podSecurityExemptions: { usernames: string[]; namespaces: string[]; runtimeClasses: string[] };
  /** pools each Node's `spec.podCIDRs` are taken from: an IPv4 CIDR, then optionally an IPv6 one (dual-stack), comma-separated */
  clusterCidr: string;
  /** prefix length of each Node's IPv4 pod range (--node-cidr-mask-size, or -ipv4 for dual-stack) */
  nodeCidrMaskSize: number;
  /** prefix length of each Node's IPv6 pod range (dual-stack only) */
  nodeCidrMaskSizeIpv6: number;
  /** seconds between scrapes of the nodes' resource metrics (metrics.k8s.io) */
  metricResolution: number;
  /** IPv4 range Service ClusterIPs come from (the first is the `kubernetes` Service's) */
  serviceClusterIpRange: string;
  /** NodePort range, MIN-MAX */
  serviceNodePortRange: string;
  /** audit.k8s.io/v1 Policy file; with auditLogPath it turns auditing on */
  auditPolicyFile?: string;
  /** audit events as JSON lines to this file, `-` = stdout */
  auditLogPath?: string;
  /** days a rotated audit log is kept (0 = no limit) */
  auditLogMaxage: number;
  /** rotated audit logs kept (0 = all) */
  auditLogMaxbackup: number;
  /** megabytes before the audit log is rotated (0 = 100, lumberjack's default) */
  auditLogMaxsize: number;
  /** --audit-webhook-*: absent without auditWebhookConfigFile */
  auditWebhook?: AuditWebhookSettings;
  /** an apiserver.config.k8s.io/v1 EncryptionConfiguration file: the resources encrypted at rest (none when absent) */
  encryptionProviderConfig?: string;
  /** re-read encryptionProviderConfig when it changes and swap to it when valid (upstream's --encryption-provider-config-automatic-reload) */
  encryptionProviderConfigAutomaticReload: boolean;
  /** a request without credentials is system:anonymous (authorized by RBAC) instead of a 401 (upstream's --anonymous-auth) */
  anonymousAuth: boolean;
  /** cap on a TokenRequest's expiration, seconds (--service-account-max-token-expiration); 0 = none */
  serviceAccountMaxTokenExpiration: number;
  /** the kubelet's projected tokens (3607 s, pod-bound) last a year, with a warnafter claim at the hour (upstream's default) */
  serviceAccountExtendTokenExpiration: boolean;
  /** OpenID Connect authentication (kube-apiserver's --oidc-* flags); unset = off */
  oidc?: OidcSettings;
  /** API Priority and Fairness (upstream's default: on); off = plain max-in-flight limits */
  enablePriorityAndFairness: boolean;
  /** read-only requests in flight (APF: with the next, the seats the priority levels share); 0 = no limit */
  maxRequestsInflight: number;
  /** mutating requests in flight; 0 = no limit */
  maxMutatingRequestsInflight: number;
}

/** `--oidc-*`: what OidcAuthenticator takes, with the CA as a file */
export type OidcSettings = Omit<OidcOptions, 'ca' | 'requiredClaims' | 'signingAlgs'> & { requiredClaims: Record<string, string>; caFile?: string; signingAlgs: string[] };

/** `--audit-webhook-*`, checked as upstream's AuditWebhookOptions.Validate; the kubeconfig is read at start */
export interface AuditWebhookSettings {
  configFile: string;
  mode: WebhookMode;
  batch: BatchConfig;
  initialBackoffMs: number;
  truncate?: TruncateConfig;
  version: 'audit.k8s.io/v1';
}

export const STORE_KINDS = ['sqlite', 'memory', 'etcd'] as const;
export type StoreKind = (typeof STORE_KINDS)[number];

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Defaults in flag syntax (they go through the same validation as flags). */
export type ServerDefaults = Omit<ServerSettings, 'listen' | 'etcdServers' | 'etcdCafile' | 'etcdCertfile' | 'etcdKeyfile' | 'nodeCidrMaskSize' | 'nodeCidrMaskSizeIpv6' | 'oidc' | 'encryptionProviderConfig' | 'auditPolicyFile' | 'auditLogPath'> & { listen: string };

/** per-family node range sizes when no mask flag names one (kube-controller-manager's) */
const DEFAULT_NODE_MASK = { 4: 24, 6: 64 } as const;

export const SERVER_DEFAULTS: Readonly<ServerDefaults> = {
  dataDir: '/var/lib/hedge',
  listen: '127.0.0.1:6443',
  store: 'sqlite',
  etcdPrefix: '',
  etcdCompactionInterval: 300,
  advertiseHost: [],
  logLevel: 'info',
  controllers: true,
  nodeMonitorGracePeriod: 40,
  defaultTolerationSeconds: 300,
  podSecurityLevel: 'baseline',
  podSecurityExemptions: { usernames: [], namespaces: [], runtimeClasses: [] },
  clusterCidr: '10.244.0.0/16',
  metricResolution: 15,
  serviceClusterIpRange: DEFAULT_SERVICE_CIDR,
  serviceNodePortRange: DEFAULT_NODE_PORT_RANGE,
  auditLogMaxage: 0,
  auditLogMaxbackup: 0,
  auditLogMaxsize: 0,
  serviceAccountMaxTokenExpiration: 0,
  serviceAccountExtendTokenExpiration: true,
  encryptionProviderConfigAutomaticReload: false,
  anonymousAuth: true,
  enablePriorityAndFairness: true,
  maxRequestsInflight: 400,
  maxMutatingRequestsInflight: 200,
};

/** upstream's defaults of the --audit-webhook-* flags */
export const AUDIT_WEBHOOK_DEFAULTS = {
  mode: 'batch',
  batchBufferSize: 10_000,
  batchMaxSize: 400,
  batchMaxWaitMs: 30_000,
  throttleEnable: true,
  throttleQps: 10,
  throttleBurst: 15,
  initialBackoffMs: 10_000,
  truncateMaxBatchSize: 10 * 1024 * 1024,
  truncateMaxEventSize: 100 * 1024,
  version: 'audit.k8s.io/v1',
} as const;

/** config key → flag, for error messages */
/** settings keys and the flags that only feed others (the -ipv4 mask becomes nodeCidrMaskSize) */
type ServerFlagKey = Exclude<keyof ServerSettings, 'oidc' | 'auditWebhook'> | 'nodeCidrMaskSizeIpv4' | OidcFlagKey | AuditWebhookFlagKey;
type AuditWebhookFlagKey =
  | 'auditWebhookConfigFile'
  | 'auditWebhookMode'
  | 'auditWebhookBatchBufferSize'
  | 'auditWebhookBatchMaxSize'
  | 'auditWebhookBatchMaxWait'
  | 'auditWebhookBatchThrottleEnable'
  | 'auditWebhookBatchThrottleQps'
  | 'auditWebhookBatchThrottleBurst'
  | 'auditWebhookInitialBackoff'
  | 'auditWebhookTruncateEnabled'
  | 'auditWebhookTruncateMaxBatchSize'
  | 'auditWebhookTruncateMaxEventSize'
  | 'auditWebhookVersion';
type OidcFlagKey = 'oidcIssuerUrl' | 'oidcClientId' | 'oidcUsernameClaim' | 'oidcUsernamePrefix' | 'oidcGroupsClaim' | 'oidcGroupsPrefix' | 'oidcRequiredClaim' | 'oidcCaFile' | 'oidcSigningAlgs';

export const SERVER_FLAGS: Record<ServerFlagKey, string> = {
  dataDir: '--data-dir',
  listen: '--listen',
  store: '--store',
  etcdServers: '--etcd-servers',
  etcdCafile: '--etcd-cafile',
  etcdCertfile: '--etcd-certfile',
  etcdKeyfile: '--etcd-keyfile',
  etcdPrefix: '--etcd-prefix',
  etcdCompactionInterval: '--etcd-compaction-interval',
  advertiseHost: '--advertise-host',
  logLevel: '--log-level',
  controllers: '--no-controllers',
  nodeMonitorGracePeriod: '--node-monitor-grace-period',
  defaultTolerationSeconds: '--default-toleration-seconds',
  podSecurityLevel: '--pod-security-level',
  podSecurityExemptions: 'podSecurityExemptions (config file)',
  clusterCidr: '--cluster-cidr',
  nodeCidrMaskSize: '--node-cidr-mask-size',
  nodeCidrMaskSizeIpv4: '--node-cidr-mask-size-ipv4',
  nodeCidrMaskSizeIpv6: '--node-cidr-mask-size-ipv6',
  metricResolution: '--metric-resolution',
  serviceClusterIpRange: '--service-cluster-ip-range',
  serviceNodePortRange: '--service-node-port-range',
  oidcIssuerUrl: '--oidc-issuer-url',
  oidcClientId: '--oidc-client-id',
  oidcUsernameClaim: '--oidc-username-claim',
  oidcUsernamePrefix: '--oidc-username-prefix',
  oidcGroupsClaim: '--oidc-groups-claim',
  oidcGroupsPrefix: '--oidc-groups-prefix',
  oidcRequiredClaim: '--oidc-required-claim',
  oidcCaFile: '--oidc-ca-file',
  oidcSigningAlgs: '--oidc-signing-algs',
  encryptionProviderConfig: '--encryption-provider-config',
  auditPolicyFile: '--audit-policy-file',
  auditLogPath: '--audit-log-path',
  auditLogMaxage: '--audit-log-maxage',
  auditLogMaxbackup: '--audit-log-maxbackup',
  auditLogMaxsize: '--audit-log-maxsize',
  auditWebhookConfigFile: '--audit-webhook-config-file',
  auditWebhookMode: '--audit-webhook-mode',
  auditWebhookBatchBufferSize: '--audit-webhook-batch-buffer-size',
  auditWebhookBatchMaxSize: '--audit-webhook-batch-max-size',
  auditWebhookBatchMaxWait: '--audit-webhook-batch-max-wait',
  auditWebhookBatchThrottleEnable: '--audit-webhook-batch-throttle-enable',
  auditWebhookBatchThrottleQps: '--audit-webhook-batch-throttle-qps',
  auditWebhookBatchThrottleBurst: '--audit-webhook-batch-throttle-burst',
  auditWebhookInitialBackoff: '--audit-webhook-initial-backoff',
  auditWebhookTruncateEnabled: '--audit-webhook-truncate-enabled',
  auditWebhookTruncateMaxBatchSize: '--audit-webhook-truncate-max-batch-size',
  auditWebhookTruncateMaxEventSize: '--audit-webhook-truncate-max-event-size',
  auditWebhookVersion: '--audit-webhook-version',
  serviceAccountMaxTokenExpiration: '--service-account-max-token-expiration',
  serviceAccountExtendTokenExpiration: '--service-account-extend-token-expiration',
  encryptionProviderConfigAutomaticReload: '--encryption-provider-config-automatic-reload',
  anonymousAuth: '--anonymous-auth',
  enablePriorityAndFairness: '--enable-priority-and-fairness',
  maxRequestsInflight: '--max-requests-inflight',
  maxMutatingRequestsInflight: '--max-mutating-requests-inflight',
};

/** a Go duration (`30s`, `1m30s`, `500ms`; a bare number is seconds in the file) as milliseconds */
const goDurationSchema = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const ms = typeof v === 'number' ? v * 1000 : parseDuration(v.trim());
  if (ms === undefined || !Number.isFinite(ms)) {
    ctx.addIssue({ code: 'custom', message: `invalid duration ${JSON.stringify(v)}: want a Go duration such as 30s, 1m30s or 500ms` });
    return z.NEVER;
  }
  return ms;
});

/** a bool flag given bare (commander: true) or as =true/=false, or a YAML bool */
const boolFlagSchema = z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]);

/** whole numbers; upstream's checks (must be positive) come after, with its wording */
const intSchema = (what: string) => z.coerce.number().int(`must be a whole number${what}`);

/** z.string() checked by a parser that throws a HedgeError with the reason */
const parsedBy = (parse: (s: string) => unknown) =>
  z.string().superRefine((s, ctx) => {
    try {
      parse(s);
    } catch (err) {
      const msg = (err as Error).message;
      const at = msg.indexOf(`${s}: `);
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: at >= 0 ? msg.slice(at + s.length + 2) : msg });
    }
  });

const clusterCidrSchema = parsedBy(parseClusterCidrs).transform((s) => formatClusterCidrs(parseClusterCidrs(s)));
const maskSchema = (max: number) => z.coerce.number().int('must be a whole prefix length').min(8, `must be between 8 and ${max}`).max(max, `must be between 8 and ${max}`);

const hostSchema = z
  .string()
  .min(1)
  .regex(/^[A-Za-z0-9.:-]+$/, 'must be a DNS name or an IP address');

const etcdUrlSchema = z
  .string()
  .refine((u) => {
    try {
      const url = new URL(u);
      return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '' && url.pathname === '/';
    } catch {
      return false;
    }
  }, 'must be an etcd client URL such as http://127.0.0.1:2379');

/** A list given as one comma-separated string (the flag) or as a YAML list (the file). */
const etcdServersSchema = z
  .union([z.string(), z.array(z.string())])
  .transform((v) => (Array.isArray(v) ? v : v.split(',')).map((u) => u.trim()).filter((u) => u !== ''))
  .pipe(z.array(etcdUrlSchema).min(1, 'must name at least one etcd client URL'));

/** The shape of a config file / of the flags given: every key optional, no unknown keys. */
const partialSchema = z.strictObject({
  dataDir: z.string().min(1, 'must not be empty').optional(),
  listen: listenSchema.optional(),
  store: z.enum(STORE_KINDS).optional(),
  etcdServers: etcdServersSchema.optional(),
  etcdCafile: z.string().min(1, 'must not be empty').optional(),
  etcdCertfile: z.string().min(1, 'must not be empty').optional(),
  etcdKeyfile: z.string().min(1, 'must not be empty').optional(),
  etcdPrefix: z.string().regex(/^(\/[^\0]*)?$/, 'must be empty or start with /').optional(),
  etcdCompactionInterval: z.coerce.number().int('must be a whole number of seconds').min(0, 'must be >= 0 (0 = never)').optional(),
  // a single string is accepted in the file for convenience
  advertiseHost: z
    .union([hostSchema, z.array(hostSchema)])
    .transform((v) => (Array.isArray(v) ? v : [v]))
    .optional(),
  logLevel: z.enum(LOG_LEVELS).optional(),
  controllers: z.boolean().optional(),
  nodeMonitorGracePeriod: secondsSchema.optional(),
  defaultTolerationSeconds: secondsSchema.optional(),
  podSecurityLevel: z.enum(['privileged', 'baseline', 'restricted']).optional(),
  podSecurityExemptions: z
    .strictObject({ usernames: z.array(z.string()).default([]), namespaces: z.array(z.string()).default([]), runtimeClasses: z.array(z.string()).default([]) })
    .optional(),
  clusterCidr: clusterCidrSchema.optional(),
  nodeCidrMaskSize: maskSchema(30).optional(),
  nodeCidrMaskSizeIpv4: maskSchema(30).optional(),
  nodeCidrMaskSizeIpv6: maskSchema(126).optional(),
  metricResolution: z.coerce.number().min(1, 'must be at least 1 second').max(3600, 'must be at most 3600 seconds').optional(),
  serviceClusterIpRange: parsedBy(parseServiceIpRanges).optional(),
  serviceNodePortRange: parsedBy(parseNodePortRange).optional(),
  oidcIssuerUrl: z.string().min(1, 'must not be empty').optional(),
  oidcClientId: z.string().min(1, 'must not be empty').optional(),
  oidcUsernameClaim: z.string().min(1, 'must not be empty').optional(),
  oidcUsernamePrefix: z.string().optional(),
  oidcGroupsClaim: z.string().min(1, 'must not be empty').optional(),
  oidcGroupsPrefix: z.string().optional(),
  // key=value, repeatable (a single string is accepted in the file)
  oidcRequiredClaim: z
    .union([z.string(), z.array(z.string())])
    .transform((v) => (Array.isArray(v) ? v : [v]))
    .pipe(z.array(z.string().regex(/^[^=]+=.*$/, 'must be claim=value')))
    .optional(),
  oidcCaFile: z.string().min(1, 'must not be empty').optional(),
  // comma-separated on the command line, a list in the file
  oidcSigningAlgs: z
    .union([z.string(), z.array(z.string())])
    .transform((v) => (Array.isArray(v) ? v : v.split(',')).map((a) => a.trim()).filter((a) => a !== ''))
    .optional(),
  encryptionProviderConfig: z.string().min(1, 'must not be empty').optional(),
  auditPolicyFile: z.string().min(1, 'must not be empty').optional(),
  auditLogPath: z.string().min(1, 'must not be empty (- is stdout)').optional(),
  auditLogMaxage: z.coerce.number().int('must be a whole number of days').min(0, "can't be a negative number").optional(),
  auditLogMaxbackup: z.coerce.number().int('must be a whole number of files').min(0, "can't be a negative number").optional(),
  auditLogMaxsize: z.coerce.number().int('must be a whole number of megabytes').min(0, "can't be a negative number").optional(),
  auditWebhookConfigFile: z.string().min(1, 'must not be empty').optional(),
  auditWebhookMode: z.string().optional(),
  auditWebhookBatchBufferSize: intSchema(' of events').optional(),
  auditWebhookBatchMaxSize: intSchema(' of events').optional(),
  auditWebhookBatchMaxWait: goDurationSchema.optional(),
  auditWebhookBatchThrottleEnable: boolFlagSchema.optional(),
  auditWebhookBatchThrottleQps: z.coerce.number().optional(),
  auditWebhookBatchThrottleBurst: intSchema('').optional(),
  auditWebhookInitialBackoff: goDurationSchema.optional(),
  auditWebhookTruncateEnabled: boolFlagSchema.optional(),
  auditWebhookTruncateMaxBatchSize: intSchema(' of bytes').optional(),
  auditWebhookTruncateMaxEventSize: intSchema(' of bytes').optional(),
  auditWebhookVersion: z.string().optional(),
  // upstream's bounds: at least an hour, at most 2^32 s; as seconds (0 = no cap, the default)
  serviceAccountMaxTokenExpiration: goDurationSchema
    .refine((ms) => ms === 0 || (ms >= 3600_000 && ms <= 2 ** 32 * 1000), 'must be between 1 hour and 2^32 seconds')
    .transform((ms) => Math.floor(ms / 1000))
    .optional(),
  serviceAccountExtendTokenExpiration: boolFlagSchema.optional(),
  encryptionProviderConfigAutomaticReload: boolFlagSchema.optional(),
  anonymousAuth: boolFlagSchema.optional(),
  // a Go bool flag: --enable-priority-and-fairness=false (or alone: true)
  enablePriorityAndFairness: z
    .union([z.boolean(), z.string()])
    .refine((v) => typeof v === 'boolean' || v === 'true' || v === 'false', 'must be true or false')
    .transform((v) => v === true || v === 'true')
    .optional(),
  maxRequestsInflight: z.coerce.number().int('must be a whole number of requests').min(0, "can't be a negative number (0 = no limit)").optional(),
  maxMutatingRequestsInflight: z.coerce.number().int('must be a whole number of requests').min(0, "can't be a negative number (0 = no limit)").optional(),
});

export interface ResolveOptions {
  /** flags the user gave (undefined = not given) */
  flags: Partial<Record<ServerFlagKey, unknown>>;
  configFile?: string;
  /** defaults that differ from SERVER_DEFAULTS (e.g. `hedge up`) */
  defaults?: Partial<ServerDefaults>;
}

export async function resolveServerSettings(opts: ResolveOptions): Promise<ServerSettings> {
  const merged = await layerSettings(partialSchema, { flags: opts.flags, flagNames: SERVER_FLAGS, configFile: opts.configFile, defaults: { ...SERVER_DEFAULTS, ...opts.defaults } });
  const etcdServers = merged.etcdServers ?? [];
  if (merged.store === 'etcd' && etcdServers.length === 0) {
    throw new ConfigError('--store etcd needs --etcd-servers (etcdServers in the config file): the etcd client URLs, e.g. http://127.0.0.1:2379');
  }
  if ((merged.etcdCertfile === undefined) !== (merged.etcdKeyfile === undefined)) {
    throw new ConfigError('--etcd-certfile and --etcd-keyfile go together (a client certificate needs its key)');
  }
  if (merged.encryptionProviderConfigAutomaticReload && merged.encryptionProviderConfig === undefined) {
    throw new ConfigError('--encryption-provider-config-automatic-reload must be set with --encryption-provider-config');
  }
  const masks = nodeCidrMasks(merged);
  const oidc = oidcSettings(merged);
  const auditWebhook = auditWebhookSettings(merged);
  return {
    dataDir: merged.dataDir!,
    listen: merged.listen!,
    store: merged.store!,
    etcdServers,
    etcdCafile: merged.etcdCafile,
    etcdCertfile: merged.etcdCertfile,
    etcdKeyfile: merged.etcdKeyfile,
    etcdPrefix: merged.etcdPrefix!,
    etcdCompactionInterval: merged.etcdCompactionInterval!,
    advertiseHost: merged.advertiseHost ?? [],
    logLevel: merged.logLevel!,
    controllers: merged.controllers!,
    nodeMonitorGracePeriod: merged.nodeMonitorGracePeriod!,
    defaultTolerationSeconds: merged.defaultTolerationSeconds!,
    podSecurityLevel: merged.podSecurityLevel!,
    podSecurityExemptions: merged.podSecurityExemptions!,
    clusterCidr: merged.clusterCidr!,
    nodeCidrMaskSize: masks[4],
    nodeCidrMaskSizeIpv6: masks[6],
    metricResolution: merged.metricResolution!,
    serviceClusterIpRange: merged.serviceClusterIpRange!,
    serviceNodePortRange: merged.serviceNodePortRange!,
    ...(oidc ? { oidc } : {}),
    encryptionProviderConfig: merged.encryptionProviderConfig,
    auditPolicyFile: merged.auditPolicyFile,
    auditLogPath: merged.auditLogPath,
    auditLogMaxage: merged.auditLogMaxage!,
    auditLogMaxbackup: merged.auditLogMaxbackup!,
    auditLogMaxsize: merged.auditLogMaxsize!,
    ...(auditWebhook ? { auditWebhook } : {}),
    serviceAccountMaxTokenExpiration: merged.serviceAccountMaxTokenExpiration!,
    serviceAccountExtendTokenExpiration: merged.serviceAccountExtendTokenExpiration!,
    encryptionProviderConfigAutomaticReload: merged.encryptionProviderConfigAutomaticReload!,
    anonymousAuth: merged.anonymousAuth!,
    enablePriorityAndFairness: merged.enablePriorityAndFairness!,
    maxRequestsInflight: merged.maxRequestsInflight!,
    maxMutatingRequestsInflight: merged.maxMutatingRequestsInflight!,
  };
}

/**
 * The --audit-webhook-* flags as upstream validates them (only with a config file: the others are
 * unused then), its messages prefixed by the flag at fault.
 */
function auditWebhookSettings(m: Partial<Record<AuditWebhookFlagKey, unknown>>): AuditWebhookSettings | undefined {
  const configFile = m.auditWebhookConfigFile as string | undefined;
  if (configFile === undefined) return undefined;
  const d = AUDIT_WEBHOOK_DEFAULTS;
  const v = <T>(k: AuditWebhookFlagKey, dflt: T): T => (m[k] === undefined ? dflt : (m[k] as T));
  const mode = v<string>('auditWebhookMode', d.mode);
  if (!(WEBHOOK_MODES as readonly string[]).includes(mode)) {
    throw new ConfigError(`${SERVER_FLAGS.auditWebhookMode} ${mode}: invalid audit webhook mode ${mode}, allowed modes are "${WEBHOOK_MODES.join(',')}"`);
  }
  const positive = (k: AuditWebhookFlagKey, n: number, what: string): void => {
    if (!(n > 0)) throw new ConfigError(`${SERVER_FLAGS[k]} ${n}: invalid audit batch webhook ${what} ${n}, must be a positive number`);
  };
  const bufferSize = v('auditWebhookBatchBufferSize', d.batchBufferSize);
  const maxBatchSize = v('auditWebhookBatchMaxSize', d.batchMaxSize);
  const maxBatchWaitMs = v('auditWebhookBatchMaxWait', d.batchMaxWaitMs);
  const throttleEnable = v('auditWebhookBatchThrottleEnable', d.throttleEnable as boolean);
  const qps = v('auditWebhookBatchThrottleQps', d.throttleQps as number);
  const burst = v('auditWebhookBatchThrottleBurst', d.throttleBurst as number);
  // upstream checks the batch options in batch mode only
  if (mode === 'batch') {
    positive('auditWebhookBatchBufferSize', bufferSize, 'buffer size');
    positive('auditWebhookBatchMaxSize', maxBatchSize, 'max batch size');
    if (!(maxBatchWaitMs > 0)) throw new ConfigError(`${SERVER_FLAGS.auditWebhookBatchMaxWait}: must be longer than 0s`);
    if (throttleEnable) {
      positive('auditWebhookBatchThrottleQps', qps, 'throttle QPS');
      positive('auditWebhookBatchThrottleBurst', burst, 'throttle burst');
    }
  }
  const initialBackoffMs = v('auditWebhookInitialBackoff', d.initialBackoffMs);
  if (initialBackoffMs < 0) throw new ConfigError(`${SERVER_FLAGS.auditWebhookInitialBackoff}: can't be negative`);
  let truncate: TruncateConfig | undefined;
  if (v('auditWebhookTruncateEnabled', false)) {
    const maxEventSize = v('auditWebhookTruncateMaxEventSize', d.truncateMaxEventSize as number);
    const maxBatch = v('auditWebhookTruncateMaxBatchSize', d.truncateMaxBatchSize as number);
    if (!(maxEventSize > 0)) throw new ConfigError(`${SERVER_FLAGS.auditWebhookTruncateMaxEventSize} ${maxEventSize}: invalid audit truncate webhook max event size ${maxEventSize}, must be a positive number`);
    if (maxBatch < maxEventSize) {
      throw new ConfigError(`${SERVER_FLAGS.auditWebhookTruncateMaxBatchSize} ${maxBatch}: invalid audit truncate webhook max batch size ${maxBatch}, must be greater than or equal to max event size (${maxEventSize})`);
    }
    truncate = { maxEventSize, maxBatchSize: maxBatch };
  }
  const version = v<string>('auditWebhookVersion', d.version);
  if (version !== 'audit.k8s.io/v1') throw new ConfigError(`${SERVER_FLAGS.auditWebhookVersion} ${version}: invalid group version, allowed versions are ["audit.k8s.io/v1"]`);
  return {
    configFile,
    mode: mode as WebhookMode,
    batch: { bufferSize, maxBatchSize, maxBatchWaitMs, ...(throttleEnable ? { throttle: { qps, burst } } : {}) },
    initialBackoffMs,
    ...(truncate ? { truncate } : {}),
    version,
  };
}

/** the --oidc-* flags together: the issuer turns it on and needs a client id; the others need the issuer */
function oidcSettings(m: Partial<Record<OidcFlagKey, unknown>> & { oidcRequiredClaim?: string[]; oidcSigningAlgs?: string[] }): OidcSettings | undefined {
  const issuerUrl = m.oidcIssuerUrl as string | undefined;
  if (issuerUrl === undefined) {
    const stray = (Object.keys(m) as OidcFlagKey[]).filter((k) => k.startsWith('oidc') && m[k] !== undefined);
    if (stray.length) throw new ConfigError(`${stray.map((k) => SERVER_FLAGS[k]).join(', ')}: only with --oidc-issuer-url`);
    return undefined;
  }
  const o: OidcSettings = {
    issuerUrl,
    clientId: (m.oidcClientId as string | undefined) ?? '',
    usernameClaim: m.oidcUsernameClaim as string | undefined,
    usernamePrefix: m.oidcUsernamePrefix as string | undefined,
    groupsClaim: m.oidcGroupsClaim as string | undefined,
    groupsPrefix: m.oidcGroupsPrefix as string | undefined,
    requiredClaims: Object.fromEntries((m.oidcRequiredClaim ?? []).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])),
    caFile: m.oidcCaFile as string | undefined,
    signingAlgs: m.oidcSigningAlgs ?? [],
  };
  const errs = validateOidcOptions(o);
  if (errs.length) throw new ConfigError(errs.join('; '));
  return o;
}

/**
 * The node range size per family, as kube-controller-manager resolves it: single-stack takes
 * --node-cidr-mask-size, dual-stack the -ipv4/-ipv6 pair (the plain flag is refused there, as
 * upstream does); each must fit its cluster CIDR with at most 65536 node ranges.
 */
function nodeCidrMasks(m: { clusterCidr?: string; nodeCidrMaskSize?: number; nodeCidrMaskSizeIpv4?: number; nodeCidrMaskSizeIpv6?: number }): Record<4 | 6, number> {
  const cidrs = parseClusterCidrs(m.clusterCidr!);
  const dual = cidrs.length > 1;
  if (dual && m.nodeCidrMaskSize !== undefined) {
    throw new ConfigError(`--node-cidr-mask-size ${m.nodeCidrMaskSize}: not with a dual-stack --cluster-cidr (${m.clusterCidr}); use --node-cidr-mask-size-ipv4 and --node-cidr-mask-size-ipv6`);
  }
  if (!dual && m.nodeCidrMaskSizeIpv6 !== undefined) {
    throw new ConfigError(`--node-cidr-mask-size-ipv6 ${m.nodeCidrMaskSizeIpv6}: --cluster-cidr ${m.clusterCidr} has no IPv6 range (dual-stack is e.g. 10.244.0.0/16,fd00:10:244::/56)`);
  }
  const given = { 4: dual ? m.nodeCidrMaskSizeIpv4 : (m.nodeCidrMaskSizeIpv4 ?? m.nodeCidrMaskSize), 6: m.nodeCidrMaskSizeIpv6 };
  const flag = { 4: dual || m.nodeCidrMaskSizeIpv4 !== undefined ? '--node-cidr-mask-size-ipv4' : '--node-cidr-mask-size', 6: '--node-cidr-mask-size-ipv6' };
  const out: Record<4 | 6, number> = { ...DEFAULT_NODE_MASK };
  for (const c of cidrs) {
    const size = given[c.family] ?? DEFAULT_NODE_MASK[c.family];
    if (size < c.bits) throw new ConfigError(`${flag[c.family]} ${size}: must be at least the --cluster-cidr prefix /${c.bits} (a node range lies inside the cluster CIDR)`);
    if (size - c.bits > 16) throw new ConfigError(`${flag[c.family]} ${size}: more than 65536 node ranges in --cluster-cidr /${c.bits}; use a size of at most ${c.bits + 16}`);
    out[c.family] = size;
  }
  return out;
}
