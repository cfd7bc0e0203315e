import type { Command } from 'commander';
import { createLogger } from '../lib/log.ts';
import { flushLogger } from './flush-logger.ts';
import { ConfigError, LOG_LEVELS, resolveServerSettings, type ServerDefaults, type ServerSettings } from './server-config.ts';
import { waitForShutdownSignal } from './signals.ts';
import { usageError } from './usage-error.ts';

export interface ServerFlags {
  dataDir?: string;
  listen?: string;
  store?: string;
  etcdServers?: string;
  etcdCafile?: string;
  etcdCertfile?: string;
  etcdKeyfile?: string;
  etcdPrefix?: string;
  etcdCompactionInterval?: string;
  advertiseHost?: string[];
  logLevel?: string;
  config?: string;
  /** commander sets false for --no-controllers */
  controllers?: boolean;
  nodeMonitorGracePeriod?: string;
  metricResolution?: string;
  defaultTolerationSeconds?: string;
  podSecurityLevel?: string;
  clusterCidr?: string;
  nodeCidrMaskSize?: string;
  nodeCidrMaskSizeIpv4?: string;
  nodeCidrMaskSizeIpv6?: string;
  serviceClusterIpRange?: string;
  serviceNodePortRange?: string;
  oidcIssuerUrl?: string;
  oidcClientId?: string;
  oidcUsernameClaim?: string;
  oidcUsernamePrefix?: string;
  oidcGroupsClaim?: string;
  oidcGroupsPrefix?: string;
  oidcRequiredClaim?: string[];
  oidcCaFile?: string;
  oidcSigningAlgs?: string;
  encryptionProviderConfig?: string;
  auditPolicyFile?: string;
  auditLogPath?: string;
  auditLogMaxage?: string;
  auditLogMaxbackup?: string;
  auditLogMaxsize?: string;
  auditWebhookConfigFile?: string;
  auditWebhookMode?: string;
  auditWebhookBatchBufferSize?: string;
  auditWebhookBatchMaxSize?: string;
  auditWebhookBatchMaxWait?: string;
  auditWebhookBatchThrottleEnable?: string | boolean;
  auditWebhookBatchThrottleQps?: string;
  auditWebhookBatchThrottleBurst?: string;
  auditWebhookInitialBackoff?: string;
  auditWebhookTruncateEnabled?: string | boolean;
  auditWebhookTruncateMaxBatchSize?: string;
  auditWebhookTruncateMaxEventSize?: string;
  auditWebhookVersion?: string;
  serviceAccountMaxTokenExpiration?: string;
  serviceAccountExtendTokenExpiration?: string | boolean;
  encryptionProviderConfigAutomaticReload?: string | boolean;
  anonymousAuth?: string | boolean;
  /** true when given alone */
  enablePriorityAndFairness?: string | boolean;
  maxRequestsInflight?: string;
  maxMutatingRequestsInflight?: string;
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** The flags `hedge server` and `hedge up` share; defaults live in server-config.ts so the file can override them. */
export function addServerOptions(cmd: Command, defaults: { dataDir: string; logLevel?: string }): Command {
  return cmd
    .option('--data-dir <dir>', `directory for all state: PKI, tokens, database, kubeconfig (default: ${defaults.dataDir})`)
    .option('--listen <host:port>', 'address to serve the Kubernetes API on (default: 127.0.0.1:6443)')
    .option('--store <kind>', 'sqlite (at <data-dir>/state.db), etcd (--etcd-servers) or memory (default: sqlite)')
    .option('--etcd-servers <urls>', 'comma-separated etcd client URLs for --store etcd, e.g. http://10.0.0.1:2379,http://10.0.0.2:2379')
    .option('--etcd-cafile <file>', 'PEM CA bundle that signed the etcd servers\' certificates')
    .option('--etcd-certfile <file>', 'PEM client certificate for etcd (with --etcd-keyfile)')
    .option('--etcd-keyfile <file>', 'PEM key of --etcd-certfile')
    .option('--etcd-prefix <prefix>', 'prepended to every key, so several clusters can share one etcd (default: none)')
    .option('--etcd-compaction-interval <seconds>', 'compact etcd history older than this; 0 = never (default: 300)')
    .option('--advertise-host <host>', 'extra DNS name or IP for the serving certificate; repeatable', collect)
    .option('--log-level <level>', `${LOG_LEVELS.join('|')} (default: ${defaults.logLevel ?? 'info'})`)
    .option('--config <file>', 'YAML file; keys are the flag names in camelCase (dataDir, listen, ...); flags win')
    .option('--no-controllers', 'do not run the scheduler and node lifecycle controller in this process')
    .option('--node-monitor-grace-period <seconds>', 'node heartbeat age after which a node is Unknown (default: 40)')
    .option(
      '--default-toleration-seconds <seconds>',
      'how long pods without a toleration stay on an unreachable ordinary node (default: 300)',
    )
    .option('--pod-security-level <level>', 'Pod Security level enforced where a namespace has no pod-security.kubernetes.io/enforce label: privileged|baseline|restricted (default: baseline)')
    .option('--cluster-cidr <cidrs>', 'pool the node IPAM controller gives each Node its spec.podCIDRs from: an IPv4 CIDR, or for dual-stack an IPv4 and an IPv6 CIDR comma-separated (default: 10.244.0.0/16)')
    .option('--node-cidr-mask-size <bits>', 'prefix length of each Node\'s pod range within a single-stack --cluster-cidr (default: 24)')
    .option('--node-cidr-mask-size-ipv4 <bits>', 'prefix length of each Node\'s IPv4 pod range (default: 24)')
    .option('--node-cidr-mask-size-ipv6 <bits>', 'prefix length of each Node\'s IPv6 pod range with a dual-stack --cluster-cidr (default: 64)')
    .option('--metric-resolution <seconds>', 'how often each node\'s resource metrics are scraped for metrics.k8s.io / kubectl top (default: 15)')
    .option('--service-cluster-ip-range <cidrs>', 'range Service ClusterIPs are allocated from, or an IPv4 and an IPv6 range (comma-separated) for dual-stack Services; the first address of the first is the kubernetes Service (default: 10.96.0.0/12)')
    .option('--service-node-port-range <min-max>', 'ports NodePort Services are allocated from (default: 30000-32767)')
    .option('--oidc-issuer-url <url>', 'https URL of an OpenID Connect provider whose ID tokens authenticate users (its iss claim; discovery at <url>/.well-known/openid-configuration)')
    .option('--oidc-client-id <id>', 'the client ID ID tokens must be issued to (their aud)')
    .option('--oidc-username-claim <claim>', 'the ID token claim the username comes from (default: sub)')
    .option('--oidc-username-prefix <prefix>', 'prepended to usernames; "-" for none (default: none for email, else "<issuer-url>#")')
    .option('--oidc-groups-claim <claim>', 'the ID token claim (a string or a list) groups come from (default: no groups)')
    .option('--oidc-groups-prefix <prefix>', 'prepended to group names (default: none)')
    .option('--oidc-required-claim <claim=value>', 'a claim every ID token must carry with this value; repeatable', collect)
    .option('--oidc-ca-file <file>', 'PEM CA bundle the provider\'s certificate is checked against (default: the system\'s)')
    .option('--oidc-signing-algs <algs>', 'comma-separated JWS algorithms accepted (default: RS256)')
    .option('--encryption-provider-config <file>', 'apiserver.config.k8s.io/v1 EncryptionConfiguration: which resources are encrypted at rest and with which keys (aescbc, aesgcm, secretbox, identity); default: nothing is encrypted')
    .option('--audit-policy-file <file>', 'audit.k8s.io/v1 Policy (YAML or JSON): which requests are audited at which level (None, Metadata, Request, RequestResponse); with --audit-log-path and/or --audit-webhook-config-file it turns auditing on (default: none)')
    .option('--audit-log-path <file>', 'write audit events there as JSON lines (one audit.k8s.io/v1 Event each); - = stdout (default: none)')
    .option('--audit-log-maxage <days>', 'delete rotated audit logs older than this; 0 = keep regardless of age (default: 0)')
    .option('--audit-log-maxbackup <count>', 'keep at most this many rotated audit logs; 0 = all (default: 0)')
    .option('--audit-log-maxsize <MB>', 'rotate the audit log before it grows past this size; 0 = 100 MB (default: 0)')
    .option('--audit-webhook-config-file <file>', "a kubeconfig file naming where audit events are POSTed (the cluster's server URL, certificate-authority(-data)) and how to authenticate (client certificate/key or token); with --audit-policy-file it turns the webhook backend on (default: none)")
    .option('--audit-webhook-mode <mode>', 'batch (buffer, send in the background), blocking (send within the request) or blocking-strict (as blocking; a request whose RequestReceived event cannot be sent fails) (default: batch)')
    .option('--audit-webhook-batch-buffer-size <events>', 'events buffered before new ones are dropped; batch mode (default: 10000)')
    .option('--audit-webhook-batch-max-size <events>', 'events per batch at most; batch mode (default: 400)')
    .option('--audit-webhook-batch-max-wait <duration>', 'send a batch that has not filled after this long; batch mode (default: 30s)')
    .option('--audit-webhook-batch-throttle-enable [bool]', 'limit the batches sent per second; batch mode (default: true)')
    .option('--audit-webhook-batch-throttle-qps <qps>', 'batches per second on average; batch mode (default: 10)')
    .option('--audit-webhook-batch-throttle-burst <n>', 'batches sent at once when the QPS was not used before; batch mode (default: 15)')
    .option('--audit-webhook-initial-backoff <duration>', 'wait before the first retry of a failed send; it grows 1.5x, 5 tries in all (default: 10s)')
    .option('--audit-webhook-truncate-enabled [bool]', 'drop the request/response objects of events over the max event size, and split batches over the max batch size (default: false)')
    .option('--audit-webhook-truncate-max-batch-size <bytes>', 'largest batch sent; bigger ones are split (default: 10485760)')
    .option('--audit-webhook-truncate-max-event-size <bytes>', 'largest event sent; bigger ones lose their objects, and are dropped if still too big (default: 102400)')
    .option('--audit-webhook-version <group/version>', 'the API version of the events sent; only audit.k8s.io/v1 (default: audit.k8s.io/v1)')
    .option('--service-account-max-token-expiration <duration>', 'longest expiration a TokenRequest gets; longer requests are shortened with a warning; between 1h and 2^32 s (default: no cap)')
    .option('--anonymous-auth [bool]', 'a request without credentials is system:anonymous, authorized by RBAC (the default policy lets it read /healthz, /livez, /readyz and /version only); =false answers it 401 (default: true)')
    .option('--encryption-provider-config-automatic-reload [bool]', 're-read --encryption-provider-config when the file changes and use it if valid (a bad file keeps the old one); health is then one kms-providers check (default: false)')
    .option('--service-account-extend-token-expiration [bool]', "tokens the node requests for pods' projected volumes (3607 s) last a year, with a kubernetes.io warnafter claim at the requested time, so a node offline for more than an hour keeps its pods' tokens valid (default: true)")
    .option('--enable-priority-and-fairness [bool]', 'API Priority and Fairness: requests classified by FlowSchema into priority levels with fair queuing; =false for plain max-in-flight limits (default: true)')
    .option('--max-requests-inflight <n>', 'read-only requests in flight; with APF, this plus --max-mutating-requests-inflight is the seats the priority levels share; 0 = no limit (default: 400)')
    .option('--max-mutating-requests-inflight <n>', 'mutating requests in flight (see --max-requests-inflight); 0 = no limit (default: 200)');
}

export async function settingsFromFlags(flags: ServerFlags, defaults: Partial<ServerDefaults>): Promise<ServerSettings> {
  try {
    return await resolveServerSettings({
      flags: {
        dataDir: flags.dataDir,
        listen: flags.listen,
        store: flags.store,
        etcdServers: flags.etcdServers,
        etcdCafile: flags.etcdCafile,
        etcdCertfile: flags.etcdCertfile,
        etcdKeyfile: flags.etcdKeyfile,
        etcdPrefix: flags.etcdPrefix,
        etcdCompactionInterval: flags.etcdCompactionInterval,
        advertiseHost: flags.advertiseHost,
        logLevel: flags.logLevel,
        // commander defaults a --no-x flag to true; only an explicit --no-controllers counts as given
        controllers: flags.controllers === false ? false : undefined,
        nodeMonitorGracePeriod: flags.nodeMonitorGracePeriod,
        defaultTolerationSeconds: flags.defaultTolerationSeconds,
        podSecurityLevel: flags.podSecurityLevel,
        clusterCidr: flags.clusterCidr,
        nodeCidrMaskSize: flags.nodeCidrMaskSize,
        nodeCidrMaskSizeIpv4: flags.nodeCidrMaskSizeIpv4,
        nodeCidrMaskSizeIpv6: flags.nodeCidrMaskSizeIpv6,
        metricResolution: flags.metricResolution,
        serviceClusterIpRange: flags.serviceClusterIpRange,
        serviceNodePortRange: flags.serviceNodePortRange,
        oidcIssuerUrl: flags.oidcIssuerUrl,
        oidcClientId: flags.oidcClientId,
        oidcUsernameClaim: flags.oidcUsernameClaim,
        oidcUsernamePrefix: flags.oidcUsernamePrefix,
        oidcGroupsClaim: flags.oidcGroupsClaim,
        oidcGroupsPrefix: flags.oidcGroupsPrefix,
        oidcRequiredClaim: flags.oidcRequiredClaim,
        oidcCaFile: flags.oidcCaFile,
        oidcSigningAlgs: flags.oidcSigningAlgs,
        encryptionProviderConfig: flags.encryptionProviderConfig,
        auditPolicyFile: flags.auditPolicyFile,
        auditLogPath: flags.auditLogPath,
        auditLogMaxage: flags.auditLogMaxage,
        auditLogMaxbackup: flags.auditLogMaxbackup,
        auditLogMaxsize: flags.auditLogMaxsize,
        auditWebhookConfigFile: flags.auditWebhookConfigFile,
        auditWebhookMode: flags.auditWebhookMode,
        auditWebhookBatchBufferSize: flags.auditWebhookBatchBufferSize,
        auditWebhookBatchMaxSize: flags.auditWebhookBatchMaxSize,
        auditWebhookBatchMaxWait: flags.auditWebhookBatchMaxWait,
        auditWebhookBatchThrottleEnable: flags.auditWebhookBatchThrottleEnable,
        auditWebhookBatchThrottleQps: flags.auditWebhookBatchThrottleQps,
        auditWebhookBatchThrottleBurst: flags.auditWebhookBatchThrottleBurst,
        auditWebhookInitialBackoff: flags.auditWebhookInitialBackoff,
        auditWebhookTruncateEnabled: flags.auditWebhookTruncateEnabled,
        auditWebhookTruncateMaxBatchSize: flags.auditWebhookTruncateMaxBatchSize,
        auditWebhookTruncateMaxEventSize: flags.auditWebhookTruncateMaxEventSize,
        auditWebhookVersion: flags.auditWebhookVersion,
        serviceAccountMaxTokenExpiration: flags.serviceAccountMaxTokenExpiration,
        serviceAccountExtendTokenExpiration: flags.serviceAccountExtendTokenExpiration,
        encryptionProviderConfigAutomaticReload: flags.encryptionProviderConfigAutomaticReload,
        anonymousAuth: flags.anonymousAuth,
        enablePriorityAndFairness: flags.enablePriorityAndFairness,
        maxRequestsInflight: flags.maxRequestsInflight,
        maxMutatingRequestsInflight: flags.maxMutatingRequestsInflight,
      },
      configFile: flags.config,
      defaults,
    });
  } catch (err) {
    if (err instanceof ConfigError) throw usageError(err.message);
    throw err;
  }
}

export function registerServerCommand(program: Command): void {
  const cmd = program
    .command('server')
    .description('run the control plane: a Kubernetes API server on embedded SQLite (or etcd)')
    .addHelpText(
      'after',
      '\nOn first start it creates a CA, serving and admin certificates under <data-dir>/pki,\n' +
        'a bootstrap token in <data-dir>/tokens.csv, and writes <data-dir>/kubeconfig.',
    );
  addServerOptions(cmd, { dataDir: '/var/lib/hedge' }).action(async (flags: ServerFlags) => {
    const settings = await settingsFromFlags(flags, { dataDir: '/var/lib/hedge' });
    const logger = createLogger({ level: settings.logLevel });
    const shutdown = waitForShutdownSignal();
    try {
      // loaded on use: `hedge --help` must not pull in the store and apiserver
      const { startServer } = await import('./start-server.ts');
      const server = await startServer(settings, logger);
      process.stderr.write(`hedge server ready at ${server.url} ; export KUBECONFIG=${server.kubeconfigPath}\n`);
      const sig = await shutdown;
      logger.info({ component: 'cli', signal: sig }, 'shutting down');
      await server.close();
    } finally {
      await flushLogger(logger);
    }
  });
}
