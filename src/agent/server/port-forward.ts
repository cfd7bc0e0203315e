import { connect } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../lib/log.ts';
import { SpdySession, type SpdyStream } from './spdy/spdy-session.ts';

export const PORT_FORWARD_PROTOCOL = 'portforward.k8s.io';

export interface PortForwardTarget {
  /** namespace/name, for messages */
  pod: string;
  /** where the pod's ports are reached: its IP on the node's bridge (pod netns) */
  podIP: string;
  /** ports the request named in ?port=; empty = any */
  ports: number[];
}

/**
 * The kubelet's port-forward protocol over a SPDY connection: the client opens an `error` and a
 * `data` stream per forwarded connection (headers streamtype, port, requestid); we connect to the
 * pod's port and relay the data stream; a failure is written to the error stream as text, which
 * kubectl prints. The pod is reached at its IP on the node bridge, from the host.
 */
export function servePortForward(socket: Duplex, target: PortForwardTarget, log: Logger, signal: AbortSignal): void {
  const pairs = new Map<string, { data?: SpdyStream; error?: SpdyStream }>();
  const session = new SpdySession(socket, (s) => {
    s.on('error', () => undefined);
    const type = s.headers.streamtype;
    if (type !== 'data' && type !== 'error') {
      s.destroy();
      return;
    }
    const rid = s.headers.requestid ?? '';
    const pair = pairs.get(rid) ?? {};
    pair[type] = s;
    pairs.set(rid, pair);
    if (pair.data && pair.error) {
      pairs.delete(rid);
      forward(pair.data, pair.error, s.headers.port ?? '', target, log);
    }
  });
  const onAbort = (): void => session.close();
  signal.addEventListener('abort', onAbort, { once: true });
  socket.once('close', () => signal.removeEventListener('abort', onAbort));
}

function forward(data: SpdyStream, error: SpdyStream, portHeader: string, target: PortForwardTarget, log: Logger): void {
  // the client half-closes the error stream at once; read it so its end is seen
  error.resume();
  const port = Number(portHeader);
  const fail = (msg: string): void => {
    error.end(msg);
    data.end();
  };
  if (!/^\d+$/.test(portHeader) || port < 1 || port > 65535) return fail(`invalid port "${portHeader}"`);
  if (target.ports.length > 0 && !target.ports.includes(port)) return fail(`port ${port} was not requested for pod ${target.pod}`);
  const conn = connect(port, target.podIP);
  conn.once('connect', () => {
    data.pipe(conn);
    conn.pipe(data);
  });
  conn.on('error', (err) => {
    log.debug({ err, pod: target.pod, port, podIP: target.podIP }, 'port-forward connection failed');
    if (!error.writableEnded) error.end(`error forwarding port ${port} to pod ${target.pod}: ${err.message}`);
    data.end();
  });
  // the error stream ends only after the data stream's last frame: kubectl takes the error
  // stream's end as the end of the connection and would cut off data still queued behind it
  const endError = (): void => {
    if (!error.writableEnded) error.end();
  };
  data.once('finish', endError);
  data.once('close', () => {
    if (data.rstReceived) log.debug({ pod: target.pod, port }, 'port-forward stream reset by the client');
    endError();
    conn.destroy();
  });
}
