import { setMaxListeners } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createApiServer, loadOrCreateServiceAccountKey } from '../apiserver/index.ts';
import { createAuthenticator } from '../apiserver/auth/authenticator.ts';
import { writeKubeconfig } from '../apiserver/auth/kubeconfig.ts';
import { ensurePki, generateClientCert } from '../apiserver/auth/pki.ts';
import { HttpKubeClient } from '../client/index.ts';
import { startControllers } from '../controllers/index.ts';
import { TokenFile, tokenFilePath } from '../apiserver/auth/tokens.ts';
import { HedgeError } from '../lib/errors.ts';
import type { Logger } from '../lib/log.ts';
import { openStore } from '../store/index.ts';
import type { Store } from '../store/types.ts';
import { dialableHost, formatHostPort } from './listen-address.ts';
import type { ServerSettings } from './server-config.ts';

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
  const hosts = [...settings.advertiseHost];
  if (!isWildcard(settings.listen.host)) hosts.push(settings.listen.host);
  const pki = await ensurePki({ dataDir, hosts });
  const tokenFile = await TokenFile.open(tokenFilePath(dataDir));
  await tokenFile.ensureBootstrapToken();

  const storeLogger = logger.child({ component: 'store' });
  const store: Store =
    settings.store === 'sqlite'
      ? await openStore({ kind: 'sqlite', path: join(dataDir, 'state.db') }, storeLogger)
      : await openStore({ kind: 'memory' }, storeLogger);

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
      serviceAccountTokens: { privateKeyPem: saKey },
      host: settings.listen.host,
      port: settings.listen.port,
      store,
      logger: logger.child({ component: 'apiserver' }),
      tls: { cert: pki.serverCert, key: pki.serverKey, clientCa: pki.caCert },
      authenticator: createAuthenticator({ clientCa: pki.caCert, tokens: tokenFile }),
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
    const client = new HttpKubeClient({ server: url, ca: pki.caCert, cert: cred.cert, key: cred.key, userAgent: 'hedge-controllers' });
    const running = startControllers({
      client,
      logger: logger.child({ component: 'controllers' }),
      signal: stopControllers.signal,
      nodeLifecycle: {
        nodeMonitorGracePeriodMs: settings.nodeMonitorGracePeriod * 1000,
        defaultTolerationSeconds: settings.defaultTolerationSeconds,
      },
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
