import { HttpAgent, httpRequest, type HttpMethod, type HttpResponse } from '../lib/http/request.ts';
import { HedgeError, isHedgeError } from '../lib/errors.ts';
import { linkedSignal } from '../lib/signals.ts';
import { isPlainObject, type KubeObject } from '../api/object.ts';
import type { ConnectionConfig } from './kubeconfig.ts';
import { apiVersionOfRef, resolveResource, resourcePath } from './resources.ts';
import { errorFromStatus } from '../api/meta/status.ts';
import type {
  BindOptions,
  DeleteOptions,
  GetOptions,
  KubeClient,
  ListOptions,
  ObjectList,
  PatchOptions,
  PatchType,
  ResourceTarget,
  WatchEvent,
  WatchOptions,
  WriteOptions,
} from './types.ts';

const patchContentType: Record<PatchType, string> = {
  json: 'application/json-patch+json',
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
};

const watchTypes = new Set(['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK']);

export interface HttpKubeClientOptions extends ConnectionConfig {
  userAgent?: string;
  /** per request, except watches; default 30 s */
  requestTimeoutMs?: number;
  /**
   * binds issued in the same event-loop turn go to the server together, in one
   * `POST namespaces/{ns}/bindings` List request of at most this many per namespace (a hedge
   * server extension; a server without it gets single pods/binding requests from then on).
   * Default 0: one pods/binding request per bind.
   */
  bindBatchSize?: number;
  /**
   * at most this many connections to the server at a time, watches included (requests beyond it
   * wait for a free one); default: no limit
   */
  maxSockets?: number;
  /** which free connection a request takes (see HttpAgentOptions.scheduling); default lifo */
  scheduling?: 'lifo' | 'fifo';
  /** reach the server over this unix socket, plain HTTP (`server` then only names it: the Host header) */
  socketPath?: string;
  /** idle connections are closed after this (default 30 s) */
  keepAliveMs?: number;
  /** idle connections kept at most (see HttpAgentOptions.maxFreeSockets) */
  maxFreeSockets?: number;
}

interface QueuedBind {
  opts: BindOptions;
  body: Record<string, unknown>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

type Query = Record<string, string | number | boolean | undefined>;

function queryString(q: Query): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}

/** KubeClient over HTTP(S): one keep-alive agent, JSON only, no client-go machinery. */
export class HttpKubeClient implements KubeClient {
  private readonly agent: HttpAgent;
  private readonly base: string;
  private readonly headers: Record<string, string>;
  /** the headers of a request with a JSON body */
  private readonly jsonHeaders: Record<string, string>;
  private readonly timeoutMs: number;
  private bindBatchSize: number;
  /** binds waiting for this turn's batch, per namespace */
  private readonly queuedBinds = new Map<string, QueuedBind[]>();
  private bindFlushScheduled = false;

  constructor(opts: HttpKubeClientOptions) {
    this.base = opts.server.replace(/\/+$/, '');
    this.agent = new HttpAgent({
      ca: opts.ca,
      cert: opts.cert,
      key: opts.key,
      rejectUnauthorized: !opts.insecureSkipTLSVerify,
      maxSockets: opts.maxSockets,
      scheduling: opts.scheduling,
      socketPath: opts.socketPath,
      keepAliveMs: opts.keepAliveMs,
      maxFreeSockets: opts.maxFreeSockets,
    });
    this.headers = { accept: 'application/json', 'user-agent': opts.userAgent ?? 'hedge/0.1' };
    if (opts.token) this.headers.authorization = `Bearer ${opts.token}`;
    this.jsonHeaders = { ...this.headers, 'content-type': 'application/json' };
    this.timeoutMs = opts.requestTimeoutMs ?? 30_000;
    this.bindBatchSize = Math.max(0, Math.floor(opts.bindBatchSize ?? 0));
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  private async call(
    method: HttpMethod,
    path: string,
    opts: { body?: unknown; contentType?: string; signal?: AbortSignal } = {},
  ): Promise<unknown> {
    let headers = this.headers;
    if (opts.body !== undefined) headers = opts.contentType ? { ...this.headers, 'content-type': opts.contentType } : this.jsonHeaders;
    let res: HttpResponse;
    let text: string;
    try {
      // the caller's signal and the deadline go to the request itself: no combined signal per call
      res = await httpRequest(this.base + path, {
        method,
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        agent: this.agent,
        signal: opts.signal,
        timeoutMs: this.timeoutMs,
      });
      text = await res.body.text();
    } catch (err) {
      throw transportError(err, method, path, opts.signal);
    }
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // non-JSON bodies are kept as text for the error message
    }
    if (res.statusCode < 200 || res.statusCode > 299) throw errorFromStatus(res.statusCode, parsed);
    return parsed;
  }

