import { Agent as PlainAgent, request as plainRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { Agent as TlsAgent, request as tlsRequest } from 'node:https';
import { createSecureContext } from 'node:tls';
import { HedgeError } from '../errors.ts';

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

  constructor(opts: HttpAgentOptions = {}) {
    // A bounded pool keeps every connection it opened until it idles out (keepAliveMs): with node's
    // default maxFreeSockets (256), a burst of responses freeing more than 256 at once closed the
    // rest, and the next burst opened them again with new TLS handshakes (the hollow fleet's 2,000
    // connection pool at 10,000 nodes: bursts of accepts and closes, accepting alone ~7 % of the
    // apiserver's busy time; the pool's cap took renewal p99 from 5.4 s to 0.5–0.8 s, README.md).
    const maxSockets = opts.maxSockets ?? Infinity;
    const maxFreeSockets = Number.isFinite(maxSockets) ? maxSockets : 256;
    const common = { keepAlive: true, timeout: opts.keepAliveMs ?? 30_000, maxSockets, maxFreeSockets, scheduling: opts.scheduling ?? 'lifo' };
    this.#plain = new PlainAgent(common);
    // one TLS context for every connection of the pool: given ca/cert/key instead, tls.connect
    // parses them into a new context per connection (PEM parsing, the CA store: half of a lease
    // renewal's CPU on an idle node). Without any, the default context as before (no root store loaded early).
    const own = opts.ca !== undefined || opts.cert !== undefined || opts.key !== undefined;
    const tls = own ? { secureContext: createSecureContext({ ca: opts.ca, cert: opts.cert, key: opts.key }) } : {};
    this.#tls = new TlsAgent({ ...common, ...tls, rejectUnauthorized: opts.rejectUnauthorized ?? true });
    this.connectTimeoutMs = opts.connectTimeoutMs;
  }

  for(url: URL): PlainAgent | TlsAgent {
    return url.protocol === 'https:' ? this.#tls : this.#plain;
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
  signal?: AbortSignal;
  /** default: a shared pool with default TLS settings */
  agent?: HttpAgent;
  /** no response headers within this fails the request */
  headersTimeoutMs?: number;
  /** the body idle (no bytes) for this long fails it; 0 or absent: no limit */
  bodyTimeoutMs?: number;
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

/** sends one request and resolves with the response once its headers arrived */
export function httpRequest(url: string | URL, opts: RequestOptions = {}): Promise<HttpResponse> {
  const target = typeof url === 'string' ? new URL(url) : url;
  if (target.protocol !== 'http:' && target.protocol !== 'https:') {
    return Promise.reject(new HedgeError('Invalid', `${target.protocol} URLs are not supported: ${target.origin}`));
  }
  const agent = opts.agent ?? (sharedAgent ??= new HttpAgent());
  const send = target.protocol === 'https:' ? tlsRequest : plainRequest;
  const headers: Record<string, string | number> = { ...opts.headers };
  if (opts.body !== undefined) headers['content-length'] = Buffer.byteLength(opts.body);
  return new Promise<HttpResponse>((resolve, reject) => {
    if (opts.signal?.aborted) {
      reject(abortError(opts.signal));
      return;
    }
    const req = send(target, { method: opts.method ?? 'GET', headers, agent: agent.for(target), signal: opts.signal });
    const timers: NodeJS.Timeout[] = [];
    const clear = (): void => timers.forEach((t) => clearTimeout(t));
    const fail = (err: Error): void => {
      clear();
      req.destroy(err);
    };
    if (opts.headersTimeoutMs) timers.push(setTimeout(() => fail(new HedgeError('Timeout', `${opts.method ?? 'GET'} ${target.origin}${target.pathname}: no response headers in ${opts.headersTimeoutMs} ms`)), opts.headersTimeoutMs));
    const connectMs = agent.connectTimeoutMs;
    if (connectMs) {
      req.once('socket', (socket) => {
        if (!socket.connecting) return;
        const t = setTimeout(() => fail(new HedgeError('Unavailable', `connect to ${target.host} timed out after ${connectMs} ms`)), connectMs);
        timers.push(t);
        socket.once('connect', () => clearTimeout(t));
      });
    }
    // also after the response: an abort or reset mid-body surfaces on the body stream as well
    req.on('error', (err) => {
      clear();
      reject(err);
    });
    req.once('response', (res) => {
      clear();
      if (opts.bodyTimeoutMs) {
        res.setTimeout(opts.bodyTimeoutMs, () => res.destroy(new HedgeError('Timeout', `${target.origin}${target.pathname}: the response body stalled for ${opts.bodyTimeoutMs} ms`)));
      }
      resolve({ statusCode: res.statusCode ?? 0, headers: res.headers, body: withReaders(res) });
    });
    req.end(opts.body);
  });
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new DOMException('This operation was aborted', 'AbortError');
}

function withReaders(res: IncomingMessage): ResponseBody {
  const bytes = async (): Promise<Buffer> => {
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  };
  return Object.assign(res, {
    bytes,
    text: async () => (await bytes()).toString('utf8'),
    json: async (): Promise<unknown> => JSON.parse((await bytes()).toString('utf8')),
    dump: async () => {
      for await (const _ of res) {
        // discard
      }
    },
  });
}
