import { createServer as createHttp, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttps } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import type { WebSocketServer } from 'ws';
import { statusFromError, successStatus, type Status } from '../../api/meta/status.ts';
import { HedgeError, isHedgeError, type ErrorCode } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import { parseLogQuery, streamContainerLog } from './container-logs.ts';
import { EXEC_PROTOCOLS, serveExec } from './exec-stream.ts';
import { serveAttach } from './attach-stream.ts';
import { PORT_FORWARD_PROTOCOL, servePortForward } from './port-forward.ts';
import { servePodConnect } from './pod-connect.ts';
import type { NodeServerOptions } from './types.ts';

export interface NodeServer {
  port: number;
  close(): Promise<void>;
}

/** extra GET routes (e.g. /stats/summary, later), matched by exact path */
export type RouteHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void> | void;

const httpCode: Partial<Record<ErrorCode, number>> = { BadRequest: 400, Unauthorized: 401, Forbidden: 403, NotFound: 404, MethodNotAllowed: 405 };
const LOCAL_PATH_VOLUME = /^\/volumes\/local-path\/([^/]*)\/?$/;

/**
 * The kubelet-style API the apiserver proxies `kubectl logs` / `exec` to:
 * /healthz, /pods, /containerLogs/{ns}/{pod}/{container}, /exec|/attach/{ns}/{pod}/{container}
 * (WebSocket v5/v4.channel.k8s.io), /portforward/{ns}/{pod} (SPDY/3.1), /podconnect/{podIP}/{port}
 * (a raw TCP stream to one of this node's pods: the apiserver calling an admission webhook) and
 * DELETE /volumes/local-path/{volumeHandle} (the PV controller reclaiming a local-path PV).
 */
