/**
 * Forwards a query (as received, bytes unchanged) to the upstream resolvers in order, each with
 * its own timeout; the first answer with the query's id wins. UDP queries go out over UDP (a
 * truncated answer is passed back as is: the client retries over TCP), TCP queries over TCP.
 */
import { createSocket } from 'node:dgram';
import { connect, isIP } from 'node:net';
import { HedgeError } from '../../../lib/errors.ts';
import { timeoutSignal } from '../../../lib/signals.ts';
import { messageId } from './wire.ts';

export interface Upstream {
  host: string;
  port: number;
}

export interface ForwarderOptions {
  upstreams: Upstream[];
  /** per upstream try; default 2 s (glibc's resolver waits 5 s per server) */
  timeoutMs?: number;
}

export class Forwarder {
  private readonly timeoutMs: number;

  constructor(private readonly opts: ForwarderOptions) {
    this.timeoutMs = opts.timeoutMs ?? 2_000;
  }

  get upstreams(): Upstream[] {
    return this.opts.upstreams;
  }

  /** The first upstream answer; `Unavailable` when none answered. */
  async forward(query: Buffer, transport: 'udp' | 'tcp', signal?: AbortSignal): Promise<Buffer> {
    const errors: string[] = [];
    for (const u of this.opts.upstreams) {
      const s = timeoutSignal(signal, this.timeoutMs);
      try {
        return transport === 'udp' ? await udpExchange(u, query, s) : await tcpExchange(u, query, s);
      } catch (err) {
        if (signal?.aborted) throw err;
        errors.push(`${u.host}:${u.port}: ${(err as Error).message}`);
      } finally {
        s.clear();
      }
    }
    throw new HedgeError('Unavailable', `dns: no upstream answered (${errors.join('; ') || 'none configured'})`);
  }
}

function aborted(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('aborted');
}

type Done = (err: Error | undefined, msg?: Buffer) => void;

/**
 * One query/answer exchange: `open` starts it and returns what closes its socket; the first of answer,
 * error or abort settles the promise, and that always closes the socket and drops the abort listener.
 */
function exchange(signal: AbortSignal, open: (done: Done) => () => void): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(aborted(signal));
    let close = (): void => {}; // replaced by what `open` returns
    let settled = false;
    const done: Done = (err, msg) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      close();
      if (err) reject(err);
      else if (msg) resolve(msg);
    };
    const onAbort = (): void => done(aborted(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    close = open(done);
    if (settled) close();
  });
}

function udpExchange(u: Upstream, query: Buffer, signal: AbortSignal): Promise<Buffer> {
  return exchange(signal, (done) => {
    const sock = createSocket(isIP(u.host) === 6 ? 'udp6' : 'udp4');
    const id = messageId(query);
    sock.on('error', (err) => done(err));
    // answers from elsewhere, or to an earlier id, are ignored (RFC 5452)
    sock.on('message', (msg, rinfo) => {
      if (rinfo.port === u.port && messageId(msg) === id) done(undefined, msg);
    });
    sock.send(query, u.port, u.host, (err) => err && done(err));
    return () => sock.close();
  });
}

function tcpExchange(u: Upstream, query: Buffer, signal: AbortSignal): Promise<Buffer> {
  return exchange(signal, (done) => {
    const sock = connect({ host: u.host, port: u.port });
    let buf = Buffer.alloc(0);
    sock.on('error', (err) => done(err));
    sock.on('close', () => done(new Error('connection closed before an answer')));
    sock.on('connect', () => {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(query.length);
      sock.write(Buffer.concat([len, query]));
    });
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) done(undefined, buf.subarray(2, 2 + buf.readUInt16BE(0)));
    });
    return () => sock.destroy();
  });
}

/** The resolvers of a resolv.conf text, port 53 (resolv.conf has no port syntax). */
export function upstreamsFromResolvConf(nameservers: string[]): Upstream[] {
  return nameservers.filter((s) => isIP(s) !== 0).map((host) => ({ host, port: 53 }));
}
