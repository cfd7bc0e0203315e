import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { parse as parseYaml } from 'yaml';
import type { Status } from '../../api/meta/status.ts';
import type { UserInfo } from '../auth/types.ts';
import { decodeKubeProtobuf } from '../protobuf/index.ts';
import type { RequestInfo } from '../request-info.ts';
import { HedgeError } from '../../lib/errors.ts';
import type { AuditBackend, Delivery } from './log-backend.ts';
import { encodeEvent, jsonText, nowMs, sourceIPs, withoutManagedFields, type AuditEvent } from './event.ts';
import type { AuditMetrics } from './metrics.ts';
import type { AuditPolicy } from './policy.ts';
import type { AuditUserInfo, RequestAuditConfig, Stage } from './types.ts';

/** the audit of a request whose body is worth keeping (level Request and up), for body.ts */
const auditOfRequest = Symbol('hedge.audit');
type AuditedMessage = IncomingMessage & { [auditOfRequest]?: RequestAudit };

/** body.ts calls this with every body it reads: kept as the event's requestObject at level Request and up */
export function auditRequestBody(req: IncomingMessage, buf: Buffer): void {
  (req as AuditedMessage)[auditOfRequest]?.requestBody(buf, req.headers['content-type']);
}

/** upstream's BasicLongRunningRequestCheck: watch and proxy verbs, streaming subresources */
const longRunningSubresources = new Set(['attach', 'exec', 'proxy', 'log', 'portforward']);
function isLongRunning(info: RequestInfo): boolean {
  if (info.verb === 'watch' || (info.verb as string) === 'proxy') return true;
  return info.isResourceRequest && longRunningSubresources.has(info.subresource);
}

export interface AuditorOptions {
  policy: AuditPolicy;
  backend: AuditBackend;
  metrics: AuditMetrics;
}

export interface BeginAudit {
  auditId: string;
  req: IncomingMessage;
  /** the authenticated user (before impersonation: upstream evaluates the policy for it) */
  user: UserInfo;
  info: RequestInfo;
  /** nowMs() when the request arrived */
  received: number;
}

/**
 * The audit of a server: the policy, the backend and the counters. Built only when a policy and
 * a backend are configured; without it the request path does no audit work at all.
 */
export class Auditor {
  readonly #o: AuditorOptions;

  readonly #backend: AuditBackend;

