import { request as httpRequest, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { connect as netConnect } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { failureMessage } from '../../../api/meta/status.ts';
import type { KubeObject } from '../../../api/object.ts';
import type { WebhookClientConfig } from '../../../api/validation/admission-registration.ts';
import type { NodeDialer } from '../../node-proxy/node-dialer.ts';
import { resolveServiceEndpoint, type ServiceEndpoint, type ServiceLookups } from './service-endpoint.ts';
import { WebhookCallError } from './review.ts';

import { POD_CONNECT_UPGRADE, podConnectPath } from '../../../api/pod-connect.ts';

export { POD_CONNECT_UPGRADE, podConnectPath };

/** largest AdmissionReview answer read (upstream's webhook client limit is of this order) */
const MAX_RESPONSE_BYTES = 3 * 1024 * 1024;

export interface WebhookPost {
  clientConfig: WebhookClientConfig;
  body: string;
  timeoutSeconds: number;
  /** the request's signal bounded by the webhook's timeout */
  signal: AbortSignal;
}

/** How an AdmissionReview reaches a webhook server; failures are WebhookCallErrors (failurePolicy applies). */
export interface WebhookTransport {
  post(p: WebhookPost): Promise<unknown>;
  close(): void;
}

export interface WebhookTransportOptions extends ServiceLookups {
  /** the node's tunnel (else its address) for Service endpoints on a node */
  dialer?: NodeDialer;
  getNode?(name: string): Promise<KubeObject | undefined>;
}

const caOf = (cc: WebhookClientConfig): string | undefined => (cc.caBundle ? Buffer.from(cc.caBundle, 'base64').toString('utf8') : undefined);

/** upstream's wording of a failed call: `failed to call webhook: Post "<url>": <cause>` */
const callFailed = (url: string, err: unknown, signal: AbortSignal): WebhookCallError => {
  const cause = signal.aborted && (signal.reason as Error | undefined)?.name === 'TimeoutError' ? 'context deadline exceeded' : (err as Error).message;
  return new WebhookCallError(`failed to call webhook: Post "${url}": ${cause}`, { cause: err });
};

/** Sends `body` on a started request and reads the JSON answer (200 only). */
function exchange(req: ClientRequest, body: string, url: string, signal: AbortSignal): Promise<unknown> {
  return new Promise<unknown>((resolve, reject) => {
    const onAbort = (): void => {
      req.destroy(signal.reason as Error);
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    const done = (): void => signal.removeEventListener('abort', onAbort);
    req.once('error', (err) => {
      done();
      reject(err instanceof WebhookCallError ? err : callFailed(url, err, signal));
    });
    req.once('response', (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_RESPONSE_BYTES) req.destroy(new WebhookCallError(`failed to call webhook: the response from "${url}" is larger than ${MAX_RESPONSE_BYTES} bytes`));
        else chunks.push(c);
      });
      res.once('error', (err) => req.destroy(err));
      res.once('end', () => {
        done();
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) {
          reject(new WebhookCallError(`failed to call webhook: an error on the server (${JSON.stringify(text.trim().slice(0, 200))}) has prevented the request from succeeding (HTTP ${res.statusCode ?? 0})`));
          return;
        }
        try {
          resolve(JSON.parse(text));
        } catch (err) {
          reject(new WebhookCallError(`failed to call webhook: the response from "${url}" is not JSON: ${(err as Error).message}`));
        }
      });
    });
    req.end(body);
  });
}

const headers = (body: string, host: string): Record<string, string | number> => ({
  'Content-Type': 'application/json',
  Accept: 'application/json',
  'Content-Length': Buffer.byteLength(body),
  Host: host,
});

/**
 * `clientConfig.url`: HTTPS straight to it, verified against caBundle (system roots without
 * one), keep-alive per CA bundle. `clientConfig.service`: a ready endpoint of the Service, reached
 * through its node's tunnel as a raw TCP stream to `podIP:targetPort` (the node server's
 * `/podconnect` upgrade), then TLS for `<service>.<namespace>.svc` against caBundle and one
 * HTTP/1.1 POST, as kube-apiserver would over the pod network it is usually on.
 */