export async function startNodeServer(
  opts: NodeServerOptions & { logger: Logger; now?: () => number; routes?: Map<string, RouteHandler> },
): Promise<NodeServer> {
  const log = opts.logger.child({ component: 'node-server' });
  const now = opts.now ?? Date.now;
  const closing = new AbortController();
  const server: Server = opts.tls
    ? createHttps({ cert: opts.tls.cert, key: opts.tls.key, ca: opts.tls.ca, requestCert: opts.auth.clientCerts, rejectUnauthorized: false })
    : createHttp();
  // ws is loaded with the first exec: an edge node that is never exec'd into keeps ~2 MB less
  let wss: WebSocketServer | undefined;
  const execServer = async (): Promise<WebSocketServer> => {
    const { WebSocketServer: Wss } = await import('ws');
    return (wss ??= new Wss({ noServer: true, handleProtocols: (protocols) => EXEC_PROTOCOLS.find((p) => protocols.has(p)) ?? false }));
  };

  const authenticate = (req: IncomingMessage): void => {
    if (opts.auth.anonymous) return;
    const h = req.headers.authorization ?? '';
    const m = /^Bearer\s+(.+)$/i.exec(h);
    if (m && opts.auth.tokens.has(m[1].trim())) return;
    const sock = req.socket as Partial<TLSSocket>;
    if (opts.auth.clientCerts && sock.authorized === true) return;
    throw new HedgeError('Unauthorized', 'Unauthorized');
  };

  const fail = (res: ServerResponse, err: unknown): void => {
    const code = isHedgeError(err) ? (httpCode[err.code] ?? 500) : 500;
    if (code === 500) log.error({ err }, 'node server request failed');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.writeHead(code, { 'Content-Type': 'text/plain' });
    res.end(`${(err as Error).message}\n`);
  };

  /**
   * The cloud's PV controller reclaiming a local-path PV (through the apiserver's node proxy, so
   * authenticated as the exec/attach streams are). Answers a Kubernetes Status: 200 also when
   * there was nothing to remove, 409 while a pod of this node has it mounted, 503 when the node
   * cannot remove it now (the controller retries).
   */
  const deleteLocalPathVolume = async (req: IncomingMessage, res: ServerResponse, raw: string): Promise<void> => {
    const status = (code: number, body: Status): void => {
      res.writeHead(code, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    let handle = raw;
    try {
      if (req.method !== 'DELETE') throw new HedgeError('MethodNotAllowed', `${req.method} not allowed on local-path volumes (DELETE only)`);
      try {
        handle = decodeURIComponent(raw);
      } catch {
        throw new HedgeError('BadRequest', `invalid local-path volume handle "${raw}": bad percent-encoding`);
      }
      if (!opts.localPath) throw new HedgeError('NotFound', 'this node serves no local-path volumes');
      const removed = await opts.localPath.remove(handle);
      log.info({ handle, removed }, 'local-path volume deleted');
      status(200, successStatus({ name: handle, kind: 'volumes' }));
    } catch (err) {
      const known = isHedgeError(err) && err.code !== 'Internal';
      if (!known) log.error({ err, handle }, 'deleting local-path volume failed');
      const e = known ? err : new HedgeError('Unavailable', `cannot delete local-path volume ${handle} now: ${(err as Error).message}`, { cause: err });
      const s = statusFromError(e);
      status(s.code ?? 500, s);
    }
  };

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://node');
      try {
        if (url.pathname === '/healthz') {
          res.writeHead(200, { 'Content-Type': 'text/plain' });
          res.end('ok');
          return;
        }
        authenticate(req);
        const vol = LOCAL_PATH_VOLUME.exec(url.pathname);
        if (vol) {
          await deleteLocalPathVolume(req, res, vol[1]);
          return;
        }
        if (req.method !== 'GET') throw new HedgeError('MethodNotAllowed', `${req.method} not allowed`);
        if (url.pathname === '/pods' || url.pathname === '/pods/') {
          res.writeHead(200, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ kind: 'PodList', apiVersion: 'v1', metadata: {}, items: opts.pods.pods() }));
          return;
        }
        const logs = /^\/containerLogs\/([^/]+)\/([^/]+)\/([^/]+)\/?$/.exec(url.pathname);
        if (logs) {
          const [ns, pod, container] = logs.slice(1).map(decodeURIComponent);
          const loc = opts.pods.locate(ns, pod, container);
          if (!loc) throw new HedgeError('NotFound', `container "${container}" in pod "${pod}" not found on this node`);
          const ac = new AbortController();
          const onClose = (): void => ac.abort();
          res.on('close', onClose);
          closing.signal.addEventListener('abort', onClose, { once: true });
          try {
            await streamContainerLog(res, loc, parseLogQuery(url.searchParams, now()), ac.signal);
          } finally {
            closing.signal.removeEventListener('abort', onClose);
          }
          return;
        }
        const extra = opts.routes?.get(url.pathname);
        if (extra) {
          await extra(req, res, url);
          return;
        }
        if (/^\/(exec|attach|portforward)\//.test(url.pathname)) throw new HedgeError('BadRequest', 'Upgrade request required');
        throw new HedgeError('NotFound', `${url.pathname} not found`);
      } catch (err) {
        fail(res, err);
      }
    })();
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://node');
    const reject = (code: number, msg: string): void => {
      socket.end(`HTTP/1.1 ${code} ${msg}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${msg}\n`);
    };
    try {
      authenticate(req);
    } catch {
      reject(401, 'Unauthorized');
      return;
    }
    const pc = /^\/podconnect\/([^/]+)\/([^/]+)\/?$/.exec(url.pathname);
    if (pc) {
      servePodConnect({ req, socket, head, ip: decodeURIComponent(pc[1]), port: pc[2], pods: opts.pods, log, reject, signal: closing.signal });
      return;
    }
    const pf = /^\/portforward\/([^/]+)\/([^/]+)\/?$/.exec(url.pathname);
    if (pf) {
      const [ns, pod] = pf.slice(1).map(decodeURIComponent);
      const podIP = opts.pods.locate(ns, pod)?.pod.status?.podIP;
      if (!podIP) {
        reject(404, `pod "${pod}" has no IP on this node`);
        return;
      }
      const target = { pod: `${ns}/${pod}`, podIP, ports: url.searchParams.getAll('port').map(Number) };
      const upgrade = (req.headers.upgrade ?? '').toLowerCase();
      const versions = String(req.headers['x-stream-protocol-version'] ?? '').split(',').map((v) => v.trim());
      if (upgrade === 'spdy/3.1' && versions.includes(PORT_FORWARD_PROTOCOL)) {
        socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${PORT_FORWARD_PROTOCOL}\r\n\r\n`);
        if (head.length > 0) socket.unshift(head);
        servePortForward(socket, target, log, closing.signal);
        return;
      }
      // kubectl ≥1.31 first offers SPDY tunnelled in WebSocket (subprotocol SPDY/3.1+portforward.k8s.io);
      // refusing the upgrade makes it fall back to plain SPDY, as it does against kube-apiservers
      // without the PortForwardWebsockets gate
      reject(400, `port-forward needs Upgrade: SPDY/3.1 with X-Stream-Protocol-Version: ${PORT_FORWARD_PROTOCOL}`);
      return;
    }
    const m = /^\/(exec|attach)\/([^/]+)\/([^/]+)\/([^/]+)\/?$/.exec(url.pathname);
    if (!m) {
      reject(404, 'Not Found');
      return;
    }
    const kind = m[1];
    const [ns, pod, container] = m.slice(2).map(decodeURIComponent);
    const loc = opts.pods.locate(ns, pod, container);
    if (!loc?.handler || !loc.id) {
      reject(404, `container "${container}" in pod "${pod}" is not running on this node`);
      return;
    }
    const command = url.searchParams.getAll('command');
    if (kind === 'exec' && command.length === 0) {
      reject(400, 'command is required');
      return;
    }
    // kubelet names (input/output/error, what kube-apiserver sends) and the client-facing names (stdin/...)
    const flag = (...keys: string[]): boolean => keys.some((k) => ['1', 'true'].includes(url.searchParams.get(k) ?? ''));
    const handler = loc.handler;
    const id = loc.id;
    void execServer().then(
      (server) =>
        server.handleUpgrade(req, socket, head, (ws) => {
          if (!ws.protocol) {
            ws.close(1002, `supported subprotocols: ${EXEC_PROTOCOLS.join(', ')}`);
            return;
          }
          const done =
            kind === 'attach'
              ? serveAttach({ ws, handler, id, loc, tty: flag('tty'), stdin: flag('input', 'stdin'), stdout: flag('output', 'stdout'), stderr: flag('error', 'stderr'), signal: closing.signal, logger: log })
              : serveExec({ ws, handler, id, command, tty: flag('tty'), stdin: flag('input', 'stdin'), stdout: flag('output', 'stdout'), stderr: flag('error', 'stderr'), signal: closing.signal });
          void done.catch((err: unknown) => log.error({ err, kind }, 'stream failed'));
        }),
      (err: unknown) => {
        log.error({ err }, 'loading the exec server failed');
        reject(500, 'Internal Server Error');
      },
    );
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  log.info({ port, tls: Boolean(opts.tls) }, 'node server listening');
  return {
    port,
    async close() {
      closing.abort();
      for (const c of wss?.clients ?? []) c.terminate();
      wss?.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
