/**
 * The data plane: an HTTP and an HTTPS listener that route each request by the current route
 * snapshot and proxy it (streaming both ways, keep-alive to the upstreams), and pass Upgrade
 * requests (WebSocket) through as raw byte streams once the upstream is connected.
 */
import { createServer as createHttpServer, request as httpRequest, Agent, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect as netConnect, type AddressInfo, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../../lib/log.ts';
import type { CertificateStore } from './certificates.ts';
import type { Upstream } from './endpoints.ts';

/** what a request's host and path route to */
export type Decision =
  | { kind: 'none' }
  | { kind: 'unavailable'; detail: string }
  | { kind: 'upstreams'; key: string; upstreams: Upstream[] };

/** the routing the server asks per request (swapped whole by the controller on every sync) */
export interface Router {
  decide(host: string | undefined, path: string): Decision;
}

export interface ListenAt {
  host: string;
  /** 0 = any free port (tests); a listener not wanted is left out */
  port: number;
}

export interface IngressServerOptions {
  certificates: CertificateStore;
  logger: Logger;
  /** connecting to one upstream may take this long before the next is tried (default 3 s) */
  connectTimeoutMs?: number;
  /** idle keep-alive sockets kept per upstream (default 64) */
  maxFreeSockets?: number;
}

/** per hop, never forwarded (RFC 9110 7.6.1) */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade']);
/** set by the proxy itself: what a client sends is not trusted (ingress-nginx's default, use-forwarded-headers: false) */
const OWN = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'x-real-ip', 'forwarded', 'expect']);

const NO_ROUTE = '404 Not Found: no Ingress rule matches this host and path\n';

export class IngressServer {
  readonly #o: IngressServerOptions;
  readonly #log: Logger;
  readonly #agent: Agent;
  #router: Router = { decide: () => ({ kind: 'none' }) };
  readonly #servers: Server[] = [];
  readonly #upgraded = new Set<Duplex>();

  constructor(o: IngressServerOptions) {
    this.#o = o;
    this.#log = o.logger;
    this.#agent = new Agent({ keepAlive: true, maxFreeSockets: o.maxFreeSockets ?? 64, scheduling: 'lifo' });
  }

  setRouter(r: Router): void {
    this.#router = r;
  }

  /** starts the listeners asked for; the bound addresses (port 0 resolved) */
  async listen(at: { http?: ListenAt; https?: ListenAt }): Promise<{ http?: AddressInfo; https?: AddressInfo }> {
    const out: { http?: AddressInfo; https?: AddressInfo } = {};
    if (at.http) {
      const s = createHttpServer({ requestTimeout: 0 }, (req, res) => this.#handle(req, res, 'http'));
      out.http = await this.#bind(s, at.http, 'http');
    }
    if (at.https) {
      const c = this.#o.certificates;
      const s = createHttpsServer({ requestTimeout: 0, SNICallback: c.sniCallback, cert: c.defaultPair.cert, key: c.defaultPair.key, ALPNProtocols: ['http/1.1'] }, (req, res) => this.#handle(req, res, 'https'));
      out.https = await this.#bind(s, at.https, 'https');
    }
    return out;
  }

  async #bind(s: Server, at: ListenAt, proto: 'http' | 'https'): Promise<AddressInfo> {
    s.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.#upgrade(req, socket, head, proto));
    s.on('clientError', (_err, socket: Duplex) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(at.port, at.host, () => {
        s.off('error', reject);
        resolve();
      });
    });
    this.#servers.push(s);
    return s.address() as AddressInfo;
  }

