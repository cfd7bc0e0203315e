import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isIPv4 } from 'node:net';
import { networkInterfaces } from 'node:os';
import { createApiServer, loadOrCreateServiceAccountKey } from '../apiserver/index.ts';
import { loadAuditPolicyFile, openAuditLog, type AuditPolicy, type AuditSink, type AuditWebhookOptions } from '../apiserver/audit/index.ts';
import { createAuthenticator } from '../apiserver/auth/authenticator.ts';
import { OidcAuthenticator } from '../apiserver/auth/oidc.ts';
import { writeKubeconfig } from '../apiserver/auth/kubeconfig.ts';
import { ensurePki, generateClientCert } from '../apiserver/auth/pki.ts';
import { HttpKubeClient, loadKubeconfig } from '../client/index.ts';
import { startControllers } from '../controllers/index.ts';
import { TokenFile, tokenFilePath } from '../apiserver/auth/tokens.ts';
import { HedgeError, isHedgeError } from '../lib/errors.ts';
import type { Logger } from '../lib/log.ts';
import { EtcdStore, openStore } from '../store/index.ts';
import type { Store } from '../store/types.ts';
import { dialableHost, formatHostPort } from './listen-address.ts';
import type { AuditWebhookSettings, ServerSettings } from './server-config.ts';
import { EncryptionAtRest, kmsMetrics, parseEncryptionConfiguration, reloadMetrics, transformationMetrics } from '../apiserver/encryption/index.ts';
import { Registry as PromRegistry } from '../lib/prom.ts';

export interface RunningServer {
  /** URL clients dial (wildcard listen addresses become loopback) */
  url: string;
  kubeconfigPath: string;
  tokenFile: TokenFile;
  /** stop serving, then close the store; idempotent */
  close(): Promise<void>;
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::';
}

