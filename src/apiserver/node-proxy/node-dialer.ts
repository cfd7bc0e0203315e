import { request as httpRequest, type ClientRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Duplex, Readable } from 'node:stream';
import { connect as tlsConnect, createSecureContext } from 'node:tls';
import type { KubeObject } from '../../api/object.ts';
import { HedgeError } from '../../lib/errors.ts';
import { hasKubeletAddress, kubeletEndpoint } from './kubelet-endpoint.ts';
import type { NodeTunnels } from './node-tunnels.ts';

export interface NodeRequest {
  nodeName: string;
  /** the Node object as stored (addresses, daemonEndpoints) */
  node: KubeObject;
  method: string;
  /** path and query on the node's kubelet-style server, e.g. /containerLogs/ns/pod/c?follow=true */
  path: string;
  /** forwarded as-is; for an upgrade they carry Connection/Upgrade/Sec-WebSocket-* */
  headers: OutgoingHttpHeaders;
  /** request body (nodes/proxy writes); none when undefined */
  body?: Readable;
  signal: AbortSignal;
}

export type NodeResponse =
  | { kind: 'response'; statusCode: number; headers: IncomingHttpHeaders; body: Readable }
  | {
      kind: 'upgrade';
      statusCode: number;
      statusMessage: string;
      /** name/value pairs in wire order, relayed verbatim to the client */
      rawHeaders: string[];
      socket: Duplex;
      head: Buffer;
    };

/**
 * How the apiserver reaches a node's kubelet-style server: directly at the node's address, or
 * through the tunnel the node opened to us (tunnelNodeDialer), which needs no inbound port.
 */
export interface NodeDialer {
  request(req: NodeRequest): Promise<NodeResponse>;
  /**
   * false when a request could not even be sent: no tunnel and no address (a background loop
   * such as the metrics scrape skips the node instead of failing it each round). Absent: assume it can.
   */
  canReach?(nodeName: string, node: KubeObject): boolean;
}

export interface DirectNodeDialerOptions {
  /** 'http' only when the nodes serve plain HTTP (tests, trusted networks); default https */
  scheme?: 'https' | 'http';
  /** CA that signs the nodes' serving certs; without it the serving cert is not verified, as kube-apiserver without --kubelet-certificate-authority */
  ca?: string;
  /** client certificate the apiserver presents to the nodes (PEM) */
  cert?: string;
  key?: string;
  /** used when the Node reports no kubelet port */
  defaultPort?: number;
}

/** Send `r` on a started ClientRequest and settle with the node's answer (response or upgrade). */
function exchange(r: Omit<NodeRequest, 'node'>, req: ClientRequest, where: string): Promise<NodeResponse> {
  return new Promise<NodeResponse>((resolve, reject) => {
    req.once('response', (res) => resolve({ kind: 'response', statusCode: res.statusCode ?? 502, headers: res.headers, body: res }));
    req.once('upgrade', (res, socket, head) =>
      resolve({ kind: 'upgrade', statusCode: res.statusCode ?? 101, statusMessage: res.statusMessage ?? 'Switching Protocols', rawHeaders: res.rawHeaders, socket, head }),
    );
    req.once('error', (err) => {
      reject(
        r.signal.aborted
          ? new HedgeError('Timeout', 'the client went away', { cause: err })
          : new HedgeError('Unavailable', `error dialing node "${r.nodeName}" ${where}: ${err.message}`, { cause: err }),
      );
    });
    if (r.body) {
      r.body.on('error', (err) => req.destroy(err));
      r.body.pipe(req);
    } else req.end();
  });
}

