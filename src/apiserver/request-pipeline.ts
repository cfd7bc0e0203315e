import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ResourceRegistry } from '../api/resources/registry.ts';
import type { ResourceDef } from '../api/resources/types.ts';
import { nowMs, type Auditor, type RequestAudit } from './audit/index.ts';
import { authenticationAnnotations } from './auth/request-annotations.ts';
import { impersonate } from './auth/impersonation.ts';
import { HedgeError, isHedgeError } from '../lib/errors.ts';
import type { Registry as MetricsRegistry } from '../lib/prom.ts';
import type { AuthMetrics } from './auth/auth-metrics.ts';
import type { Logger } from '../lib/log.ts';
import { forbidden, type Authorizer } from './auth/authorizer.ts';
import type { Authenticator, UserInfo } from './auth/types.ts';
import { serveResource } from './handlers/resource.ts';
import { scaleProvider } from './handlers/scale.ts';
import { sendError, sendText } from './handlers/respond.ts';
import type { RequestScope, ServerScope } from './handlers/scope.ts';
import type { ResourceStore } from './registry/resource-store.ts';
import { serveNonResource, type HealthCheck } from './non-resource.ts';
import { subresourceKey, type ApiGroupProvider, type SubresourceProvider } from './providers.ts';
import { parseRequestInfo, parseRequestTarget, type RequestInfo, type RequestTarget, type ResourceRequestInfo } from './request-info.ts';
import { PROMETHEUS_SD_NODES_PATH, servePrometheusSd } from './prometheus-sd.ts';
import { statusErrors } from './status.ts';
import type { Node } from 'kubernetes-types/core/v1.js';
import type { FlowGate, Ticket } from './flowcontrol/gate.ts';
import { APF_DEBUG_PREFIX, apfDump, type DumpLevel } from './flowcontrol/dump.ts';

/** An authenticated, authorized request: a resource one with its type, or a non-resource path. */
export type AdmittedRequest = { user: UserInfo; info: ResourceRequestInfo; def: ResourceDef } | { user: UserInfo; info: undefined; def: undefined };

export interface RequestPipelineOptions {
  server: ServerScope;
  resources: ResourceRegistry;
  authenticator: Authenticator;
  authorizer: Authorizer;
  /** groups served by a handler instead of the registry (reviews, metrics) */
  groupProviders: readonly ApiGroupProvider[];
  /** subresources with their own handler (pods/log, pods/exec, serviceaccounts/token) */
  subresources: readonly SubresourceProvider[];
  /** `host:port` the server listens on, known once it listens (discovery reports it) */
  serverAddress(): string;
  /** authentication and authorization counts and latencies */
  authMetrics?: AuthMetrics;
  /** served at `/metrics` (authorized as `get` on that path, as upstream: system:monitoring) */
  metricsRegistry?: MetricsRegistry;
  /** audit events (audit/); absent = no auditing and no audit work per request */
  auditor?: Auditor;
  /** API Priority and Fairness or max-in-flight (flowcontrol/); absent = no limit */
  flowGate?: FlowGate;
  /** named checks of /healthz, /livez and /readyz besides ping (`kms-providers`) */
  healthChecks?: readonly HealthCheck[];
  /** APF's levels for /debug/api_priority_and_fairness/* (flowcontrol/dump.ts); absent = not served */
  apfDebugLevels?: () => readonly DumpLevel[];
}

/** Where `admit` leaves the request's flow control seat, released by the caller once the request is done. */
export interface FlowSlot {
  res: ServerResponse;
  ticket?: Ticket;
}

/** One request's audit as `admit` fills it in: present only when auditing is on. */
export interface AdmitAudit {
  auditId: string;
  /** nowMs() at arrival */
  received: number;
  /** the response, followed by the audit (absent for upgrades: the socket is followed instead) */
  res?: ServerResponse;
  /** set once the policy has decided: undefined = level None */
  rec?: RequestAudit;
}

