import { request as httpRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Duplex, Readable } from 'node:stream';
import type { KubeObject } from '../../api/object.ts';
import { HedgeError } from '../../lib/errors.ts';
import { kubeletEndpoint } from './kubelet-endpoint.ts';

export interface NodeRequest {
  nodeName: string;
  /** the Node object as stored (addresses, daemonEndpoints) */
  node: KubeObject;
  method: 'GET' | 'POST';
  /** path and query on the node's kubelet-style server, e.g. /containerLogs/ns/pod/c?follow=true */
  path: string;
  /** forwarded as-is; for an upgrade they carry Connection/Upgrade/Sec-WebSocket-* */
  headers: OutgoingHttpHeaders;
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
 * How the apiserver reaches a node's kubelet-style server. The default dials the node's address;
 * edge nodes behind NAT will instead be reached through a tunnel they open to the cloud, which
 * replaces this one object.
 */
export interface NodeDialer {
  request(req: NodeRequest): Promise<NodeResponse>;
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

/** Dials `https://<InternalIP|Hostname>:<kubeletEndpoint.Port>` of the node directly. */
export function directNodeDialer(opts: DirectNodeDialerOptions = {}): NodeDialer {
  const scheme = opts.scheme ?? 'https';
  return {
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
      return new Promise<NodeResponse>((resolve, reject) => {
        req.once('response', (res) => resolve({ kind: 'response', statusCode: res.statusCode ?? 502, headers: res.headers, body: res }));
        req.once('upgrade', (res, socket, head) =>
          resolve({ kind: 'upgrade', statusCode: res.statusCode ?? 101, statusMessage: res.statusMessage ?? 'Switching Protocols', rawHeaders: res.rawHeaders, socket, head }),
        );
        req.once('error', (err) => {
          reject(
            r.signal.aborted
              ? new HedgeError('Timeout', 'the client went away', { cause: err })
              : new HedgeError('Unavailable', `error dialing node "${r.nodeName}" at ${host}:${port}: ${err.message}`, { cause: err }),
          );
        });
        req.end();
      });
    },
  };
}
