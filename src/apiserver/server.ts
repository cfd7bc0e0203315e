import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { builtinResources, ResourceRegistry } from '../api/resources/index.ts';
import type { KubeObject } from '../api/object.ts';
import { HedgeError, isHedgeError } from '../lib/errors.ts';
import type { Logger } from '../lib/log.ts';
import type { ResourceDef } from '../api/resources/types.ts';
import { AdmissionChain, defaultsPlugin, namespaceLifecyclePlugin, nodeRestrictionPlugin, runtimeClassPlugin } from './admission/index.ts';
import type { Authenticator, UserInfo } from './auth/types.ts';
import { forbidden, type Authorizer } from './authorizer.ts';
import { defaultRuntimeClasses, runtimeClassObject } from './bootstrap/runtime-classes.ts';
import { ApiAuthorization } from './auth/authorization.ts';
import { podSecurityPlugin } from './admission/pod-security.ts';
import { impersonate } from './auth/impersonation.ts';
import { directNodeDialer } from './node-proxy/node-dialer.ts';
import { podLogProvider } from './node-proxy/pod-log.ts';
import { podStreamProvider } from './node-proxy/pod-exec.ts';
import { writeRawResponse } from './node-proxy/raw-response.ts';
import { subresourceKey, type ApiGroupProvider, type SubresourceProvider, type UpgradeScope } from './providers.ts';
import { reviewsProvider } from './reviews/reviews-provider.ts';
import { ServiceAccountTokens } from './serviceaccount/token-signer.ts';
import { tokenRequestProvider } from './serviceaccount/token-request.ts';
import { withServiceAccountTokens } from './serviceaccount/authenticator.ts';
import { statusFromError } from './status.ts';
import { createPatchEngine } from './handlers/patch-engine.ts';
import { schemaFieldChecker } from './handlers/field-validation.ts';
import { serveResource } from './handlers/resource.ts';
import { scaleProvider } from './handlers/scale.ts';
import { sendError } from './handlers/respond.ts';
import type { RequestScope, ServerScope } from './handlers/scope.ts';
import { defaultTableConverter } from './handlers/table.ts';
import { serveNonResource } from './non-resource.ts';
import { NamespaceFinalizer } from './registry/namespace-finalizer.ts';
import { Registry } from './registry/registry.ts';
import { parseRequestInfo, type ResourceRequestInfo } from './request-info.ts';
import type { ApiServer, ApiServerConfig } from './types.ts';

export const bootstrapNamespaceNames = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

/** The running server, with its internals for tests and the CLI. */
export interface RunningApiServer extends ApiServer {
  readonly registry: Registry;
  readonly serviceAccountTokens: ServiceAccountTokens;
  /** resolves once no terminating namespace is waiting to be emptied */
  namespacesIdle(): Promise<void>;
}

const systemUser: UserInfo = { username: 'system:apiserver', groups: ['system:masters'] };

