import { Agent as PlainAgent, request as plainRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { Agent as TlsAgent, request as tlsRequest } from 'node:https';
import { createSecureContext } from 'node:tls';
import { HedgeError } from '../errors.ts';
import { timeoutError, whenAborted } from '../signals.ts';

/**
 * HTTP(S) client requests over node:http/node:https with keep-alive agents: what the node-side
 * clients (KubeClient, edgehub, cloud health probe, registry client) need from an HTTP library.
 * undici would do the same but costs a long-running `hedge node` ~9 MiB resident (its module graph
 * and the WebAssembly llhttp parser, bench/agent-rss.ts), and node:http is already loaded.
 */

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS';

export interface HttpAgentOptions {
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  /** default true */
  rejectUnauthorized?: boolean;
  /** a connection not established within this fails the request (default: the OS's) */
  connectTimeoutMs?: number;
  /** idle keep-alive sockets are closed after this, or earlier when the server's Keep-Alive hint says so (default 30 s) */
  keepAliveMs?: number;
  /** per origin (default unlimited) */
  maxSockets?: number;
  /** idle connections kept per origin; more are closed as they go idle (default: maxSockets if bounded, else 256) */
  maxFreeSockets?: number;
  /** a unix socket to reach the server on, plain HTTP (the URL's host is then only the Host header) */
  socketPath?: string;
  /**
   * which free connection a request takes: `lifo` (default) reuses the latest, so a pool larger than
   * its traffic shrinks as the rest idle out; `fifo` rotates over all of them, so none idles out
   * while requests keep coming (the hollow fleet's shared pool standing in for one connection per node)
   */
  scheduling?: 'lifo' | 'fifo';
}

/** One keep-alive connection pool for http: and https: URLs, with the TLS settings for the latter. */
export class HttpAgent {
  readonly #plain: PlainAgent;
  readonly #tls: TlsAgent;
  readonly connectTimeoutMs: number | undefined;
  readonly socketPath: string | undefined;

  constructor(opts: HttpAgentOptions = {}) {
    // A bounded pool keeps every connection it opened until it idles out (keepAliveMs): with node's
    // default maxFreeSockets (256), a burst of responses freeing more than 256 at once closed the
    // rest, and the next burst opened them again with new TLS handshakes (the hollow fleet's 2,000
    // connection pool at 10,000 nodes: bursts of accepts and closes, accepting alone ~7 % of the
    // apiserver's busy time; the pool's cap took renewal p99 from 5.4 s to 0.5–0.8 s, README.md).
    const maxSockets = opts.maxSockets ?? Infinity;
    const maxFreeSockets = opts.maxFreeSockets ?? (Number.isFinite(maxSockets) ? maxSockets : 256);
    const common = { keepAlive: true, timeout: opts.keepAliveMs ?? 30_000, maxSockets, maxFreeSockets, scheduling: opts.scheduling ?? 'lifo' };
    this.#plain = new PlainAgent(common);
    // one TLS context for every connection of the pool: given ca/cert/key instead, tls.connect
    // parses them into a new context per connection (PEM parsing, the CA store: half of a lease
    // renewal's CPU on an idle node). Without any, the default context as before (no root store loaded early).
    const own = opts.ca !== undefined || opts.cert !== undefined || opts.key !== undefined;
    const tls = own ? { secureContext: createSecureContext({ ca: opts.ca, cert: opts.cert, key: opts.key }) } : {};
    this.#tls = new TlsAgent({ ...common, ...tls, rejectUnauthorized: opts.rejectUnauthorized ?? true });
    this.connectTimeoutMs = opts.connectTimeoutMs;
    this.socketPath = opts.socketPath;
  }

  for(url: URL): PlainAgent | TlsAgent {
    return url.protocol === 'https:' && this.socketPath === undefined ? this.#tls : this.#plain;
  }

  /** closes idle and in-use connections */
  async close(): Promise<void> {
    this.#plain.destroy();
    this.#tls.destroy();
  }
}

export interface RequestOptions {
  method?: HttpMethod;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** aborts the request, and the response body while it is read */
  signal?: AbortSignal;
  /** default: a shared pool with default TLS settings */
  agent?: HttpAgent;
  /** no response headers within this fails the request */
  headersTimeoutMs?: number;
  /** the body idle (no bytes) for this long fails it; 0 or absent: no limit */
  bodyTimeoutMs?: number;
  /**
   * the whole exchange, request to the end of the response body, within this or it fails with a
   * TimeoutError (as AbortSignal.timeout would): a deadline without a combined signal per request
   */
  timeoutMs?: number;
}

export interface HttpResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: ResponseBody;
}

/** the response stream, with readers for the whole body */
export type ResponseBody = IncomingMessage & {
  text(): Promise<string>;
  json(): Promise<unknown>;
  bytes(): Promise<Buffer>;
  /** reads and discards the rest, so the connection can be reused */
  dump(): Promise<void>;
};

let sharedAgent: HttpAgent | undefined;

/**
 * sends one request and resolves with the response once its headers arrived. Per request it costs
 * a ClientRequest and at most two timers: the signal is followed through `whenAborted` (no
 * AbortController, no stream `finished()` watcher as node:http sets up for its `signal` option),
 * and the body is read with plain listeners, not an async iterator. (Lease renewals of 10,000
 * hollow nodes in one process: bench/fleet.ts.)
 */