/** Dials `https://<InternalIP|Hostname>:<kubeletEndpoint.Port>` of the node directly. */
export function directNodeDialer(opts: DirectNodeDialerOptions = {}): NodeDialer {
  const scheme = opts.scheme ?? 'https';
  return {
    canReach: (_nodeName, node) => hasKubeletAddress(node),
    request(r: NodeRequest): Promise<NodeResponse> {
      const { host, port } = kubeletEndpoint(r.node, opts.defaultPort ?? 10250);
      const common = {
        host,
        port,
        method: r.method,
        path: r.path,
        headers: { ...r.headers, host: host.includes(':') ? `[${host}]:${port}` : `${host}:${port}` },
        signal: r.signal,
        agent: false as const,
      };
      const req =
        scheme === 'https'
          ? httpsRequest({ ...common, ca: opts.ca, cert: opts.cert, key: opts.key, rejectUnauthorized: opts.ca !== undefined })
          : httpRequest(common);
      return exchange(r, req, `at ${host}:${port}`);
    },
  };
}

export interface TunnelNodeDialerOptions {
  tunnels: NodeTunnels;
  /** for nodes without a tunnel (default: directNodeDialer(client)) */
  fallback?: NodeDialer;
  /** the same TLS client settings as direct dialing: the node's server is spoken to end to end inside the tunnel */
  client?: DirectNodeDialerOptions;
}

/** TLS sessions kept for resumption, one per node (the most recently used are kept) */
const MAX_NODE_SESSIONS = 20_000;

/**
 * Every node-bound request goes through the node's tunnel when it has one: the tunnel carries a
 * byte stream to the node's own server, and the request (TLS with the apiserver's client
 * certificate, then HTTP or an upgrade) runs inside it exactly as over a direct connection.
 *
 * Each request is a new TLS connection (a stream owns one), so the client side is set up once
 * and each node's last TLS session is resumed: a metrics scrape reaches every node every 15 s,
 * and a full handshake with client-certificate checks cost the node's server ~4 ms of CPU
 * (interpreter-only node, ECDSA P-256) where a resumed one costs ~2 ms, and the apiserver parsed
 * its CA, certificate and key again for every request. A resumed session keeps the certificate
 * the node's server checked at the full handshake; a node that restarted (new ticket keys)
 * answers with a full handshake.
 */
export function tunnelNodeDialer(opts: TunnelNodeDialerOptions): NodeDialer {
  const client = opts.client ?? {};
  const fallback = opts.fallback ?? directNodeDialer(client);
  const scheme = client.scheme ?? 'https';
  const secureContext = scheme === 'https' ? createSecureContext({ ca: client.ca, cert: client.cert, key: client.key }) : undefined;
  const sessions = new Map<string, Buffer>();
  const keepSession = (nodeName: string, session: Buffer): void => {
    sessions.delete(nodeName); // re-inserted last: the Map's order is least recently used first
    sessions.set(nodeName, session);
    if (sessions.size > MAX_NODE_SESSIONS) sessions.delete(sessions.keys().next().value!);
  };
  return {
    canReach: (nodeName, node) => opts.tunnels.has(nodeName) || (fallback.canReach?.(nodeName, node) ?? true),
    request(r: NodeRequest): Promise<NodeResponse> {
      const stream = opts.tunnels.open(r.nodeName);
      if (!stream) return fallback.request(r);
      let socket: Duplex = stream;
      if (secureContext) {
        const tls = tlsConnect({ socket: stream, secureContext, rejectUnauthorized: client.ca !== undefined, session: sessions.get(r.nodeName) });
        tls.on('session', (s: Buffer) => keepSession(r.nodeName, s));
        socket = tls;
      }
      return requestOverStream(r, socket, 'through its tunnel');
    },
  };
}

/**
 * Send `r` over a connection already open to the node's server (a tunnel stream, a TLS socket
 * already checked): this request owns it, and it is destroyed when `r.signal` aborts.
 */
export function requestOverStream(r: Omit<NodeRequest, 'node'>, socket: Duplex, where: string): Promise<NodeResponse> {
  const abort = (): void => {
    socket.destroy();
  };
  r.signal.addEventListener('abort', abort, { once: true });
  socket.once('close', () => r.signal.removeEventListener('abort', abort));
  const reqOpts: RequestOptions = {
    method: r.method,
    path: r.path,
    headers: { ...r.headers, host: r.nodeName },
    // no agent: this request owns the stream, which ends with it
    createConnection: (() => socket) as unknown as RequestOptions['createConnection'],
  };
  return exchange(r, httpRequest(reqOpts), where);
}