/** A Kubernetes-compatible REST API server over `config.store`. */
export async function createApiServer(config: ApiServerConfig): Promise<RunningApiServer> {
  const log = config.logger;
  const authz = new ApiAuthorization({ configured: config.authorizer });
  const authorizer: Authorizer = authz.authorizer;
  const saTokens = new ServiceAccountTokens(config.serviceAccountTokens);
  const authenticator: Authenticator = withServiceAccountTokens(config.authenticator, saTokens);
  const dialer = config.nodeDialer ?? directNodeDialer(config.kubeletClient);
  const groupProviders: ApiGroupProvider[] = [reviewsProvider({ authorizer, rules: authz.rules }), ...(config.apiGroupProviders ?? [])];
  const subProviders: SubresourceProvider[] = [
    podLogProvider({ dialer }),
    podStreamProvider('exec', { dialer }),
    podStreamProvider('attach', { dialer }),
    tokenRequestProvider({ tokens: saTokens }),
    scaleProvider('apps', 'deployments'),
    scaleProvider('apps', 'replicasets'),
    scaleProvider('apps', 'statefulsets'),
  ];
  const baseDefs = withSubresources(config.resources ?? builtinResources(), subProviders);
  const providerByDef = new Map<ResourceDef, ApiGroupProvider>();
  for (const p of groupProviders) for (const d of p.resources) providerByDef.set(d, p);
  const resources = new ResourceRegistry([...baseDefs, ...groupProviders.flatMap((p) => p.resources)]);
  const subByKey = new Map(subProviders.map((p) => [subresourceKey(p.group, p.resource, p.subresource), p]));
  const rcDef = resources.lookup('node.k8s.io', 'v1', 'runtimeclasses');
  const nsDef = resources.lookup('', 'v1', 'namespaces');
  const saDef = resources.lookup('', 'v1', 'serviceaccounts');
  const closing = new AbortController();
  // every open watch listens on it; thousands of watchers are normal, not a leak
  setMaxListeners(0, closing.signal);

  const admission = new AdmissionChain([
    defaultsPlugin(),
    runtimeClassPlugin({ getRuntimeClass: async (name) => (rcDef ? (await registry.storeFor(rcDef).tryGet('', name))?.obj : undefined) }),
    namespaceLifecyclePlugin({
      // Without a namespaces resource there is no lifecycle to enforce.
      getNamespace: async (name) => (nsDef ? (await registry.storeFor(nsDef).tryGet('', name))?.obj : { metadata: { name } }),
    }),
    nodeRestrictionPlugin(),
    podSecurityPlugin({
      ...config.podSecurity,
      logger: log,
      getNamespace: async (name) => (nsDef ? (await registry.storeFor(nsDef).tryGet('', name))?.obj : undefined),
    }),
    ...authz.admissionPlugins(),
    ...(config.admissionPlugins ?? []),
  ]);
  const patch = createPatchEngine();
  const registry: Registry = new Registry({ store: config.store, resources, admission });
  const finalizer = new NamespaceFinalizer({ registry, logger: log, retryMs: config.namespaceRetryMs });
  registry.hooks = {
    trackManagedFields: ({ def, old, obj, manager, subresource, now }) => patch.trackUpdate(def, old, obj, manager, subresource, now),
    afterCreate: async (def, obj) => {
      if (def === nsDef && saDef && obj.metadata.name) await ensureDefaultServiceAccount(obj.metadata.name);
    },
    namespaceTerminating: (name) => finalizer.enqueue(name),
  };

  async function ensureDefaultServiceAccount(namespace: string): Promise<void> {
    if (!saDef) return;
    const sa: KubeObject = { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace } };
    try {
      await registry.create(saDef, sa, { user: systemUser, dryRun: false, signal: closing.signal, fieldManager: 'kube-controller-manager' });
    } catch (err) {
      if (!isHedgeError(err, 'AlreadyExists')) log.warn({ err, namespace }, 'could not create the default service account');
    }
  }

  if (nsDef && config.bootstrapNamespaces !== false) {
    for (const name of bootstrapNamespaceNames) {
      const existing = await registry.storeFor(nsDef).tryGet('', name);
      if (existing) continue;
      try {
        await registry.create(
          nsDef,
          { apiVersion: 'v1', kind: 'Namespace', metadata: { name } },
          { user: systemUser, dryRun: false, signal: closing.signal, fieldManager: 'kube-apiserver' },
        );
      } catch (err) {
        if (!isHedgeError(err, 'AlreadyExists')) throw err;
      }
    }
  }
  if (rcDef) {
    for (const rc of config.runtimeClasses ?? defaultRuntimeClasses) {
      if (await registry.storeFor(rcDef).tryGet('', rc.name)) continue;
      try {
        await registry.create(rcDef, runtimeClassObject(rc), { user: systemUser, dryRun: false, signal: closing.signal, fieldManager: 'kube-apiserver' });
      } catch (err) {
        if (!isHedgeError(err, 'AlreadyExists')) throw err;
      }
    }
  }
  await authz.start({ registry, resources, logger: log, signal: closing.signal, systemUser, bootstrapPolicy: config.bootstrapPolicy !== false });
  await finalizer.resume();

  const scope: ServerScope = {
    registry,
    log,
    maxBodyBytes: config.maxBodyBytes ?? 3 * 1024 * 1024,
    table: defaultTableConverter,
    fields: schemaFieldChecker(),
    patch,
    bookmarkIntervalMs: config.watchBookmarkIntervalMs ?? 60_000,
    defaultWatchTimeoutSeconds: config.watchTimeoutSeconds ?? 1800,
    closing: closing.signal,
  };
  let serverAddress = '';

  /** authenticate, parse and authorize a resource request; throws the Status-bearing error otherwise */
  const admitRequest = async (req: IncomingMessage, url: URL): Promise<{ user: UserInfo; info: ResourceRequestInfo; def: ResourceDef } | { user: UserInfo; info: undefined; def: undefined }> => {
    const authenticated = authenticator.authenticate(req);
    if (!authenticated) throw new HedgeError('Unauthorized', 'Unauthorized');
    const user = await impersonate(req, authenticated, authorizer);
    const info = parseRequestInfo(req.method ?? 'GET', url.pathname, url.searchParams);
    const decision = await authorizer.authorize(user, info);
    if (!decision.allowed) throw forbidden(user, info, decision.reason);
    if (!info.isResourceRequest) return { user, info: undefined, def: undefined };
    const def = resources.lookup(info.group, info.version, info.resource);
    if (!def) throw new HedgeError('NotFound', 'the server could not find the requested resource');
    // A cluster-scoped resource under /namespaces/{ns}/ does not exist (namespaces themselves aside).
    if (!def.namespaced && info.namespace && def.plural !== 'namespaces') {
      throw new HedgeError('NotFound', 'the server could not find the requested resource');
    }
    if (def.namespaced && info.name && !info.namespace) {
      throw new HedgeError('NotFound', 'the server could not find the requested resource');
    }
    return { user, info, def };
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = performance.now();
    const requestId = randomUUID();
    res.setHeader('Audit-Id', requestId);
    const abort = new AbortController();
    // only a response cut short is an abort: aborting every finished request costs a DOMException each
    res.on('close', () => {
      if (!res.writableFinished) abort.abort();
    });
    const reqLog = lazyChild(log, { requestId });
    let user: UserInfo | undefined;
    let code = 200;
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const path = url.pathname;
      if (isPublicPath(path)) {
        await serveNonResource({ req, res, path, query: url.searchParams, resources, serverAddress, authenticated: false });
        return;
      }
      const admitted = await admitRequest(req, url);
      user = admitted.user;
      if (admitted.info === undefined) {
        await serveNonResource({ req, res, path, query: url.searchParams, resources, serverAddress, authenticated: true });
        return;
      }
      const { info, def } = admitted;
      const rq: RequestScope = {
        server: scope,
        req,
        res,
        query: url.searchParams,
        info,
        def,
        rs: registry.storeFor(def),
        user,
        signal: abort.signal,
        log: reqLog,
        warnings: [],
      };
      const provider = providerByDef.get(def);
      if (provider) {
        await provider.serve(rq);
        return;
      }
      if (info.subresource !== '') {
        const sub = subByKey.get(subresourceKey(def.group, def.plural, info.subresource));
        if (sub) {
          // a streaming subresource asked for without an upgrade: upstream answers 400 for exec/attach
          if (!sub.serve) throw new HedgeError('BadRequest', `Upgrade request required`);
          await sub.serve(rq);
          return;
        }
      }
      await serveResource(rq);
    } catch (err) {
      if (res.headersSent) {
        reqLog.warn({ err }, 'request failed after the response started');
        res.end();
        return;
      }
      const status = sendError(res, err);
      code = status.code;
      if (code >= 500) reqLog.error({ err }, 'request failed');
    } finally {
      code = res.statusCode || code;
      if (log.isLevelEnabled('debug')) reqLog.debug(
        { method: req.method, url: req.url, code, user: user?.username, ms: Math.round((performance.now() - started) * 10) / 10 },
        'request',
      );
    }
  };

  /** exec/attach: HTTP Upgrade requests never reach `handle`; the raw socket is ours */
  const handleUpgrade = async (req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> => {
    const requestId = randomUUID();
    const reqLog = log.child({ requestId });
    const abort = new AbortController();
    const onClose = (): void => abort.abort();
    socket.once('close', onClose);
    closing.signal.addEventListener('abort', () => socket.destroy(), { once: true, signal: abort.signal });
    socket.on('error', (err) => reqLog.debug({ err }, 'upgrade socket error'));
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const admitted = await admitRequest(req, url);
      if (admitted.info === undefined) throw new HedgeError('BadRequest', 'Upgrade is only supported for pods/exec and pods/attach');
      const { info, def, user } = admitted;
      const sub = info.subresource ? subByKey.get(subresourceKey(def.group, def.plural, info.subresource)) : undefined;
      if (!sub?.upgrade) throw new HedgeError('BadRequest', `Upgrade is not supported for ${info.subresource ? `${def.plural}/${info.subresource}` : def.plural}`);
      const rq: UpgradeScope = {
        server: scope,
        req,
        socket,
        head,
        query: url.searchParams,
        info,
        def,
        rs: registry.storeFor(def),
        user,
        signal: abort.signal,
        log: reqLog,
      };
      await sub.upgrade(rq);
      reqLog.debug({ url: req.url, user: user.username }, 'upgrade');
    } catch (err) {
      const status = statusFromError(err);
      if (status.code >= 500) reqLog.error({ err }, 'upgrade failed');
      const extra: Record<string, string> = { 'Audit-Id': requestId };
      if (status.code === 401) extra['WWW-Authenticate'] = 'Basic realm="kubernetes-master"';
      writeRawResponse(socket, status.code, 'application/json', JSON.stringify(status), extra);
      socket.off('close', onClose);
      abort.abort();
    }
  };

  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res).catch((err: unknown) => {
      log.error({ err }, 'unhandled request error');
      if (!res.headersSent) sendError(res, err);
      else res.end();
    });
  };

  const server: Server = config.tls
    ? createHttpsServer(
        { cert: config.tls.cert, key: config.tls.key, ca: config.tls.clientCa, requestCert: true, rejectUnauthorized: false },
        listener,
      )
    : createHttpServer(listener);
  server.keepAliveTimeout = 65_000;
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    handleUpgrade(req, socket, head).catch((err: unknown) => {
      log.error({ err }, 'unhandled upgrade error');
      socket.destroy();
    });
  });
  server.on('clientError', (err, socket) => {
    log.debug({ err }, 'client error');
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  serverAddress = `${host}:${addr.port}`;
  const url = `${config.tls ? 'https' : 'http'}://${serverAddress}`;
  log.info({ url }, 'apiserver listening');

  let closed: Promise<void> | undefined;
  return {
    url,
    registry,
    serviceAccountTokens: saTokens,
    namespacesIdle: () => finalizer.idle(),
    close() {
      closed ??= (async () => {
        closing.abort();
        finalizer.close();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
          // watches end via `closing`; anything else still open is cut
          setImmediate(() => server.closeAllConnections());
        });
      })();
      return closed;
    },
  };
}

/** A child logger made on first use: most requests never log, and pino children are not free. */
function lazyChild(log: Logger, bindings: Record<string, unknown>): Logger {
  let child: Logger | undefined;
  return new Proxy(log, {
    get(_target, prop) {
      child ??= log.child(bindings);
      const v: unknown = Reflect.get(child, prop, child);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(child) : v;
    },
  });
}

function isPublicPath(path: string): boolean {
  return (
    path === '/version' ||
    path === '/healthz' ||
    path === '/livez' ||
    path === '/readyz' ||
    path.startsWith('/healthz/') ||
    path.startsWith('/livez/') ||
    path.startsWith('/readyz/')
  );
}

/** Subresources served by providers appear in discovery like the built-in ones (pods/attach, serviceaccounts/token). */
function withSubresources(defs: ResourceDef[], providers: SubresourceProvider[]): ResourceDef[] {
  return defs.map((def) => {
    const extra = providers
      .filter((p) => p.group === def.group && p.resource === def.plural && !def.subresources.includes(p.subresource))
      .map((p) => p.subresource);
    return extra.length === 0 ? def : { ...def, subresources: [...def.subresources, ...extra] };
  });
}
