import type { Socket } from 'node:net';
import { connectSocket } from './connect.ts';
import { formatSyslog, octetCounted } from './syslog-format.ts';
import type { LogRecord, LogSink, SendResult } from './types.ts';

export interface SyslogStreamSinkOptions {
  name: string;
  host: string;
  port: number;
  /** TLS (RFC 5425) with this CA bundle (undefined: the system's) */
  tls?: { ca?: Buffer };
  connectTimeoutMs?: number;
}

/**
 * RFC 5424 messages over TCP or TLS with octet-counted framing (RFC 6587/5425), as rsyslog's
 * imtcp and syslog-ng read them. The protocol has no acknowledgement: a batch counts as delivered
 * once the kernel took it, so what was in flight when the collector died can be lost — use RELP
 * (`syslog+relp://`) where every line must arrive.
 */
export class SyslogStreamSink implements LogSink {
  readonly name: string;
  readonly delivery = 'written' as const;
  #socket: Socket | undefined;
  #broken: Error | undefined;

  constructor(private readonly opts: SyslogStreamSinkOptions) {
    this.name = opts.name;
  }

  async send(batch: readonly LogRecord[], signal: AbortSignal): Promise<SendResult> {
    if (batch.length === 0) return { delivered: 0 };
    try {
      const socket = await this.#connected(signal);
      const payload = Buffer.concat(batch.map((r) => octetCounted(formatSyslog(r))));
      await new Promise<void>((resolve, reject) => {
        socket.write(payload, (err) => (err ? reject(err) : resolve()));
      });
      if (this.#broken) throw this.#broken;
      return { delivered: batch.length };
    } catch (err) {
      this.#drop();
      return { delivered: 0, error: err as Error };
    }
  }

  async close(): Promise<void> {
    const s = this.#socket;
    this.#socket = undefined;
    if (s === undefined) return;
    await new Promise<void>((resolve) => {
      s.end(() => resolve());
      setTimeout(() => (s.destroy(), resolve()), 1_000).unref();
    });
  }

  #drop(): void {
    this.#socket?.destroy();
    this.#socket = undefined;
  }

  async #connected(signal: AbortSignal): Promise<Socket> {
    if (this.#socket !== undefined && !this.#socket.destroyed && this.#broken === undefined) return this.#socket;
    this.#drop();
    this.#broken = undefined;
    const socket = await connectSocket({ host: this.opts.host, port: this.opts.port, tls: this.opts.tls, timeoutMs: this.opts.connectTimeoutMs, signal });
    // the collector going away must fail the next send, not the one after it
    socket.on('error', (err) => (this.#broken = err));
    socket.on('end', () => (this.#broken = new Error('the collector closed the connection')));
    socket.on('close', () => (this.#broken ??= new Error('connection closed')));
    this.#socket = socket;
    return socket;
  }
}