export interface RequestPipeline {
  /**
   * authenticate (401) → parse the request info → (audit: the policy decides, RequestReceived) →
   * impersonate → (flow control: wait for a seat, or 429) → authorize (403) → find the resource type (404)
   */
  admit(req: IncomingMessage, url: RequestTarget, audit?: AdmitAudit, flow?: FlowSlot): Promise<AdmittedRequest>;
  /** the handler of `def`'s `subresource`, if one is registered */
  subresource(def: ResourceDef, subresource: string): SubresourceProvider | undefined;
  /** the `request` listener: every request ends in a response or a Status, never an unhandled rejection */
  listener(req: IncomingMessage, res: ServerResponse): void;
}

/**
 * Request id, then `admit` (every path: the health checks and /version too, as upstream; the
 * anonymous may read what RBAC grants system:unauthenticated), then dispatch: a group provider,
 * a subresource provider, the non-resource paths, or the generic resource handlers.
 */
export function createRequestPipeline(opts: RequestPipelineOptions): RequestPipeline {
  const { server, resources, authenticator, authorizer, auditor } = opts;
  const log = server.log;
  const providerByDef = new Map<ResourceDef, ApiGroupProvider>();
  for (const p of opts.groupProviders) for (const d of p.resources) providerByDef.set(d, p);
  const subByKey = new Map(opts.subresources.map((p) => [subresourceKey(p.group, p.resource, p.subresource), p]));

  const metrics = opts.authMetrics;

  /**
   * upstream's WithAuthentication: nothing recognised is `failure`, a credential rejected for a
   * reason is `error` (the reason goes to the log, the caller gets a bare 401, as upstream)
   */
  const authenticate = async (req: IncomingMessage): Promise<UserInfo> => {
    const start = performance.now();
    let user: UserInfo | undefined;
    try {
      const r = authenticator.authenticate(req);
      user = r instanceof Promise ? await r : r;
    } catch (err) {
      metrics?.authenticated('error', (performance.now() - start) / 1000);
      if (!isHedgeError(err, 'Unauthorized')) throw err;
      log.warn({ reason: err.message, remote: req.socket.remoteAddress, path: req.url?.split('?')[0] }, 'unable to authenticate the request');
      throw new HedgeError('Unauthorized', 'Unauthorized');
    }
    metrics?.authenticated(user ? 'success' : 'failure', (performance.now() - start) / 1000, user?.username);
    if (!user) throw new HedgeError('Unauthorized', 'Unauthorized');
    return user;
  };

  const authorize = async (user: UserInfo, info: ResourceRequestInfo | ReturnType<typeof parseRequestInfo>) => {
    if (!metrics) return authorizer.authorize(user, info);
    const start = performance.now();
    try {
      const decision = await authorizer.authorize(user, info);
      // a decision of the Node,RBAC chain that nobody allowed is upstream's no-opinion (default deny)
      metrics.authorized(decision.allowed ? 'allowed' : decision.noOpinion ? 'no-opinion' : 'denied', (performance.now() - start) / 1000);
      return decision;
    } catch (err) {
      metrics.authorized('error', (performance.now() - start) / 1000);
      throw err;
    }
  };

  const flowGate = opts.flowGate;
  /** upstream's place for APF: after impersonation, before authorization; a fault of its own never fails the request */
  const waitForSeat = async (user: UserInfo, info: RequestInfo, flow: FlowSlot, query: URLSearchParams): Promise<void> => {
    try {
      const t = flowGate!.admit(user, info, flow.res, query);
      flow.ticket = t instanceof Promise ? await t : t;
    } catch (err) {
      if (isHedgeError(err, 'TooManyRequests')) throw err;
      log.error({ err }, 'flow control failed; the request goes through unlimited');
    }
  };

  const admit = async (req: IncomingMessage, url: RequestTarget, audit?: AdmitAudit, flow?: FlowSlot): Promise<AdmittedRequest> => {
    let authenticated: UserInfo;
    try {
      authenticated = await authenticate(req);
    } catch (err) {
      if (audit && auditor && isHedgeError(err, 'Unauthorized')) auditUnauthenticated(auditor, audit, req, url);
      throw err;
    }
    let info: RequestInfo | undefined;
    if (audit && auditor) {
      // upstream's place: after authentication, before impersonation (the policy sees the caller)
      info = parseRequestInfo(req.method ?? 'GET', url.pathname, url.searchParams);
      audit.rec = auditor.begin({ auditId: audit.auditId, req, user: authenticated, info, received: audit.received });
      const notes = authenticationAnnotations(req);
      if (notes && audit.rec) Object.assign(audit.rec.annotations, notes);
      if (audit.res) audit.rec?.watch(audit.res);
      // blocking-strict: the request waits for its RequestReceived event and fails without it
      await auditor.accept(audit.rec, req.url ?? '/');
    }
    const user = await impersonate(req, authenticated, authorizer);
    if (user !== authenticated) audit?.rec?.impersonated(user);
    info ??= parseRequestInfo(req.method ?? 'GET', url.pathname, url.searchParams);
    if (flow && flowGate) await waitForSeat(user, info, flow, url.searchParams);
    const decision = await authorize(user, info);
    audit?.rec?.authorized(decision.allowed, decision.reason);
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

  const customScale = scaleProvider('', '');
  const subresource = (def: ResourceDef, name: string): SubresourceProvider | undefined =>
    subByKey.get(subresourceKey(def.group, def.plural, name)) ?? (name === 'scale' && def.custom?.scale ? customScale : undefined);

  const handle = async (req: IncomingMessage, res: ServerResponse, requestId: string, audit: AdmitAudit | undefined): Promise<void> => {
    const started = performance.now();
    res.setHeader('Audit-Id', requestId);
    const reqLog = lazyChild(log, { requestId });
    let user: UserInfo | undefined;
    let code = 200;
    const flow: FlowSlot | undefined = flowGate ? { res } : undefined;
    try {
      const url = parseRequestTarget(req.url ?? '/');
      const path = url.pathname;
      if (path === PROMETHEUS_SD_NODES_PATH) {
        const method = req.method ?? 'GET';
        if (method !== 'GET' && method !== 'HEAD') throw statusErrors.methodNotAllowed(method, path);
        // what it discloses is the node list: authorized exactly as `list nodes`
        const sd = await admit(req, new URL('/api/v1/nodes', 'http://localhost'), audit, flow);
        user = sd.user;
        if (!sd.def) throw statusErrors.notFoundPath();
        const list = await server.registry.storeFor(sd.def).list(undefined, {});
        const nodes = list.items.map((kv) => server.registry.codec.decode(kv).obj as Node);
        servePrometheusSd(res, nodes, req.headers.host ?? opts.serverAddress());
        return;
      }
      const admitted = await admit(req, url, audit, flow);
      user = admitted.user;
      if (admitted.info === undefined) {
        if (opts.metricsRegistry && (path === '/metrics' || path === '/metrics/')) {
          await serveMetrics(req, res, opts.metricsRegistry);
          return;
        }
        if (opts.apfDebugLevels && path.startsWith(APF_DEBUG_PREFIX) && (req.method === 'GET' || req.method === 'HEAD')) {
          const text = apfDump(path, url.searchParams, opts.apfDebugLevels());
          if (text !== undefined) {
            sendText(res, 200, text, 'text/plain; charset=utf-8');
            return;
          }
        }
        await serveNonResource({ req, res, path, query: url.searchParams, resources, serverAddress: opts.serverAddress(), healthChecks: opts.healthChecks });
        return;
      }
      const { info, def } = admitted;
      const rq: RequestScope = new ResourceRequest(server, req, res, url.searchParams, info, def, server.registry.storeFor(def), user, reqLog, audit?.rec, flow);
      const provider = providerByDef.get(def);
      if (provider) {
        await provider.serve(rq);
        return;
      }
      if (info.subresource !== '') {
        const sub = subresource(def, info.subresource);
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
      audit?.rec?.failed(status);
      if (code >= 500) reqLog.error({ err }, 'request failed');
    } finally {
      flow?.ticket?.release();
      code = res.statusCode || code;
      // a blocking webhook: the request ends when its last event is sent
      const sent = audit?.rec?.complete(code);
      if (sent) await sent;
      if (log.isLevelEnabled('debug')) reqLog.debug(
        { method: req.method, url: req.url, code, user: user?.username, ms: Math.round((performance.now() - started) * 10) / 10 },
        'request',
      );
    }
  };

  return {
    admit,
    subresource,
    listener(req, res) {
      const requestId = auditIdOf(req);
      const audit: AdmitAudit | undefined = auditor ? { auditId: requestId, received: nowMs(), res } : undefined;
      handle(req, res, requestId, audit).catch((err: unknown) => {
        audit?.rec?.panic(err);
        log.error({ err }, 'unhandled request error');
        if (!res.headersSent) sendError(res, err);
        else res.end();
      });
    },
  };
}

/** Prometheus text of `registry` (GET or HEAD) */
async function serveMetrics(req: IncomingMessage, res: ServerResponse, registry: MetricsRegistry): Promise<void> {
  const method = req.method ?? 'GET';
  if (method !== 'GET' && method !== 'HEAD') throw statusErrors.methodNotAllowed(method, '/metrics');
  const body = await registry.metrics();
  res.writeHead(200, { 'Content-Type': registry.contentType, 'Content-Length': Buffer.byteLength(body) });
  res.end(method === 'HEAD' ? undefined : body);
}

/**
 * One resource request. Its abort signal is made when someone asks for it: most requests (a lease
 * renewal) pass it along and never listen, and an AbortController per request, its signal and a
 * 'close' listener were ~1.5 % of a renewal's CPU. Only a response cut short (closed before it
 * finished) aborts it, with one shared reason: a DOMException per abort builds a stack. (A class:
 * a getter in an object literal gives every object a map of its own, and the megamorphic property
 * reads and the maps cost more than the controller saved.)
 */
class ResourceRequest implements RequestScope {
  readonly warnings: string[] = [];
  #controller: AbortController | undefined;

  constructor(
    readonly server: ServerScope,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly query: URLSearchParams,
    readonly info: ResourceRequestInfo,
    readonly def: ResourceDef,
    readonly rs: ResourceStore,
    readonly user: UserInfo,
    readonly log: Logger,
    readonly audit: RequestAudit | undefined,
    private readonly flow?: FlowSlot,
  ) {}

  watchInitialized(): void {
    this.flow?.ticket?.initialized?.();
  }

  get signal(): AbortSignal {
    if (this.#controller) return this.#controller.signal;
    const controller = new AbortController();
    this.#controller = controller;
    const res = this.res;
    if (res.closed) {
      if (!res.writableFinished) controller.abort(clientGone);
    } else {
      res.once('close', () => {
        if (!res.writableFinished) controller.abort(clientGone);
      });
    }
    return controller.signal;
  }
}

/** the reason of every cut-short request (shared: no stack built per abort) */
const clientGone = new DOMException('the client closed the connection', 'AbortError');

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

/** a 401 is audited without a user (upstream's WithFailedAuthenticationAudit) */
function auditUnauthenticated(auditor: Auditor, audit: AdmitAudit, req: IncomingMessage, url: RequestTarget): void {
  let info: RequestInfo;
  try {
    info = parseRequestInfo(req.method ?? 'GET', url.pathname, url.searchParams);
  } catch {
    info = { isResourceRequest: false, verb: (req.method ?? 'get').toLowerCase() as RequestInfo['verb'], path: url.pathname };
  }
  auditor.unauthenticated({ auditId: audit.auditId, req, info, received: audit.received });
}

/**
 * The request's `Audit-ID` if it sent one (upstream honours it, so a proxy's id follows the
 * request), else a new UUID. Only what can be sent back as a header value is taken.
 */
export function auditIdOf(req: IncomingMessage): string {
  const given = req.headers['audit-id'];
  if (typeof given === 'string' && given.length > 0 && given.length <= 256 && /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/.test(given)) return given;
  return randomUUID();
}
