import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocket as WsSocket } from 'ws';
import { Backoff, type BackoffOptions } from '../../client/backoff.ts';
import { HedgeError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import { HEARTBEAT_HEADER, MUX_MAX_FRAME, wsMuxSession, type MuxSession, type MuxStream } from '../../lib/mux/index.ts';
import { sleep } from '../../lib/sleep.ts';

export interface TunnelClientOptions {
  /** the apiserver, e.g. https://10.0.0.1:6443 (the node's kubeconfig server) */
  server: string;
  nodeName: string;
  /** the node's credentials: a bearer token or a client certificate (user system:node:<name>) */
  token?: string;
  cert?: string;
  key?: string;
  ca?: string;
  insecureSkipTLSVerify?: boolean;
  /** a fresh connection to this node's own server, for each stream the apiserver opens */
  connectLocal: () => Duplex;
  logger: Logger;
  /** reconnect delays (default 500 ms doubling to 30 s, jittered) */
  backoff?: BackoffOptions;
  /** ping interval and dead-link timeout (default 2 s / 6 s); none while pings go either way anyway (the hub's health pings) */
  keepalive?: { intervalMs: number; timeoutMs: number };
  /** per-stream receive window (default 256 KiB) */
  windowBytes?: number;
  /**
   * ask the apiserver for a heartbeat every this many ms (`hedge node`: the hub's health interval):
   * an apiserver that grants it says so in the upgrade's answer, and the session's
   * `peerHeartbeatMs` tells the hub's health probe it need not ping while they arrive
   */
  heartbeatMs?: number;
}

export interface TunnelClient {
  readonly connected: boolean;
  /** resolves once a tunnel is up (immediately if it is) */
  waitConnected(signal: AbortSignal): Promise<void>;
  /** the live session while the tunnel is up (the edge hub's cloud health pings it, cloud-health.ts linkFirstProbe) */
  link(): MuxSession | undefined;
  /** how many times a tunnel came up */
  readonly connects: number;
  /** settles after the signal aborted and the tunnel closed */
  readonly done: Promise<void>;
}

export const tunnelPath = (nodeName: string): string => `/apis/tunnel.hedge.io/v1/nodes/${encodeURIComponent(nodeName)}/connect`;


/**
 * The masking key of every frame the node sends on a TLS tunnel. RFC 6455 masks client frames so
 * that bytes a client's payload chooses cannot pass for a request to a proxy or cache on the path
 * that reads the plain connection; inside TLS nothing on the path sees them, and for an all-zero
 * key `ws` skips the XOR over the payload and the copy into a merged buffer (the MASK bit and key
 * are still sent, as the peer requires). Every metrics scrape sends its ~75 KB (100 pods) up the
 * tunnel: masking it in JavaScript (no bufferutil) and the merged copy were two thirds of the
 * tunnel's send cost at idle (CPU profile).
 */
const zeroMask = (mask: Buffer): void => {
  mask.fill(0);
};

/** Relay one tunnel stream to a new local connection, half-closes included. */
function relay(stream: MuxStream, local: Duplex, log: Logger): void {
  local.on('error', (err) => {
    log.debug({ err, stream: stream.id }, 'local side of a tunnel stream failed');
    stream.destroy(err);
  });
  stream.on('error', () => local.destroy());
  stream.pipe(local);
  local.pipe(stream);
}

/**
 * The node's end of its tunnel: an outbound WebSocket to the apiserver's
 * `tunnel.hedge.io/v1/nodes/<name>/connect`, over which the apiserver opens one stream per
 * node-bound request (logs, exec, attach, port-forward, nodes/proxy); each stream is relayed to
 * the node's own server. Reconnects with back-off for as long as `signal` is live.
 */
export function startTunnelClient(opts: TunnelClientOptions, signal: AbortSignal): TunnelClient {
  const log = opts.logger.child({ component: 'tunnel' });
  const url = `${opts.server.replace(/^http/, 'ws').replace(/\/+$/, '')}${tunnelPath(opts.nodeName)}${opts.heartbeatMs !== undefined ? `?heartbeatMs=${opts.heartbeatMs}` : ''}`;
  const keepalive = opts.keepalive ?? { intervalMs: 2_000, timeoutMs: 6_000 };
  let connected = false;
  let live: MuxSession | undefined;
  let connects = 0;
  const waiters = new Set<() => void>();

  /** the open WebSocket and the heartbeat period the apiserver granted (undefined: none, e.g. an older apiserver) */
  const dial = async (): Promise<{ ws: WsSocket; peerHeartbeatMs: number | undefined }> => {
    const { WebSocket } = await import('ws');
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, {
        ca: opts.ca,
        cert: opts.cert,
        key: opts.key,
        rejectUnauthorized: opts.insecureSkipTLSVerify !== true,
        headers: opts.token ? { Authorization: `Bearer ${opts.token}` } : {},
        perMessageDeflate: false,
        handshakeTimeout: 10_000,
        maxPayload: MUX_MAX_FRAME + 1024,
        ...(url.startsWith('wss:') ? { generateMask: zeroMask } : {}),
      });
      const onAbort = (): void => ws.terminate();
      signal.addEventListener('abort', onAbort, { once: true });
      const settle = (): void => signal.removeEventListener('abort', onAbort);
      let peerHeartbeatMs: number | undefined;
      ws.once('upgrade', (res: IncomingMessage) => {
        const granted = Number(res.headers[HEARTBEAT_HEADER]);
        if (opts.heartbeatMs !== undefined && Number.isInteger(granted) && granted > 0) peerHeartbeatMs = granted;
      });
      ws.once('open', () => {
        settle();
        resolve({ ws, peerHeartbeatMs });
      });
      ws.once('unexpected-response', (_req, res: IncomingMessage) => {
        settle();
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          let message = Buffer.concat(chunks).toString('utf8').slice(0, 500);
          try {
            message = (JSON.parse(message) as { message?: string }).message ?? message;
          } catch {
            // not a Status
          }
          reject(new HedgeError(res.statusCode === 401 ? 'Unauthorized' : res.statusCode === 403 ? 'Forbidden' : 'Unavailable', `tunnel refused (${res.statusCode}): ${message}`));
          ws.terminate();
        });
      });
      ws.once('error', (err) => {
        settle();
        reject(err);
      });
    });
  };

  const run = async (): Promise<void> => {
    const backoff = new Backoff({ initialMs: 500, maxMs: 30_000, ...opts.backoff });
    while (!signal.aborted) {
      try {
        const { ws, peerHeartbeatMs } = await dial();
        const session = wsMuxSession(ws, {
          role: 'client',
          keepalive,
          peerHeartbeatMs,
          windowBytes: opts.windowBytes,
          onStream: (stream) => relay(stream, opts.connectLocal(), log),
        });
        connected = true;
        live = session;
        connects++;
        backoff.reset();
        for (const w of [...waiters]) w();
        log.info({ url }, 'tunnel connected');
        const onAbort = (): void => session.close('node shutting down');
        signal.addEventListener('abort', onAbort, { once: true });
        const reason = await session.done;
        signal.removeEventListener('abort', onAbort);
        connected = false;
        live = undefined;
        if (!signal.aborted) log.warn({ reason }, 'tunnel lost; reconnecting');
      } catch (err) {
        connected = false;
        live = undefined;
        if (!signal.aborted) log.warn({ err, url }, 'tunnel connect failed');
      }
      if (signal.aborted) break;
      await sleep(backoff.next(), signal);
    }
  };

  const done = run();
  return {
    get connected() {
      return connected;
    },
    get connects() {
      return connects;
    },
    link: () => live,
    done,
    waitConnected(s: AbortSignal): Promise<void> {
      if (connected) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const onAbort = (): void => {
          waiters.delete(ok);
          reject(new HedgeError('Timeout', 'the tunnel did not come up'));
        };
        const ok = (): void => {
          waiters.delete(ok);
          s.removeEventListener('abort', onAbort);
          resolve();
        };
        waiters.add(ok);
        s.addEventListener('abort', onAbort, { once: true });
      });
    },
  };
}