  constructor(opts: AuditorOptions) {
    this.#o = opts;
    const { backend, metrics } = opts;
    // upstream's ObserveEvent: once per event, whichever backends it goes to
    this.#backend = {
      blocking: backend.blocking,
      process(line) {
        metrics.event.inc();
        return backend.process(line);
      },
      close: () => backend.close(),
    };
  }

  /** After authentication: the request's audit, or undefined when the policy gives it level None. */
  begin(b: BeginAudit): RequestAudit | undefined {
    const config = this.#o.policy.evaluate(b.user, b.info);
    this.#o.metrics.level.inc({ level: config.level });
    if (config.level === 'None') return undefined;
    return new RequestAudit(this.#backend, config, b, userInfo(b.user));
  }

  /**
   * A request that failed authentication: one ResponseStarted event with the 401 and what was
   * tried (upstream's WithFailedAuthenticationAudit; the policy sees no user).
   */
  unauthenticated(b: Omit<BeginAudit, 'user'>): void {
    const config = this.#o.policy.evaluate(undefined, b.info);
    this.#o.metrics.level.inc({ level: config.level });
    if (config.level === 'None') return;
    const a = new RequestAudit(this.#backend, config, b, {}, { silent: true });
    a.responseStatus = { metadata: {}, message: authMethods(b.req), code: 401 };
    void a.emit('ResponseStarted');
  }

  /**
   * Whether the request may go on: false only when a backend that sends within the request
   * (blocking-strict) could not store its RequestReceived event. Upstream then answers 500 and
   * emits nothing more for it; the rejection is counted.
   */
  async accept(rec: RequestAudit | undefined, requestURI: string): Promise<void> {
    if (!rec?.received || (await rec.received)) return;
    this.#o.metrics.rejected.inc();
    rec.abandon();
    throw new HedgeError('Internal', `Internal Server Error: ${JSON.stringify(requestURI)}: failed to store audit event`);
  }

  /** flush what is buffered (server shutdown) */
  close(): Promise<void> {
    return this.#o.backend.close();
  }
}

function userInfo(u: UserInfo): AuditUserInfo {
  const out: AuditUserInfo = { username: u.username };
  if (u.uid) out.uid = u.uid;
  out.groups = u.groups;
  if (u.extra && Object.keys(u.extra).length) out.extra = u.extra;
  return out;
}

/** upstream getAuthMethods' wording */
function authMethods(req: IncomingMessage): string {
  const tried: string[] = [];
  const peer = req.socket as { getPeerCertificate?: () => { raw?: Buffer } | undefined };
  if (peer.getPeerCertificate?.()?.raw) tried.push('certificate');
  if (req.headers.authorization) tried.push('token');
  return tried.length ? `Authentication failed, attempted: ${tried.join(', ')}` : 'Authentication failed, no credentials provided';
}

const atLeastRequest = (c: RequestAuditConfig): boolean => c.level === 'Request' || c.level === 'RequestResponse';

/**
 * One audited request (upstream's AuditContext): the event as it fills in, emitted at each stage
 * the policy does not omit. Every method is a no-op after ResponseComplete/Panic.
 */
export class RequestAudit {
  readonly config: RequestAuditConfig;
  readonly longRunning: boolean;
  /** what admission plugins add (pod-security.kubernetes.io/*), with the authorization decision */
  readonly annotations: Record<string, string> = {};
  responseStatus: AuditEvent['responseStatus'];
  /** the RequestReceived event's delivery, when a backend sends it within the request */
  readonly received: Delivery;
  readonly #backend: AuditBackend;
  readonly #event: AuditEvent;
  #done = false;
  #started = false;
  #body: { buf: Buffer; contentType: string | undefined } | undefined;
  #requestObject: string | undefined;
  #response: Buffer[] | undefined;
  #res: ServerResponse | undefined;
  /** a blocking backend: the response's end, held until ResponseComplete is stored */
  #heldEnd: (() => void) | undefined;

  constructor(backend: AuditBackend, config: RequestAuditConfig, b: Omit<BeginAudit, 'user'>, user: AuditUserInfo, opts: { silent?: boolean } = {}) {
    this.#backend = backend;
    this.config = config;
    this.longRunning = isLongRunning(b.info);
    const { info, req } = b;
    this.#event = {
      level: config.level,
      auditID: b.auditId,
      requestURI: req.url ?? '/',
      verb: info.verb,
      user,
      sourceIPs: sourceIPs(req),
      userAgent: req.headers['user-agent'],
      requestReceivedTimestamp: b.received,
    };
    if (info.isResourceRequest) {
      const ref: AuditEvent['objectRef'] = { resource: info.resource };
      if (info.namespace) ref.namespace = info.namespace;
      if (info.name) ref.name = info.name;
      if (info.group) ref.apiGroup = info.group;
      if (info.version) ref.apiVersion = info.version;
      if (info.subresource) ref.subresource = info.subresource;
      this.#event.objectRef = ref;
    }
    if (opts.silent) return;
    if (atLeastRequest(config)) (req as AuditedMessage)[auditOfRequest] = this;
    this.received = this.emit('RequestReceived');
  }

  /** nothing more is emitted (the request was refused for its RequestReceived event) */
  abandon(): void {
    this.#done = true;
  }

  impersonated(user: UserInfo): void {
    this.#event.impersonatedUser = userInfo(user);
  }

  authorized(allowed: boolean, reason: string | undefined): void {
    this.annotations['authorization.k8s.io/decision'] = allowed ? 'allow' : 'forbid';
    this.annotations['authorization.k8s.io/reason'] = reason ?? '';
  }

  /** the raw body (Request and up); a decoded object given to requestObject replaces it */
  requestBody(buf: Buffer, contentType: string | undefined): void {
    this.#body = { buf, contentType };
  }

  /**
   * The decoded object of a create/update: objectRef takes its namespace, name, uid and
   * resourceVersion where the path had none (all levels, as upstream's LogRequestObject), and at
   * Request and up it is the requestObject (encoded now: admission changes it in place later).
   */
  requestObject(obj: unknown): void {
    if (this.#done) return;
    const ref = this.#event.objectRef;
    const meta = (obj as { metadata?: { namespace?: unknown; name?: unknown; uid?: unknown; resourceVersion?: unknown } } | null)?.metadata;
    if (ref && meta && typeof meta === 'object') {
      if (!ref.namespace && typeof meta.namespace === 'string' && meta.namespace) ref.namespace = meta.namespace;
      if (!ref.name && typeof meta.name === 'string' && meta.name) ref.name = meta.name;
      if (!ref.uid && typeof meta.uid === 'string' && meta.uid) ref.uid = meta.uid;
      if (!ref.resourceVersion && typeof meta.resourceVersion === 'string' && meta.resourceVersion) ref.resourceVersion = meta.resourceVersion;
    }
    if (!atLeastRequest(this.config)) return;
    const body = this.#body;
    const raw = body && !this.config.omitManagedFields && isJson(body.contentType) ? body.buf : undefined;
    this.#requestObject = jsonText(raw, this.config.omitManagedFields ? withoutManagedFields(obj) : obj);
    this.#body = undefined;
  }

  /** the error Status the request ends with */
  failed(status: Status): void {
    const { metadata: _m, kind: _k, apiVersion: _a, ...rest } = status;
    this.responseStatus = { metadata: {}, ...rest };
  }

  /**
   * Follow the response: a long-running one emits ResponseStarted when its headers go out; at
   * RequestResponse the body of an ordinary one is kept for the responseObject.
   */
  watch(res: ServerResponse): void {
    if (this.#backend.blocking && !this.longRunning) this.#holdEnd(res);
    if (this.longRunning) {
      const writeHead = res.writeHead;
      res.writeHead = ((...args: Parameters<ServerResponse['writeHead']>) => {
        this.started(args[0]);
        return writeHead.apply(res, args);
      }) as ServerResponse['writeHead'];
      return;
    }
    if (this.config.level !== 'RequestResponse') return;
    const chunks: Buffer[] = [];
    this.#response = chunks;
    this.#res = res;
    const keep = (chunk: unknown): void => {
      if (typeof chunk === 'string') chunks.push(Buffer.from(chunk));
      else if (chunk instanceof Uint8Array) chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    };
    const write = res.write;
    const end = res.end;
    res.write = ((chunk: unknown, ...rest: unknown[]) => {
      keep(chunk);
      return (write as (...a: unknown[]) => boolean).apply(res, [chunk, ...rest]);
    }) as ServerResponse['write'];
    res.end = ((chunk?: unknown, ...rest: unknown[]) => {
      if (typeof chunk !== 'function') keep(chunk);
      return (end as (...a: unknown[]) => ServerResponse).apply(res, [chunk, ...rest]);
    }) as ServerResponse['end'];
  }

  /**
   * Upstream sends ResponseComplete before its handler returns, so a blocking backend holds the
   * response: its end goes out once the event is stored. The event is emitted when the request
   * completes, or on the next turn after the end (a handler that waits for its response to finish).
   */
  #holdEnd(res: ServerResponse): void {
    const end = res.end;
    res.end = ((...args: unknown[]) => {
      const real = (): unknown => (end as (...a: unknown[]) => ServerResponse).apply(res, args);
      if (this.#done) return real();
      this.#heldEnd = real;
      setImmediate(() => void this.complete(res.statusCode));
      return res;
    }) as ServerResponse['end'];
  }

  #releaseEnd(): void {
    const h = this.#heldEnd;
    this.#heldEnd = undefined;
    h?.();
  }

  /**
   * An upgraded connection (exec, attach, port-forward): ResponseStarted with the status line's
   * code when the first bytes go back (upstream: on Hijack), ResponseComplete when it closes.
   */
  watchSocket(socket: Duplex): void {
    const sniff = (chunk: unknown): void => {
      if (this.#started) return;
      const head = typeof chunk === 'string' ? chunk : chunk instanceof Uint8Array ? Buffer.from(chunk.buffer, chunk.byteOffset, Math.min(chunk.byteLength, 16)).toString('latin1') : '';
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
      if (m) this.started(Number(m[1]));
    };
    const write = socket.write;
    const end = socket.end;
    socket.write = ((chunk: unknown, ...rest: unknown[]) => {
      sniff(chunk);
      return (write as (...a: unknown[]) => boolean).apply(socket, [chunk, ...rest]);
    }) as Duplex['write'];
    // a refusal passed on from the node is written with end()
    socket.end = ((chunk?: unknown, ...rest: unknown[]) => {
      sniff(chunk);
      return (end as (...a: unknown[]) => Duplex).apply(socket, [chunk, ...rest]);
    }) as Duplex['end'];
    socket.once('close', () => void this.complete(this.responseStatus?.code ?? 101));
  }

  started(code: number): void {
    if (this.#started || this.#done) return;
    this.#started = true;
    this.responseStatus = { ...(this.responseStatus ?? { metadata: {} }), code };
    if (this.longRunning) void this.emit('ResponseStarted');
  }

  /** the last event; a blocking backend's delivery of it is returned for the request to wait on */
  complete(code: number): Delivery {
    if (this.#done) return undefined;
    this.responseStatus = { ...(this.responseStatus ?? { metadata: {} }), code: this.responseStatus?.status ? this.responseStatus.code : code };
    this.#finishObjects();
    this.#done = true;
    const d = this.emit('ResponseComplete');
    if (!this.#heldEnd) return d;
    const release = (): void => this.#releaseEnd();
    if (d) void d.then(release, release);
    else release();
    return d;
  }

  /** the handler failed unexpectedly (upstream: a panic) */
  panic(err: unknown): void {
    if (this.#done) return;
    this.responseStatus = { metadata: {}, status: 'Failure', message: `APIServer panic'd: ${(err as Error)?.message ?? String(err)}`, reason: 'InternalError', code: 500 };
    void this.emit('Panic');
    this.#done = true;
    this.#releaseEnd();
  }

  emit(stage: Stage): Delivery {
    if (this.config.omitStages.includes(stage)) return undefined;
    const ev = this.#event;
    ev.responseStatus = stage === 'RequestReceived' ? undefined : this.responseStatus;
    ev.annotations = Object.keys(this.annotations).length ? this.annotations : undefined;
    return this.#backend.process(encodeEvent(ev, stage, stage === 'RequestReceived' ? ev.requestReceivedTimestamp : nowMs()));
  }

  /** request and response objects for the last event (decoded from the kept bytes only now) */
  #finishObjects(): void {
    if (!atLeastRequest(this.config)) return;
    if (this.#requestObject === undefined && this.#body) {
      // a body no handler decoded as an object: a patch, DeleteOptions, a review
      const v = decodeBody(this.#body.buf, this.#body.contentType);
      if (v !== undefined) this.#requestObject = jsonText(this.config.omitManagedFields || !isJson(this.#body.contentType) ? undefined : this.#body.buf, this.config.omitManagedFields ? withoutManagedFields(v) : v);
    }
    this.#event.requestObject = this.#requestObject;
    this.#body = undefined;
    const chunks = this.#response;
    if (!chunks?.length) return;
    this.#response = undefined;
    const body = Buffer.concat(chunks);
    const type = headerString(this.#res?.getHeader('content-type'));
    if (!/json|yaml/i.test(type ?? '')) return;
    // our own JSON is valid and, without line breaks, goes into the line as it is
    if (!this.config.omitManagedFields && isJson(type) && !body.includes(10) && !body.includes(13)) {
      this.#event.responseObject = body.toString('utf8');
      return;
    }
    const v = decodeBody(body, type);
    if (v !== undefined) this.#event.responseObject = JSON.stringify(this.config.omitManagedFields ? withoutManagedFields(v) : v);
  }
}

function headerString(v: unknown): string | undefined {
  return typeof v === 'string' ? v : Array.isArray(v) ? String(v[0]) : undefined;
}

function isJson(contentType: string | undefined): boolean {
  return contentType === undefined || contentType === '' || /json/i.test(contentType);
}

/** a body as the value it encodes, or undefined when it is not one (upstream logs what it decoded) */
function decodeBody(buf: Buffer, contentType: string | undefined): unknown {
  try {
    if (/protobuf/i.test(contentType ?? '')) return decodeKubeProtobuf(buf);
    if (/yaml/i.test(contentType ?? '')) return parseYaml(buf.toString('utf8'));
    if (!isJson(contentType)) return undefined;
    return JSON.parse(buf.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}
