import { createServer as createHttp, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttps } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { WebSocketServer } from 'ws';
import { errorFromStatus, statusFromError, successStatus, type Status } from '../../api/meta/status.ts';
import { HedgeError, isHedgeError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import { NodeRequestAuth } from './auth/node-auth.ts';
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

const LOCAL_PATH_VOLUME = /^\/volumes\/local-path\/([^/]*)\/?$/;

/** a failure answer: a Kubernetes Status with `code` as its HTTP code */
function failureStatus(code: number, message: string): Status {
  return { ...statusFromError(new HedgeError(errorFromStatus(code, undefined).code, message)), code };
}

/** a path segment as sent (percent-decoded); malformed encoding is the caller's mistake, a 400 */
function pathSegment(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new HedgeError('BadRequest', `invalid path segment "${raw}": bad percent-encoding`);
  }
}

/**
 * The request target as a URL on this server: appended to the origin, not resolved against it,
 * so `//exec/...` stays that path instead of naming a host. `..` segments are resolved, and
 * routing and authorization both read this one pathname.
 */
function requestUrl(target = '/'): URL {
  try {
    return new URL(`http://node${target.startsWith('/') ? '' : '/'}${target}`);
  } catch {
    throw new HedgeError('BadRequest', `invalid request target "${target.slice(0, 200)}"`);
  }
}

/** an upgrade refused: the Status as a plain HTTP response, then the connection closes */
function refuseUpgrade(socket: Duplex, s: Status): void {
  const body = `${JSON.stringify(s)}\n`;
  socket.end(`HTTP/1.1 ${s.code} ${STATUS_CODES[s.code] ?? ''}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

/**
 * The kubelet-style API the apiserver proxies `kubectl logs` / `exec` to:
 * /healthz, /pods, /containerLogs/{ns}/{pod}/{container}, /exec|/attach/{ns}/{pod}/{container}
 * (WebSocket v5/v4.channel.k8s.io), /portforward/{ns}/{pod} (SPDY/3.1), /podconnect/{podIP}/{port}
 * (a raw TCP stream to one of this node's pods: the apiserver calling an admission webhook) and
 * DELETE /volumes/local-path/{volumeHandle} (the PV controller reclaiming a local-path PV).
 * Every path but /healthz is authenticated and authorized first (auth/node-auth.ts); failures
 * are answered as Kubernetes Status objects.
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

  const auth = new NodeRequestAuth({
    auth: opts.auth,
    nodeName: opts.nodeName ?? '',
    reviews: opts.reviews,
    tuning: opts.authTuning,
    now,
    logger: log,
    signal: closing.signal,
    metrics: opts.metrics,
  });

  const fail = (res: ServerResponse, err: unknown): void => {
    const s = statusFromError(err);
    if (s.code >= 500 && !isHedgeError(err, 'Unavailable')) log.error({ err }, 'node server request failed');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.writeHead(s.code, { 'Content-Type': 'application/json' });
    res.end(`${JSON.stringify(s)}\n`);
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
      handle = pathSegment(raw);
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
      try {
        const url = requestUrl(req.url);
        if (url.pathname === '/healthz') {
          res.writeHead(200, { 'Content-Type': 'text/plain' });
          res.end('ok');
          return;
        }
        await auth.admit(req, url.pathname);
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
          const [ns, pod, container] = logs.slice(1).map(pathSegment);
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
    // a caller that goes (while its review is out, or later) resets the socket: that is logged,
    // never this process's end; the stream handlers add their own listeners beside this one
    socket.on('error', (err: Error) => log.debug({ err }, 'upgrade connection failed'));
    const refuse = (err: unknown): void => {
      if (!isHedgeError(err)) log.error({ err, url: req.url }, 'serving an upgrade failed');
      if (!socket.destroyed && socket.writable) refuseUpgrade(socket, statusFromError(err));
      else socket.destroy();
    };
    // what the request asks is refused (a bad target, a malformed segment), never this process ended
    void (async () => {
      const url = requestUrl(req.url);
      await auth.admit(req, url.pathname);
      if (!socket.destroyed) serveUpgrade(req, socket, head, url);
    })().catch(refuse);
  });

  const serveUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer, url: URL): void => {
    const reject = (code: number, msg: string): void => refuseUpgrade(socket, failureStatus(code, msg));
    const pc = /^\/podconnect\/([^/]+)\/([^/]+)\/?$/.exec(url.pathname);
    if (pc) {
      servePodConnect({ req, socket, head, ip: pathSegment(pc[1]), port: pc[2], pods: opts.pods, log, reject, signal: closing.signal });
      return;
    }
    const pf = /^\/portforward\/([^/]+)\/([^/]+)\/?$/.exec(url.pathname);
    if (pf) {
      const [ns, pod] = pf.slice(1).map(pathSegment);
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
    const [ns, pod, container] = m.slice(2).map(pathSegment);
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
  };

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