export function webhookTransport(opts: WebhookTransportOptions): WebhookTransport {
  const agents = new Map<string, HttpsAgent>();
  const agentFor = (ca: string | undefined): HttpsAgent => {
    const key = ca ?? '';
    let a = agents.get(key);
    if (!a) {
      a = new HttpsAgent({ keepAlive: true, maxSockets: 64, ca });
      agents.set(key, a);
    }
    return a;
  };

  /** a raw stream to the endpoint: through its node when it has one, else a plain dial */
  const openStream = async (ep: ServiceEndpoint, signal: AbortSignal): Promise<Duplex> => {
    if (!ep.nodeName || !opts.dialer || !opts.getNode) return netConnect({ host: ep.ip, port: ep.port });
    const node = await opts.getNode(ep.nodeName);
    if (!node) throw new WebhookCallError(`node "${ep.nodeName}" of endpoint ${ep.ip} not found`);
    const res = await opts.dialer.request({
      nodeName: ep.nodeName,
      node,
      method: 'GET',
      path: podConnectPath(ep.ip, ep.port),
      headers: { Connection: 'Upgrade', Upgrade: POD_CONNECT_UPGRADE },
      signal,
    });
    if (res.kind === 'response') {
      const text = await readSome(res.body);
      throw new WebhookCallError(`node "${ep.nodeName}" could not connect to ${ep.ip}:${ep.port}: HTTP ${res.statusCode}: ${failureMessage(text)}`);
    }
    if (res.statusCode !== 101) {
      res.socket.destroy();
      throw new WebhookCallError(`node "${ep.nodeName}" refused the connection to ${ep.ip}:${ep.port}: HTTP ${res.statusCode}`);
    }
    if (res.head.length > 0) res.socket.unshift(res.head);
    return res.socket;
  };

  return {
    async post(p: WebhookPost): Promise<unknown> {
      const cc = p.clientConfig;
      const ca = caOf(cc);
      const timeout = `timeout=${p.timeoutSeconds}s`;
      if (cc.url) {
        const url = new URL(cc.url);
        url.search = timeout;
        const req = httpsRequest(url, { method: 'POST', headers: headers(p.body, url.host), agent: agentFor(ca) });
        return exchange(req, p.body, url.toString(), p.signal);
      }
      const svc = cc.service;
      if (!svc) throw new WebhookCallError('the webhook has neither url nor service');
      const port = svc.port ?? 443;
      const host = `${svc.name}.${svc.namespace}.svc`;
      const path = `${svc.path || '/'}?${timeout}`;
      const url = `https://${host}:${port}${path}`;
      const ep = await resolveServiceEndpoint(opts, svc.namespace, svc.name, port);
      let raw: Duplex;
      try {
        raw = await openStream(ep, p.signal);
      } catch (err) {
        throw err instanceof WebhookCallError ? err : callFailed(url, err, p.signal);
      }
      const tls = tlsConnect({ socket: raw, servername: host, ca, rejectUnauthorized: true });
      raw.once('error', (err) => tls.destroy(err));
      tls.once('close', () => raw.destroy());
      const reqOpts: RequestOptions = {
        method: 'POST',
        path,
        headers: headers(p.body, port === 443 ? host : `${host}:${port}`),
        // this request owns the stream
        createConnection: (() => tls) as unknown as RequestOptions['createConnection'],
      };
      try {
        return await exchange(httpRequest(reqOpts), p.body, url, p.signal);
      } finally {
        tls.destroy();
      }
    },
    close() {
      for (const a of agents.values()) a.destroy();
      agents.clear();
    },
  };
}

async function readSome(body: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of body as AsyncIterable<Buffer>) {
    if (size < 4096) chunks.push(c);
    size += c.length;
  }
  return Buffer.concat(chunks).toString('utf8').slice(0, 4096);
}