  async close(): Promise<void> {
    const servers = this.#servers.splice(0);
    // upgraded connections are no longer the HTTP server's to close, but still hold its close back
    for (const d of this.#upgraded) d.destroy();
    this.#upgraded.clear();
    await Promise.all(
      servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.close(() => resolve());
            s.closeAllConnections();
          }),
      ),
    );
    this.#agent.destroy();
  }

  #decide(req: IncomingMessage): Decision {
    return this.#router.decide(req.headers.host, (upstreamPath(req).split('?', 1)[0] ?? '/') || '/');
  }

  #handle(req: IncomingMessage, res: ServerResponse, proto: 'http' | 'https'): void {
    const d = this.#decide(req);
    if (d.kind === 'none') return plain(res, 404, NO_ROUTE);
    if (d.kind === 'unavailable') return plain(res, 503, `503 Service Unavailable: ${d.detail}\n`);
    const headers = forwardHeaders(req, proto);
    let done = false;
    let current: ReturnType<typeof httpRequest> | undefined;
    // the client went away before the answer was complete: so does the upstream request
    res.on('close', () => {
      done = true;
      if (!res.writableFinished) current?.destroy();
    });
    const attempt = (i: number): void => {
      const up = d.upstreams[i]!;
      const preq = httpRequest({ host: up.host, port: up.port, method: req.method, path: upstreamPath(req), headers, agent: this.#agent });
      let connected = false;
      let timer: NodeJS.Timeout | undefined;
      preq.on('socket', (s: Socket) => {
        const go = (): void => {
          clearTimeout(timer);
          connected = true;
          req.pipe(preq);
        };
        if (!s.connecting) return go();
        timer = setTimeout(() => preq.destroy(Object.assign(new Error(`connect to ${up.host}:${up.port} timed out`), { code: 'ETIMEDOUT' })), this.#o.connectTimeoutMs ?? 3000);
        s.once('connect', go);
      });
      preq.on('response', (pres) => {
        res.writeHead(pres.statusCode ?? 502, pres.statusMessage, responseHeaders(pres.rawHeaders));
        pres.pipe(res);
        pres.on('error', () => res.destroy());
      });
      preq.on('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        if (done) return;
        if (!connected && i + 1 < d.upstreams.length) {
          this.#log.debug({ err: err.message, upstream: up, backend: d.key }, 'upstream connect failed: trying the next endpoint');
          return attempt(i + 1);
        }
        this.#log.warn({ err: err.message, upstream: up, backend: d.key }, 'upstream failed');
        if (!res.headersSent) plain(res, 502, `502 Bad Gateway: ${d.key}: ${err.code ?? err.message}\n`);
        else res.destroy();
      });
      current = preq;
    };
    attempt(0);
  }

  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, proto: 'http' | 'https'): void {
    const d = this.#decide(req);
    if (d.kind !== 'upstreams') {
      const [status, text] = d.kind === 'none' ? ['404 Not Found', NO_ROUTE] : ['503 Service Unavailable', `503 Service Unavailable: ${d.detail}\n`];
      socket.end(`HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`);
      return;
    }
    socket.on('error', () => socket.destroy());
    const headers = forwardHeaders(req, proto);
    headers.connection = 'Upgrade';
    if (req.headers.upgrade) headers.upgrade = req.headers.upgrade;
    const lines = [`${req.method ?? 'GET'} ${upstreamPath(req)} HTTP/1.1`];
    for (const [k, v] of Object.entries(headers)) for (const one of Array.isArray(v) ? v : [v]) if (one !== undefined) lines.push(`${k}: ${String(one)}`);
    const requestHead = `${lines.join('\r\n')}\r\n\r\n`;
    const attempt = (i: number): void => {
      const up = d.upstreams[i]!;
      const conn = netConnect({ host: up.host, port: up.port });
      const timer = setTimeout(() => conn.destroy(Object.assign(new Error('connect timed out'), { code: 'ETIMEDOUT' })), this.#o.connectTimeoutMs ?? 3000);
      let connected = false;
      conn.once('connect', () => {
        clearTimeout(timer);
        connected = true;
        this.#upgraded.add(socket);
        this.#upgraded.add(conn);
        conn.write(requestHead);
        if (head.length > 0) conn.write(head);
        conn.pipe(socket);
        socket.pipe(conn);
        const end = (): void => {
          this.#upgraded.delete(socket);
          this.#upgraded.delete(conn);
          socket.destroy();
          conn.destroy();
        };
        conn.once('close', end);
        socket.once('close', end);
      });
      conn.on('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        if (connected) return;
        if (i + 1 < d.upstreams.length) return attempt(i + 1);
        this.#log.warn({ err: err.message, upstream: up, backend: d.key }, 'upgrade upstream failed');
        socket.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      });
    };
    attempt(0);
  }
}

/** the request target in origin-form: an absolute-form one (a client taking the listener for a proxy) becomes its path and query */
function upstreamPath(req: IncomingMessage): string {
  const url = req.url ?? '/';
  if (url.startsWith('/')) return url;
  try {
    const u = new URL(url);
    return `${u.pathname}${u.search}`;
  } catch {
    return '/';
  }
}

function plain(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** the request's headers minus hop-by-hop ones (and those its Connection names), plus the X-Forwarded-* set */
export function forwardHeaders(req: IncomingMessage, proto: 'http' | 'https'): OutgoingHttpHeaders {
  const drop = connectionTokens(req.headers);
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined || HOP_BY_HOP.has(k) || OWN.has(k) || drop.has(k)) continue;
    out[k] = v;
  }
  const client = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
  out['x-forwarded-for'] = client;
  out['x-real-ip'] = client;
  out['x-forwarded-proto'] = proto;
  if (req.headers.host !== undefined) out['x-forwarded-host'] = req.headers.host;
  out['x-forwarded-port'] = String(req.socket.localPort ?? '');
  return out;
}

function connectionTokens(h: IncomingHttpHeaders): Set<string> {
  return new Set((h.connection ?? '').split(',').map((t) => t.trim().toLowerCase()).filter((t) => t !== '' && t !== 'upgrade'));
}

/** the upstream's raw headers (case and repeats kept) minus hop-by-hop ones */
function responseHeaders(raw: string[]): string[] {
  const drop = new Set<string>();
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === 'connection') for (const t of raw[i + 1]!.split(',')) drop.add(t.trim().toLowerCase());
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!.toLowerCase();
    if (HOP_BY_HOP.has(k) || drop.has(k)) continue;
    out.push(raw[i]!, raw[i + 1]!);
  }
  return out;
}