  /**
   * A request to any API path (a node's `nodes/{name}/proxy/...`, an aggregated API); resolves
   * to the parsed body, throws the HedgeError for a non-2xx answer like every other call.
   */
  async request(method: HttpMethod, path: string, opts: { body?: unknown; signal?: AbortSignal } = {}): Promise<unknown> {
    return this.call(method, path, opts);
  }

  async get<T extends KubeObject = KubeObject>(res: ResourceTarget, name: string, opts: GetOptions = {}): Promise<T> {
    const r = resolveResource(res);
    return (await this.call('GET', resourcePath(r, { namespace: opts.namespace, name }), opts)) as T;
  }

  async list<T extends KubeObject = KubeObject>(res: ResourceTarget, opts: ListOptions = {}): Promise<ObjectList<T>> {
    const r = resolveResource(res);
    const q = queryString({
      labelSelector: opts.labelSelector,
      fieldSelector: opts.fieldSelector,
      limit: opts.limit,
      continue: opts.continue,
      resourceVersion: opts.resourceVersion,
    });
    const body = await this.call('GET', resourcePath(r, { namespace: opts.namespace }) + q, opts);
    if (!isPlainObject(body) || !Array.isArray(body.items)) {
      throw new HedgeError('Internal', `list ${r.plural}: the server sent no items`);
    }
    const list = body as unknown as ObjectList<T>;
    list.metadata ??= { resourceVersion: '' };
    // Lists drop apiVersion/kind from items; put them back so callers can treat items as objects.
    for (const item of list.items) {
      item.apiVersion ??= apiVersionOfRef(r);
      item.kind ??= r.kind;
    }
    return list;
  }