export function httpRequest(url: string | URL, opts: RequestOptions = {}): Promise<HttpResponse> {
  const target = typeof url === 'string' ? new URL(url) : url;
  if (target.protocol !== 'http:' && target.protocol !== 'https:') {
    return Promise.reject(new HedgeError('Invalid', `${target.protocol} URLs are not supported: ${target.origin}`));
  }
  const agent = opts.agent ?? (sharedAgent ??= new HttpAgent());
  const socketPath = agent.socketPath;
  // over a unix socket: plain HTTP whatever the scheme (the socket's file mode is the access control)
  const send = target.protocol === 'https:' && socketPath === undefined ? tlsRequest : plainRequest;
  let headers: Record<string, string | number> | undefined = opts.headers;
  if (opts.body !== undefined) headers = { ...headers, 'content-length': Buffer.byteLength(opts.body) };
  const signal = opts.signal;
  return new Promise<HttpResponse>((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError(signal));
      return;
    }
    const method = opts.method ?? 'GET';
    const req = socketPath === undefined ? send(target, { method, headers, agent: agent.for(target) }) : send(target, { method, headers, agent: agent.for(target), socketPath, protocol: 'http:' });
    let headersTimer: NodeJS.Timeout | undefined;
    let deadline: NodeJS.Timeout | undefined;
    let connectTimer: NodeJS.Timeout | undefined;
    let unfollow: (() => void) | undefined;
    let ended = false;
    // every timer and the abort link go once the exchange is over: response read, or failed
    const done = (): void => {
      if (ended) return;
      ended = true;
      clearTimeout(headersTimer);
      clearTimeout(deadline);
      clearTimeout(connectTimer);
      unfollow?.();
    };
    let response: IncomingMessage | undefined;
    // after the headers, on the body: its reader rejects with this error (req.destroy would drop it for ECONNRESET)
    const fail = (err: Error): void => {
      done();
      if (response) response.destroy(err);
      else req.destroy(err);
    };
    if (signal) unfollow = whenAborted(signal, () => fail(abortError(signal)));
    if (opts.timeoutMs) deadline = setTimeout(() => fail(timeoutError()), opts.timeoutMs);
    if (opts.headersTimeoutMs) headersTimer = setTimeout(() => fail(new HedgeError('Timeout', `${method} ${target.origin}${target.pathname}: no response headers in ${opts.headersTimeoutMs} ms`)), opts.headersTimeoutMs);
    const connectMs = agent.connectTimeoutMs;
    if (connectMs) {
      req.once('socket', (socket) => {
        if (!socket.connecting) return;
        connectTimer = setTimeout(() => fail(new HedgeError('Unavailable', `connect to ${target.host} timed out after ${connectMs} ms`)), connectMs);
        socket.once('connect', () => clearTimeout(connectTimer));
      });
    }
    // also after the response: an abort or reset mid-body surfaces on the body stream as well
    req.on('error', (err) => {
      done();
      reject(err);
    });
    // the response read to its end, or the connection gone
    req.once('close', done);
    req.once('response', (res) => {
      response = res;
      clearTimeout(headersTimer);
      clearTimeout(connectTimer);
      if (opts.bodyTimeoutMs) {
        res.setTimeout(opts.bodyTimeoutMs, () => res.destroy(new HedgeError('Timeout', `${target.origin}${target.pathname}: the response body stalled for ${opts.bodyTimeoutMs} ms`)));
      }
      resolve({ statusCode: res.statusCode ?? 0, headers: res.headers, body: Object.assign(res, readers) });
    });
    req.end(opts.body);
  });
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new DOMException('This operation was aborted', 'AbortError');
}

const prematureClose = (): Error => Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });

/**
 * A message's body to its end (a response here, a request body in the apiserver): plain listeners
 * (a stream's async iterator costs promises per chunk and a `finished()` watcher). `keep` false
 * drains it; past `limit.maxBytes` it stops reading and fails with `limit.error()`.
 */
export function readAll(res: IncomingMessage, keep: boolean, limit?: { maxBytes: number; error: () => Error }): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    if (res.errored) {
      reject(res.errored);
      return;
    }
    if (res.readableEnded) {
      resolve(Buffer.alloc(0));
      return;
    }
    if (res.destroyed) {
      reject(prematureClose());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = !keep
      ? () => undefined
      : !limit
        ? (c: Buffer) => void chunks.push(c)
        : (c: Buffer): void => {
            size += c.length;
            if (size <= limit.maxBytes) {
              chunks.push(c);
              return;
            }
            cleanup();
            res.resume();
            reject(limit.error());
          };
    const onEnd = (): void => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    // closed without 'end' or 'error' (destroyed without a reason): as stream.finished says it
    const onClose = (): void => {
      if (res.readableEnded) return;
      onError(prematureClose());
    };
    const cleanup = (): void => {
      res.off('data', onData);
      res.off('end', onEnd);
      res.off('error', onError);
      res.off('close', onClose);
    };
    res.on('data', onData);
    res.on('end', onEnd);
    res.on('error', onError);
    res.on('close', onClose);
  });
}

/** shared by every response (methods, not closures per response) */
const readers = {
  bytes(this: IncomingMessage): Promise<Buffer> {
    return readAll(this, true);
  },
  async text(this: IncomingMessage): Promise<string> {
    return (await readAll(this, true)).toString('utf8');
  },
  async json(this: IncomingMessage): Promise<unknown> {
    return JSON.parse((await readAll(this, true)).toString('utf8'));
  },
  async dump(this: IncomingMessage): Promise<void> {
    await readAll(this, false);
  },
};
