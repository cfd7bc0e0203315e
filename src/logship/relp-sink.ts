import type { Socket } from 'node:net';
import { connectSocket } from './connect.ts';
import { formatSyslog } from './syslog-format.ts';
import type { LogRecord, LogSink, SendResult } from './types.ts';

export interface RelpSinkOptions {
  name: string;
  host: string;
  port: number;
  /** frames sent before waiting for their acknowledgements (default 1,024) */
  window?: number;
  /** an acknowledgement not seen within this time fails the send (default 10 s) */
  ackTimeoutMs?: number;
  connectTimeoutMs?: number;
}

const NEWLINE = Buffer.from('\n');
const FRAME_HEAD = /^(\d+) (\S+) (\d+)[ \n]/;

interface Frame {
  txnr: number;
  command: string;
  data: string;
}

/**
 * RELP (rsyslog's Reliable Event Logging Protocol, what `omrelp`/`imrelp` speak): every syslog
 * message is a numbered transaction the collector acknowledges with `rsp 200`, so a batch counts
 * as delivered only as far as acknowledgements go. After a broken connection the unacknowledged
 * rest is sent again (a message whose ack was lost in the break arrives twice; its `id` SD param
 * tells the copies apart).
 */
export class RelpSink implements LogSink {
  readonly name: string;
  readonly delivery = 'acknowledged' as const;
  #socket: Socket | undefined;
  #txnr = 0;
  #buf = '';
  #waiters = new Map<number, (f: Frame | Error) => void>();
  #broken: Error | undefined;

  constructor(private readonly opts: RelpSinkOptions) {
    this.name = opts.name;
  }

  async send(batch: readonly LogRecord[], signal: AbortSignal): Promise<SendResult> {
    let delivered = 0;
    try {
      await this.#open(signal);
      const window = this.opts.window ?? 1024;
      for (let start = 0; start < batch.length; start += window) {
        const chunk = batch.slice(start, start + window);
        // one write per window: frames are queued, then flushed together
        const acks = chunk.map((r) => this.#request('syslog', formatSyslog(r), true));
        // after a failure the later acknowledgements are never awaited: they must not go unhandled
        for (const a of acks) a.catch(() => undefined);
        this.#flush();
        for (const ack of acks) {
          const rsp = await ack;
          if (!rsp.data.startsWith('200')) throw new Error(`RELP: collector refused a message: ${rsp.data.slice(0, 200)}`);
          delivered++;
        }
      }
      return { delivered };
    } catch (err) {
      this.#drop(err as Error);
      return { delivered, error: err as Error };
    }
  }

  async close(): Promise<void> {
    if (this.#socket === undefined) return;
    try {
      await Promise.race([this.#request('close', ''), new Promise((r) => setTimeout(r, 1_000).unref())]);
    } catch {
      // closing anyway
    }
    this.#drop(new Error('closed'));
  }

  #nextTxnr(): number {
    this.#txnr = this.#txnr >= 999_999_999 ? 1 : this.#txnr + 1;
    return this.#txnr;
  }

  #pending: Buffer[] = [];

  #flush(): void {
    if (this.#pending.length === 0) return;
    const out = Buffer.concat(this.#pending);
    this.#pending = [];
    this.#socket?.write(out);
  }

  #request(command: string, data: string, defer = false): Promise<Frame> {
    const socket = this.#socket;
    if (socket === undefined || this.#broken) return Promise.reject(this.#broken ?? new Error('RELP: not connected'));
    const txnr = this.#nextTxnr();
    const body = Buffer.from(data, 'utf8');
    const head = Buffer.from(body.length > 0 ? `${txnr} ${command} ${body.length} ` : `${txnr} ${command} 0`);
    return new Promise<Frame>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(txnr);
        reject(new Error(`RELP: no acknowledgement for transaction ${txnr} within ${this.opts.ackTimeoutMs ?? 10_000} ms`));
      }, this.opts.ackTimeoutMs ?? 10_000);
      this.#waiters.set(txnr, (f) => {
        clearTimeout(timer);
        if (f instanceof Error) reject(f);
        else resolve(f);
      });
      this.#pending.push(head, body, NEWLINE);
      if (!defer) this.#flush();
    });
  }

  #onData(chunk: Buffer): void {
    this.#buf += chunk.toString('latin1');
    let pos = 0;
    for (;;) {
      const m = FRAME_HEAD.exec(this.#buf.slice(pos, pos + 64));
      if (m === null) {
        if (this.#buf.length - pos > 64 * 1024) this.#drop(new Error(`RELP: garbled frame from the collector: ${this.#buf.slice(pos, pos + 64)}`));
        break;
      }
      const len = Number(m[3]);
      const headLen = m[0].length;
      // DATALEN counts bytes: the buffer holds latin1 characters, one per byte
      if (len > 0 && this.#buf.length - pos < headLen + len + 1) break;
      const frame: Frame = { txnr: Number(m[1]), command: m[2]!, data: len === 0 ? '' : this.#buf.slice(pos + headLen, pos + headLen + len) };
      pos += len === 0 ? headLen : headLen + len + 1;
      if (frame.command === 'serverclose') {
        this.#drop(new Error('RELP: the collector closed the session'));
        return;
      }
      this.#waiters.get(frame.txnr)?.(frame);
      this.#waiters.delete(frame.txnr);
    }
    this.#buf = this.#buf.slice(pos);
  }

  #drop(err: Error): void {
    this.#broken = err;
    this.#socket?.destroy();
    this.#socket = undefined;
    this.#buf = '';
    for (const w of this.#waiters.values()) w(err);
    this.#waiters.clear();
  }

  async #open(signal: AbortSignal): Promise<void> {
    if (this.#socket !== undefined && this.#broken === undefined) return;
    this.#broken = undefined;
    this.#txnr = 0;
    const socket = await connectSocket({ host: this.opts.host, port: this.opts.port, timeoutMs: this.opts.connectTimeoutMs, signal });
    // events of a socket already given up on must not break its successor
    socket.on('data', (c: Buffer) => {
      if (this.#socket === socket) this.#onData(c);
    });
    socket.on('error', (err) => {
      if (this.#socket === socket) this.#drop(err);
    });
    socket.on('close', () => {
      if (this.#socket === socket) this.#drop(this.#broken ?? new Error('RELP: connection closed'));
    });
    this.#socket = socket;
    const rsp = await this.#request('open', 'relp_version=0\nrelp_software=hedge\ncommands=syslog');
    if (!rsp.data.startsWith('200')) throw new Error(`RELP: open refused: ${rsp.data.slice(0, 200)}`);
  }
}
