import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

export interface ConnectOptions {
  host: string;
  port: number;
  /** TLS with this CA bundle (undefined CA: the system's) */
  tls?: { ca?: Buffer };
  timeoutMs?: number;
  signal: AbortSignal;
}

/** A connected (TLS: handshaken) socket with Nagle off, or an error naming host:port; bounded by timeoutMs and the signal. */
export async function connectSocket(opts: ConnectOptions): Promise<Socket> {
  const { host, port, signal } = opts;
  const socket =
    opts.tls === undefined
      ? netConnect({ host, port })
      : tlsConnect({ host, port, ca: opts.tls.ca, servername: /^[\d.:]+$/.test(host) ? undefined : host });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`connect ${host}:${port}: timed out`)), opts.timeoutMs ?? 5_000);
    const onAbort = (): void => fail(new Error('aborted'));
    const fail = (err: Error): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      reject(err);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('error', fail);
    socket.once(opts.tls === undefined ? 'connect' : 'secureConnect', () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      socket.off('error', fail);
      resolve();
    });
  });
  socket.setNoDelay(true);
  return socket;
}