/** Reads one of the --etcd-*file PEM files, naming the flag when it cannot. */
async function readPem(flag: string, path: string | undefined): Promise<Buffer | undefined> {
  if (path === undefined) return undefined;
  try {
    return await readFile(path);
  } catch (err) {
    throw new HedgeError('Invalid', `${flag} ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * The resources encrypted at rest, from --encryption-provider-config: a file that cannot be read
 * or is not a valid EncryptionConfiguration stops the start, naming the flag, the file and the field.
 */
async function loadEncryption(settings: ServerSettings, metrics: PromRegistry, logger: Logger): Promise<EncryptionAtRest | undefined> {
  const file = settings.encryptionProviderConfig;
  if (file === undefined) return undefined;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new HedgeError('Invalid', `--encryption-provider-config ${file}: ${(err as Error).message}`, { cause: err });
  }
  let encryption: EncryptionAtRest;
  try {
    // one identity for the metrics' apiserver_id_hash (upstream's apiserver identity lease name)
    const apiServerID = `apiserver-${randomUUID()}`;
    const automaticReload = settings.encryptionProviderConfigAutomaticReload
      ? { file, loaded: text, logger: logger.child({ component: 'encryption-config-controller' }), metrics: reloadMetrics(metrics, apiServerID) }
      : undefined;
    encryption = new EncryptionAtRest(parseEncryptionConfiguration(text), { metrics: transformationMetrics(metrics), kms: { metrics: kmsMetrics(metrics, apiServerID) }, automaticReload });
  } catch (err) {
    throw new HedgeError('Invalid', `--encryption-provider-config ${file}: ${(err as Error).message}`, { cause: err });
  }
  logger.info({ component: 'apiserver', encryptionProviderConfig: file, automaticReload: encryption.automaticReload, resources: encryption.summary() }, 'encryption at rest');
  return encryption;
}

/**
 * The configured Store. For etcd, one member must answer and be 3.4 or later before the server
 * starts: a wrong URL fails the start with a message naming --etcd-servers, not the first request.
 */
async function openServerStore(settings: ServerSettings, logger: Logger): Promise<Store> {
  switch (settings.store) {
    case 'sqlite':
      return openStore({ kind: 'sqlite', path: join(settings.dataDir, 'state.db') }, logger);
    case 'memory':
      return openStore({ kind: 'memory' }, logger);
    case 'etcd': {
      const ca = await readPem('--etcd-cafile', settings.etcdCafile);
      const cert = await readPem('--etcd-certfile', settings.etcdCertfile);
      const key = await readPem('--etcd-keyfile', settings.etcdKeyfile);
      const usesTls = settings.etcdServers.some((u) => u.startsWith('https:'));
      if (usesTls && ca === undefined) throw new HedgeError('Invalid', '--etcd-servers uses https: give --etcd-cafile (the CA that signed the etcd servers)');
      const store = new EtcdStore({
        endpoints: settings.etcdServers,
        prefix: settings.etcdPrefix,
        tls: ca === undefined ? undefined : { ca, cert, key },
        compactIntervalMs: settings.etcdCompactionInterval * 1000,
        logger,
      });
      try {
        const status = await store.status({ timeoutMs: 5_000 });
        logger.info({ endpoints: settings.etcdServers, version: status.version, revision: status.revision }, 'etcd reachable');
      } catch (err) {
        await store.close();
        throw new HedgeError(isHedgeError(err, 'Invalid') ? 'Invalid' : 'Unavailable', `--etcd-servers ${settings.etcdServers.join(',')}: ${(err as Error).message}`, { cause: err });
      }
      return store;
    }
    default: {
      const never: never = settings.store;
      throw new HedgeError('Invalid', `--store ${String(never)}: unknown`);
    }
  }
}

/**
 * The audit policy, log and webhook of --audit-policy-file / --audit-log-path /
 * --audit-webhook-config-file, checked before anything else starts: a bad policy, an unwritable
 * log or a webhook kubeconfig that cannot be used refuses the start, naming the flag. As
 * upstream, a policy without a backend, or a backend without a policy, audits nothing (and says so).
 */
async function loadAudit(settings: ServerSettings, logger: Logger): Promise<{ policy: AuditPolicy; sink?: AuditSink; webhook?: AuditWebhookOptions } | undefined> {
  const { auditPolicyFile: file, auditLogPath: path, auditWebhook } = settings;
  if (file === undefined && path === undefined && auditWebhook === undefined) return undefined;
  let policy: AuditPolicy | undefined;
  if (file !== undefined) {
    try {
      policy = await loadAuditPolicyFile(file);
    } catch (err) {
      throw new HedgeError('Invalid', `--audit-policy-file ${file}: ${(err as Error).message}`, { cause: err });
    }
  }
  const webhook = auditWebhook ? await loadAuditWebhook(auditWebhook) : undefined;
  if (path === undefined && webhook === undefined) {
    logger.warn({ component: 'audit', policy: file }, 'no --audit-log-path or --audit-webhook-config-file: no audit events are written');
    return undefined;
  }
  let sink: AuditSink | undefined;
  if (path !== undefined) {
    try {
      sink = await openAuditLog({ path, maxAgeDays: settings.auditLogMaxage, maxBackups: settings.auditLogMaxbackup, maxSizeMb: settings.auditLogMaxsize });
    } catch (err) {
      throw new HedgeError('Invalid', `--audit-log-path ${path}: ${(err as Error).message}`, { cause: err });
    }
  }
  if (!policy) {
    logger.warn({ component: 'audit', path, webhook: auditWebhook?.configFile }, 'no --audit-policy-file: no audit events are recorded');
    await sink?.close();
    return undefined;
  }
  if (webhook) logger.info({ component: 'audit', webhook: webhook.target.server, mode: webhook.mode }, 'audit webhook');
  return { policy, sink, webhook };
}

/**
 * The --audit-webhook-config-file kubeconfig: its current context's cluster (server URL, CA) and
 * user (client certificate and key, or token), as upstream's webhook client reads it.
 */
export async function loadAuditWebhook(s: AuditWebhookSettings): Promise<AuditWebhookOptions> {
  const bad = (msg: string, cause?: unknown): HedgeError => new HedgeError('Invalid', `--audit-webhook-config-file ${s.configFile}: ${msg}`, { cause });
  let conn;
  try {
    conn = await loadKubeconfig(s.configFile);
  } catch (err) {
    const why = (err as Error).message;
    throw bad(why.startsWith(`kubeconfig ${s.configFile}: `) ? why.slice(`kubeconfig ${s.configFile}: `.length) : why, err);
  }
  let url: URL;
  try {
    url = new URL(conn.server);
  } catch (err) {
    throw bad(`clusters[].cluster.server: Invalid value: ${JSON.stringify(conn.server)}: not a URL`, err);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw bad(`clusters[].cluster.server: Invalid value: ${JSON.stringify(conn.server)}: must be an http or https URL`);
  if ((conn.cert === undefined) !== (conn.key === undefined)) throw bad('users[].user: client-certificate and client-key go together');
  return {
    target: conn,
    mode: s.mode,
    batch: s.batch,
    initialBackoffMs: s.initialBackoffMs,
    truncate: s.truncate,
  };
}

/**
 * Bring up the control plane described by `settings`: PKI, tokens, store, apiserver,
 * kubeconfig. On failure everything opened so far is closed again.
 */
export async function startServer(settings: ServerSettings, logger: Logger): Promise<RunningServer> {
  const { dataDir } = settings;
  try {
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new HedgeError('Internal', `--data-dir ${dataDir}: cannot create: ${(err as Error).message}`, { cause: err });
  }
  const audit = await loadAudit(settings, logger);
  const hosts = [...settings.advertiseHost];
  if (!isWildcard(settings.listen.host)) hosts.push(settings.listen.host);
  const pki = await ensurePki({ dataDir, hosts });
  const tokenFile = await TokenFile.open(tokenFilePath(dataDir));
  await tokenFile.ensureBootstrapToken();

  const oidc = await oidcAuthenticator(settings, logger);
  const metricsRegistry = new PromRegistry();
  const encryption = await loadEncryption(settings, metricsRegistry, logger);
  const store = await openServerStore(settings, logger.child({ component: 'store' }));

  // the apiserver's identity towards nodes' kubelet servers (logs, exec); nodes verify it against the cluster CA
  const kubeletClientCert = await generateClientCert({
    ca: { cert: pki.caCert, key: pki.caKey },
    commonName: 'system:hedge-apiserver-kubelet-client',
    organizations: ['system:masters'],
  });
  // persistent, so service account tokens stay valid across restarts
  const saKey = await loadOrCreateServiceAccountKey(join(dataDir, 'pki', 'sa.key'));

  let api;
  try {
    api = await createApiServer({
      kubeletClient: { cert: kubeletClientCert.cert, key: kubeletClientCert.key },
      serviceAccountTokens: { privateKeyPem: saKey, maxExpirationSeconds: settings.serviceAccountMaxTokenExpiration, extendExpiration: settings.serviceAccountExtendTokenExpiration },
      serviceAccountRootCa: pki.caCert,
      host: settings.listen.host,
      port: settings.listen.port,
      store,
      encryption,
      metricsRegistry,
      logger: logger.child({ component: 'apiserver' }),
      tls: { cert: pki.serverCert, key: pki.serverKey, clientCa: pki.caCert },
      authenticator: createAuthenticator({ clientCa: pki.caCert, tokens: tokenFile }),
      anonymousAuth: settings.anonymousAuth,
      oidc,
      podSecurity: { enforce: settings.podSecurityLevel, exemptions: settings.podSecurityExemptions },
      metrics: { resolutionMs: settings.metricResolution * 1000 },
      services: { clusterIpRange: settings.serviceClusterIpRange, nodePortRange: settings.serviceNodePortRange, advertise: advertiseAddress(settings) },
      audit,
      flowControl: { enablePriorityAndFairness: settings.enablePriorityAndFairness, maxRequestsInflight: settings.maxRequestsInflight, maxMutatingRequestsInflight: settings.maxMutatingRequestsInflight },
    });
  } catch (err) {
    await store.close();
    const code = (err as NodeJS.ErrnoException).code;
    const why: Record<string, string> = {
      EADDRINUSE: 'address already in use',
      EADDRNOTAVAIL: 'no such local address',
      EACCES: 'permission denied',
    };
    if (code !== undefined && why[code] !== undefined) {
      const where = formatHostPort(settings.listen.host, settings.listen.port);
      throw new HedgeError('Unavailable', `--listen ${where}: ${why[code]} (${code})`, { cause: err });
    }
    throw err;
  }

  const port = Number(new URL(api.url).port);
  const url = `https://${formatHostPort(dialableHost(settings.listen.host), port)}`;
  const kubeconfigPath = join(dataDir, 'kubeconfig');
  try {
    await writeKubeconfig(kubeconfigPath, {
      server: url,
      caCert: pki.caCert,
      credentials: { clientCert: pki.adminCert, clientKey: pki.adminKey },
    });
  } catch (err) {
    await api.close();
    await store.close();
    throw err;
  }

  // Controllers reach the apiserver the way any client would (API only), under their own identity.
  const stopControllers = new AbortController();
  // one shutdown signal is shared by every pod worker, watch and retry wait: many listeners is normal
  setMaxListeners(0, stopControllers.signal);
  let controllers: { done: Promise<void>; client: HttpKubeClient } | undefined;
  if (settings.controllers) {
    const cred = await generateClientCert({
      ca: { cert: pki.caCert, key: pki.caKey },
      commonName: 'system:hedge-controllers',
      organizations: ['system:masters'],
    });
    // the scheduler's binds of one turn travel as one `bindings` List (src/controllers/scheduler/README.md)
    const client = new HttpKubeClient({ server: url, ca: pki.caCert, cert: cred.cert, key: cred.key, userAgent: 'hedge-controllers', bindBatchSize: 250 });
    const running = startControllers({
      client,
      logger: logger.child({ component: 'controllers' }),
      signal: stopControllers.signal,
      scheduler: { bindConcurrency: 1000 },
      nodeLifecycle: {
        nodeMonitorGracePeriodMs: settings.nodeMonitorGracePeriod * 1000,
        defaultTolerationSeconds: settings.defaultTolerationSeconds,
      },
      nodeIpam: { clusterCidr: settings.clusterCidr, nodeCidrMaskSize: settings.nodeCidrMaskSize, nodeCidrMaskSizeIpv6: settings.nodeCidrMaskSizeIpv6 },
      // the CA that signs the apiserver's serving certificate, for the pods' service account volume
      rootCaCert: { rootCa: pki.caCert },
      leaderElection: {},
    });
    controllers = { done: running.done, client };
  }

  let closing: Promise<void> | undefined;
  return {
    url,
    kubeconfigPath,
    tokenFile,
    close() {
      closing ??= (async () => {
        try {
          stopControllers.abort();
          if (controllers) {
            await controllers.done;
            await controllers.client.close();
          }
          await api.close();
        } finally {
          await store.close();
        }
      })();
      return closing;
    },
  };
}

/** Where pods reach this apiserver (the `kubernetes` Service's endpoint): an IPv4 --advertise-host, the --listen address, or the first external IPv4 of the host. */
function advertiseAddress(settings: ServerSettings): { address: string } | undefined {
  const given = settings.advertiseHost.find((h) => isIPv4(h));
  if (given) return { address: given };
  if (isIPv4(settings.listen.host) && settings.listen.host !== '0.0.0.0') return { address: settings.listen.host };
  for (const addrs of Object.values(networkInterfaces())) {
    const a = addrs?.find((x) => x.family === 'IPv4' && !x.internal);
    if (a) return { address: a.address };
  }
  return undefined;
}

/** The OIDC authenticator of `--oidc-*`, its CA file read now (a missing file stops the start). */
async function oidcAuthenticator(settings: ServerSettings, logger: Logger): Promise<OidcAuthenticator | undefined> {
  const o = settings.oidc;
  if (!o) return undefined;
  let ca: string | undefined;
  if (o.caFile !== undefined) {
    try {
      ca = await readFile(o.caFile, 'utf8');
    } catch (err) {
      throw new HedgeError('Invalid', `--oidc-ca-file ${o.caFile}: ${(err as Error).message}`, { cause: err });
    }
  }
  return new OidcAuthenticator({ ...o, ca }, logger.child({ component: 'oidc' }));
}