  async *watch<T extends KubeObject = KubeObject>(
    res: ResourceTarget,
    opts: WatchOptions = {},
  ): AsyncGenerator<WatchEvent<T>> {
    const r = resolveResource(res);
    const q = queryString({
      watch: 1,
      labelSelector: opts.labelSelector,
      fieldSelector: opts.fieldSelector,
      resourceVersion: opts.resourceVersion,
      allowWatchBookmarks: opts.allowWatchBookmarks,
      timeoutSeconds: opts.timeoutSeconds,
    });
    const path = resourcePath(r, { namespace: opts.namespace }) + q;
    // Our own controller so that a consumer breaking out of the loop tears the stream down.
    const local = new AbortController();
    const signal = linkedSignal([opts.signal, local.signal]);
    let res2: HttpResponse;
    try {
      res2 = await httpRequest(this.base + path, {
        method: 'GET',
        headers: this.headers,
        agent: this.agent,
        signal,
        headersTimeoutMs: this.timeoutMs,
        // A quiet watch is legal: the server ends it at timeoutSeconds.
        bodyTimeoutMs: opts.timeoutSeconds ? (opts.timeoutSeconds + 30) * 1000 : 0,
      });
    } catch (err) {
      signal.clear();
      if (opts.signal?.aborted) return;
      throw transportError(err, 'GET', path, opts.signal);
    }
    try {
      if (res2.statusCode < 200 || res2.statusCode > 299) {
        const text = await res2.body.text();
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          // keep text
        }
        throw errorFromStatus(res2.statusCode, parsed);
      }
      const decoder = new TextDecoder();
      let buf = '';
      for await (const chunk of res2.body) {
        buf += decoder.decode(chunk as Uint8Array, { stream: true });
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (line) yield parseWatchLine<T>(line);
        }
      }
      const rest = (buf + decoder.decode()).trim();
      if (rest) yield parseWatchLine<T>(rest);
    } catch (err) {
      if (isHedgeError(err)) throw err;
      // The caller stopping the watch is the normal way out, not a failure.
      if (opts.signal?.aborted) return;
      throw transportError(err, 'GET', path, opts.signal);
    } finally {
      local.abort();
      signal.clear();
      res2.body.destroy();
    }
  }

  async create<T extends KubeObject = KubeObject>(res: ResourceTarget, obj: T, opts: WriteOptions = {}): Promise<T> {
    const r = resolveResource(res);
    const path = resourcePath(r, { namespace: obj.metadata.namespace }) + writeQuery(opts);
    return (await this.call('POST', path, { body: withTypeMeta(obj, r), signal: opts.signal })) as T;
  }

  async update<T extends KubeObject = KubeObject>(res: ResourceTarget, obj: T, opts: WriteOptions = {}): Promise<T> {
    return this.put(res, obj, undefined, opts);
  }

  async updateStatus<T extends KubeObject = KubeObject>(
    res: ResourceTarget,
    obj: T,
    opts: WriteOptions = {},
  ): Promise<T> {
    return this.put(res, obj, 'status', opts);
  }

  private async put<T extends KubeObject>(
    res: ResourceTarget,
    obj: T,
    subresource: string | undefined,
    opts: WriteOptions,
  ): Promise<T> {
    const r = resolveResource(res);
    const name = obj.metadata.name;
    if (!name) throw new HedgeError('Invalid', 'update needs metadata.name');
    const path = resourcePath(r, { namespace: obj.metadata.namespace, name, subresource }) + writeQuery(opts);
    return (await this.call('PUT', path, { body: withTypeMeta(obj, r), signal: opts.signal })) as T;
  }

  async patch<T extends KubeObject = KubeObject>(
    res: ResourceTarget,
    name: string,
    type: PatchType,
    patch: unknown,
    opts: PatchOptions = {},
  ): Promise<T> {
    const r = resolveResource(res);
    const path =
      resourcePath(r, { namespace: opts.namespace, name, subresource: opts.subresource }) + writeQuery(opts);
    return (await this.call('PATCH', path, {
      body: patch,
      contentType: patchContentType[type],
      signal: opts.signal,
    })) as T;
  }

  async delete(res: ResourceTarget, name: string, opts: DeleteOptions = {}): Promise<KubeObject | undefined> {
    const r = resolveResource(res);
    const body = {
      apiVersion: 'v1',
      kind: 'DeleteOptions',
      gracePeriodSeconds: opts.gracePeriodSeconds,
      preconditions: opts.preconditions,
      propagationPolicy: opts.propagationPolicy,
    };
    const out = await this.call('DELETE', resourcePath(r, { namespace: opts.namespace, name }), {
      body,
      signal: opts.signal,
    });
    // Some deletes answer with a Status (success) rather than the object.
    return isPlainObject(out) && out.kind !== 'Status' && isPlainObject(out.metadata) ? (out as KubeObject) : undefined;
  }

  async bind(opts: BindOptions): Promise<void> {
    const binding = {
      apiVersion: 'v1',
      kind: 'Binding',
      metadata: { name: opts.name, namespace: opts.namespace, ...(opts.uid ? { uid: opts.uid } : {}) },
      target: { apiVersion: 'v1', kind: 'Node', name: opts.nodeName },
    };
    if (this.bindBatchSize > 1) {
      opts.signal?.throwIfAborted();
      return new Promise<void>((resolve, reject) => this.queueBind({ opts, body: binding, resolve, reject }));
    }
    await this.bindOne(opts, binding);
  }

  private async bindOne(opts: BindOptions, binding: Record<string, unknown>): Promise<void> {
    const path = resourcePath(resolveResource({ apiVersion: 'v1', kind: 'Pod' }), {
      namespace: opts.namespace,
      name: opts.name,
      subresource: 'binding',
    });
    await this.call('POST', path, { body: binding, signal: opts.signal });
  }

  /** a full batch leaves at once (the server starts on it while the caller makes the next); the rest at the end of the turn */
  private queueBind(q: QueuedBind): void {
    const ns = q.opts.namespace;
    let queue = this.queuedBinds.get(ns);
    if (!queue) {
      queue = [];
      this.queuedBinds.set(ns, queue);
    }
    queue.push(q);
    if (queue.length >= this.bindBatchSize) {
      this.queuedBinds.delete(ns);
      void this.sendBinds(ns, queue);
    } else if (!this.bindFlushScheduled) {
      this.bindFlushScheduled = true;
      setImmediate(() => {
        this.bindFlushScheduled = false;
        this.flushBinds();
      });
    }
  }

  /**
   * The binds held for this turn's batch leave now (the scheduler, when it has no other pod to
   * place: a lone bind does not wait for the end of the turn, behind whatever I/O the turn holds)
   */
  flushBinds(): void {
    if (this.queuedBinds.size === 0) return;
    const all = [...this.queuedBinds];
    this.queuedBinds.clear();
    for (const [n, batch] of all) void this.sendBinds(n, batch);
  }

  /** one List of Bindings; each bind settles with its own Status */
  private async sendBinds(namespace: string, queued: QueuedBind[]): Promise<void> {
    const batch = queued.filter((q) => {
      if (!q.opts.signal?.aborted) return true;
      q.reject(transportError(q.opts.signal.reason, 'POST', 'bindings', q.opts.signal));
      return false;
    });
    if (batch.length === 0) return;
    if (this.bindBatchSize <= 1 || batch.length === 1) {
      await Promise.all(batch.map((q) => this.bindOne(q.opts, q.body).then(q.resolve, q.reject)));
      return;
    }
    const signals = [...new Set(batch.map((q) => q.opts.signal).filter((s) => s !== undefined))];
    const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/bindings`;
    let out: unknown;
    const signal = signals.length > 1 ? linkedSignal(signals) : undefined;
    try {
      out = await this.call('POST', path, {
        body: { apiVersion: 'v1', kind: 'List', items: batch.map((q) => q.body) },
        signal: signal ?? signals[0],
      });
    } catch (err) {
      if (isHedgeError(err, 'NotFound') || isHedgeError(err, 'MethodNotAllowed')) {
        // not a hedge server (or an older one): single pods/binding requests from now on
        this.bindBatchSize = 0;
        await this.sendBinds(namespace, batch);
        return;
      }
      for (const q of batch) q.reject(err);
      return;
    } finally {
      signal?.clear();
    }
    const items = isPlainObject(out) && Array.isArray(out.items) ? out.items : [];
    batch.forEach((q, i) => {
      const st: unknown = items[i];
      if (!isPlainObject(st)) q.reject(new HedgeError('Internal', `bindings: the server sent ${items.length} results for ${batch.length} Bindings`));
      else if (st.status === 'Success') q.resolve();
      else q.reject(errorFromStatus(typeof st.code === 'number' ? st.code : 500, st));
    });
  }
}

function writeQuery(opts: WriteOptions): string {
  return queryString({ fieldManager: opts.fieldManager, dryRun: opts.dryRun ? 'All' : undefined });
}

function withTypeMeta<T extends KubeObject>(obj: T, r: ReturnType<typeof resolveResource>): T {
  return { ...obj, apiVersion: obj.apiVersion ?? apiVersionOfRef(r), kind: obj.kind ?? r.kind };
}

function parseWatchLine<T extends KubeObject>(line: string): WatchEvent<T> {
  let ev: unknown;
  try {
    ev = JSON.parse(line);
  } catch (err) {
    throw new HedgeError('Internal', 'watch: the server sent a line that is not JSON', { cause: err });
  }
  if (!isPlainObject(ev) || typeof ev.type !== 'string' || !isPlainObject(ev.object)) {
    throw new HedgeError('Internal', 'watch: malformed event');
  }
  if (ev.type === 'ERROR') {
    const code = typeof ev.object.code === 'number' ? ev.object.code : 500;
    const err = errorFromStatus(code, ev.object);
    // An expired resourceVersion arrives as ERROR with a 410 Status; callers relist on Gone.
    throw code === 410 ? new HedgeError('Gone', err.message, { cause: err }) : err;
  }
  if (!watchTypes.has(ev.type)) throw new HedgeError('Internal', `watch: unknown event type ${ev.type}`);
  return { type: ev.type as WatchEvent['type'], object: ev.object as T };
}

function transportError(err: unknown, method: string, path: string, signal?: AbortSignal): HedgeError {
  if (isHedgeError(err)) return err;
  if (signal?.aborted) return new HedgeError('Timeout', `${method} ${path}: aborted`, { cause: err });
  const name = err instanceof Error ? err.name : '';
  if (name === 'TimeoutError' || name === 'AbortError') {
    return new HedgeError('Timeout', `${method} ${path}: timed out`, { cause: err });
  }
  const msg = err instanceof Error ? err.message : String(err);
  return new HedgeError('Unavailable', `${method} ${path}: ${msg}`, { cause: err });
}
