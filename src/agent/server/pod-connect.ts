import type { IncomingMessage } from 'node:http';
import { connect, isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../lib/log.ts';
import type { PodSource } from './types.ts';

import { POD_CONNECT_UPGRADE } from '../../api/pod-connect.ts';

export { POD_CONNECT_UPGRADE };

export interface PodConnectRequest {
  req: IncomingMessage;
  socket: Duplex;
  head: Buffer;
  /** from the path /podconnect/{ip}/{port} */
  ip: string;
  port: string;
  pods: PodSource;
  log: Logger;
  reject(code: number, msg: string): void;
  signal: AbortSignal;
}

/**
 * `GET /podconnect/{podIP}/{port}` with `Upgrade: hedge-tcp`: the request's connection becomes a
 * byte stream to `podIP:port`, dialled from this node (the pod's IP on its bridge, as
 * port-forward does). The apiserver uses it through the node's tunnel to reach an admission
 * webhook Service whose pod runs behind NAT. Only IPs of this node's pods are dialled (never
 * the node's other networks), and only for a caller the node server authenticated (the apiserver).
 * 101 is sent once the pod accepted the connection; a refused one is a 502 with the reason.
 */
export function servePodConnect(r: PodConnectRequest): void {
  const { req, socket, head, ip, log } = r;
  if ((req.headers.upgrade ?? '').toLowerCase() !== POD_CONNECT_UPGRADE) {
    r.reject(400, `podconnect needs Upgrade: ${POD_CONNECT_UPGRADE}`);
    return;
  }
  const port = Number(r.port);
  if (!/^\d+$/.test(r.port) || port < 1 || port > 65535) {
    r.reject(400, `invalid port "${r.port}"`);
    return;
  }
  const owner = isIP(ip) ? r.pods.pods().find((p) => p.status?.podIP === ip || (p.status?.podIPs ?? []).some((a) => a.ip === ip)) : undefined;
  if (!owner) {
    r.reject(404, `no pod on this node has IP "${ip}"`);
    return;
  }
  const pod = `${owner.metadata?.namespace ?? ''}/${owner.metadata?.name ?? ''}`;
  const conn = connect({ host: ip, port });
  const onAbort = (): void => {
    conn.destroy();
    socket.destroy();
  };
  r.signal.addEventListener('abort', onAbort, { once: true });
  socket.once('close', () => {
    r.signal.removeEventListener('abort', onAbort);
    conn.destroy();
  });
  socket.on('error', () => conn.destroy());
  conn.once('connect', () => {
    conn.off('error', refused);
    conn.on('error', (err) => {
      log.debug({ err, pod, port }, 'podconnect stream failed');
      socket.destroy();
    });
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${POD_CONNECT_UPGRADE}\r\n\r\n`);
    if (head.length > 0) conn.write(head);
    socket.pipe(conn);
    conn.pipe(socket);
  });
  const refused = (err: Error): void => {
    log.debug({ err, pod, port }, 'podconnect: the pod refused the connection');
    r.reject(502, `error connecting to pod ${pod} at ${ip}:${port}: ${err.message}`);
  };
  conn.once('error', refused);
}
