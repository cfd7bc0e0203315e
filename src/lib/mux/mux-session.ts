import { randomBytes } from 'node:crypto';
import { Duplex } from 'node:stream';
import { HedgeError } from '../errors.ts';
import { decodeFrame, encodeFrame, type Frame } from './frame.ts';

/** A message transport carrying one frame per message (a WebSocket, or a pair of fakes in tests). */
export interface FrameLink {
  send(frame: Buffer): void;
  /** tear the transport down; called once when the session ends */
  close(reason: string): void;
}

export interface MuxSessionOptions {
  link: FrameLink;
  /** the client opens odd stream ids, the server even ones, so both sides may open streams */
  role: 'client' | 'server';
  /** bytes a stream's receiver buffers unread before its sender has to wait (default 256 KiB) */
  windowBytes?: number;
  /** largest DATA payload (default 32 KiB): bounds how long one stream holds the link */
  maxFrameBytes?: number;
  /** streams opened by the peer beyond this many are refused (default 1024) */
  maxStreams?: number;
  /** a stream the peer opened; without a handler every open is refused */
  onStream?: (stream: MuxStream, meta: Buffer) => void;
  /**
   * end the session when nothing was heard for timeoutMs; ping every intervalMs, unless a ping
   * went either way within it (the peer's keepalive, anyone's `alive()`): one side's pings do for both
   */
  keepalive?: { intervalMs: number; timeoutMs: number };
  /**
   * send a frame the peer does not answer (a pong nobody asked for) every this many ms, so the
   * peer hears from us without asking: the apiserver's side of a node tunnel whose node asked for
   * it (the edge hub's cloud health then pings only when one is late). Not a keepalive: our own
   * keepalive still wants to hear the peer.
   */
  heartbeatMs?: number;
  /** the peer promised its heartbeat at this period (what `peerHeartbeatMs` reports; `heartbeatLate()` waits for one a fifth late) */
  peerHeartbeatMs?: number;
  now?: () => number;
}

/** a ping whose pong nobody waits for by nonce (keepalive, `alive()`: any frame heard will do), encoded once */
const ANY_PING = encodeFrame({ type: 'ping', stream: 0, nonce: Buffer.alloc(8) });
/** the heartbeat: a pong no ping of ours asked for (a peer drops it, as any pong it does not wait for), encoded once */
const HEARTBEAT = encodeFrame({ type: 'pong', stream: 0, nonce: Buffer.alloc(8) });

/** What a stream needs from its session. */
interface StreamHost {
  send(f: Frame): void;
  release(id: number): void;
  readonly closed: boolean;
}

/** the error a stream ends with when its peer resets it or the link goes away (like a TCP reset) */
function resetError(message: string): HedgeError & { errno: string } {
  return Object.assign(new HedgeError('Unavailable', message), { errno: 'ECONNRESET' });
}

/**
 * One multiplexed byte stream. Flow control: the sender holds a credit (initially the receiver's
 * window) and spends it on DATA; the receiver returns credit with WINDOW frames as its reader
 * consumes, so a stream whose reader is slow stops only its own sender, never the link.
 */
export class MuxStream extends Duplex {
  readonly id: number;
  private readonly host: StreamHost;
  private readonly window: number;
  private readonly maxFrame: number;
  private sendCredit: number;
  private recvCredit: number;
  private received = 0;
  private granted = 0;
  private pending: { chunk: Buffer; cb: (err?: Error | null) => void } | undefined;
  private finSent = false;
  private finReceived = false;
  private rstReceived = false;

  constructor(host: StreamHost, id: number, window: number, maxFrame: number) {
    super({ allowHalfOpen: true, readableHighWaterMark: window, writableHighWaterMark: maxFrame });
    this.host = host;
    this.id = id;
    this.window = window;
    this.maxFrame = maxFrame;
    this.sendCredit = window;
    this.recvCredit = window;
  }

  // net.Socket look-alikes: node:http and node:tls call these on the streams they are given
  setTimeout(): this {
    return this;
  }
  setNoDelay(): this {
    return this;
  }
  setKeepAlive(): this {
    return this;
  }
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.pending = { chunk, cb };
    this.flush();
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.host.closed) return cb(resetError('tunnel closed'));
    this.finSent = true;
    this.host.send({ type: 'fin', stream: this.id });
    cb();
  }

  override _read(): void {
    this.grant();
  }

  // every consumer (pipe, 'data', async iteration) reads through read(): credit goes back as it does
  override read(size?: number): unknown {
    const r: unknown = super.read(size);
    this.grant();
    return r;
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.rstReceived && !(this.finSent && this.finReceived) && !this.host.closed) {
      this.host.send({ type: 'rst', stream: this.id, reason: err?.message ?? 'cancelled' });
    }
    this.pending = undefined;
    this.host.release(this.id);
    cb(err);
  }

  /** @internal */
  onData(data: Buffer): void {
    if (this.finReceived || data.length > this.recvCredit) {
      this.destroy(resetError(this.finReceived ? 'data after end of stream' : 'peer exceeded its flow-control window'));
      return;
    }
    this.recvCredit -= data.length;
    this.received += data.length;
    this.push(data);
    this.grant();
  }

  /** @internal */
  onWindow(bytes: number): void {
    this.sendCredit += bytes;
    this.flush();
  }

  /** @internal */
  onFin(): void {
    if (this.finReceived) return;
    this.finReceived = true;
    this.push(null);
  }

  /** @internal */
  onReset(reason: string): void {
    this.rstReceived = true;
    this.destroy(resetError(`stream reset by peer: ${reason}`));
  }

  private flush(): void {
    const p = this.pending;
    if (!p) return;
    while (p.chunk.length > 0) {
      if (this.host.closed) {
        this.pending = undefined;
        p.cb(resetError('tunnel closed'));
        return;
      }
      const n = Math.min(this.sendCredit, this.maxFrame, p.chunk.length);
      if (n === 0) return; // wait for WINDOW
      this.host.send({ type: 'data', stream: this.id, data: p.chunk.subarray(0, n) });
      this.sendCredit -= n;
      p.chunk = p.chunk.subarray(n);
    }
    this.pending = undefined;
    p.cb();
  }

  /** return credit for what the reader consumed, in steps of a quarter window */
  private grant(): void {
    if (this.destroyed || this.finReceived) return;
    const consumed = this.received - this.readableLength;
    const unacked = consumed - this.granted;
    if (unacked <= 0 || unacked < this.window / 4) return;
    this.granted += unacked;
    this.recvCredit += unacked;
    this.host.send({ type: 'window', stream: this.id, bytes: unacked });
  }
}

/**
 * Many byte streams over one message link (the node tunnel's WebSocket): open/data/fin/rst per
 * stream, per-stream credit flow control, and keepalive pings so a dead link ends the session in
 * seconds rather than at the next TCP timeout.
 */
export class MuxSession {
  private readonly link: FrameLink;
  private readonly streams = new Map<number, MuxStream>();
  private readonly window: number;
  private readonly maxFrame: number;
  private readonly maxStreams: number;
  private readonly onStream: MuxSessionOptions['onStream'];
  private readonly now: () => number;
  private readonly pings = new Map<string, () => void>();
  private readonly aliveWaiters = new Set<(ok: boolean) => void>();
  private readonly host: StreamHost;
  private nextId: number;
  private lastHeard: number;
  /** when we last sent a ping, and last got one (the keepalive asks only when neither is recent) */
  private pingSentAt = -Infinity;
  private pingHeardAt = -Infinity;
  private keepaliveTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  /** the peer sends something at least this often (it said so when the link was set up), ms */
  readonly peerHeartbeatMs: number | undefined;
  /**
   * fires once the peer has been silent for its heartbeat and a fifth: armed when the session
   * starts and pushed back (`refresh`, no new timer) by every frame heard, so a waiter on a live
   * link wakes only when a heartbeat is late
   */
  private lateTimer: NodeJS.Timeout | undefined;
  /** the keepalive, when it rides on our heartbeat timer (we send one) or on the late timer (we hear one); see the constructor */
  private readonly keepaliveOnBeat: { intervalMs: number; timeoutMs: number } | undefined;
  private readonly keepaliveWhenLate: { intervalMs: number; timeoutMs: number } | undefined;
  private readonly lateWaiters = new Set<() => void>();
  private endReason: string | undefined;
  private resolveDone!: (reason: string) => void;
  /** resolves with the reason once the session has ended */
  readonly done: Promise<string>;

  constructor(opts: MuxSessionOptions) {
    this.link = opts.link;
    this.window = opts.windowBytes ?? 256 * 1024;
    this.maxFrame = opts.maxFrameBytes ?? 32 * 1024;
    this.maxStreams = opts.maxStreams ?? 1024;
    this.onStream = opts.onStream;
    this.now = opts.now ?? Date.now;
    this.nextId = opts.role === 'client' ? 1 : 2;
    this.peerHeartbeatMs = opts.peerHeartbeatMs;
    this.lastHeard = this.now();
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    const isEnded = (): boolean => this.endReason !== undefined;
    this.host = {
      send: (f) => this.send(f),
      release: (id) => {
        this.streams.delete(id);
      },
      get closed(): boolean {
        return isEnded();
      },
    };
    const ka = opts.keepalive;
    // With a heartbeat either way, the keepalive rides on the timer that is there anyway, so a
    // quiet link wakes each side once a beat, not also for a keepalive timer of its own and the
    // pings it sends (the node side of a tunnel woke ~2 times a second for it, ~0.35 ms each with
    // the interpreter-only node): the side that hears a heartbeat checks and pings from its late
    // timer, which fires only when the peer goes quiet; the side that sends one puts its ping in
    // a beat's place when one is due, so the peer's answer comes with a wake-up it has anyway.
    // Only when that timer comes at least as often as the keepalive's interval.
    const lateMs = this.heartbeatLateMs;
    this.keepaliveOnBeat = ka !== undefined && opts.heartbeatMs !== undefined && opts.heartbeatMs <= ka.intervalMs ? ka : undefined;
    this.keepaliveWhenLate = ka !== undefined && !this.keepaliveOnBeat && lateMs !== undefined && lateMs <= ka.intervalMs ? ka : undefined;
    if (ka && !this.keepaliveOnBeat && !this.keepaliveWhenLate) {
      this.keepaliveTimer = setInterval(() => {
        const now = this.now();
        if (now - this.lastHeard > ka.timeoutMs) {
          this.close(`keepalive: nothing heard for ${ka.timeoutMs} ms`);
          return;
        }
        // a ping went out (ours, or `alive()`'s: its pong will be heard) or came in (the peer's,
        // which we answer) within the interval: the link is being asked already. One side pinging
        // every interval keeps both hearing something every interval (+ a round trip), as before
        if (now - this.pingSentAt < ka.intervalMs || now - this.pingHeardAt < ka.intervalMs) return;
        this.sendAnyPing();
      }, ka.intervalMs);
      this.keepaliveTimer.unref();
    }
    if (lateMs !== undefined) {
      this.lateTimer = setTimeout(() => this.late(), lateMs);
      this.lateTimer.unref();
    }
    if (opts.heartbeatMs !== undefined) {
      const beatMs = opts.heartbeatMs;
      this.heartbeatTimer = setInterval(() => this.beat(beatMs), beatMs);
      this.heartbeatTimer.unref();
    }
  }

  get closed(): boolean {
    return this.endReason !== undefined;
  }

  get streamCount(): number {
    return this.streams.size;
  }

  /** a new stream to the peer; `meta` tells the peer what it is for */
  open(meta: Buffer | string = Buffer.alloc(0)): MuxStream {
    if (this.endReason !== undefined) throw resetError(`tunnel closed: ${this.endReason}`);
    const id = this.nextId;
    this.nextId += 2;
    const s = new MuxStream(this.host, id, this.window, this.maxFrame);
    this.streams.set(id, s);
    this.send({ type: 'open', stream: id, meta: typeof meta === 'string' ? Buffer.from(meta) : meta });
    return s;
  }

  /** round trip of one ping, ms */
  ping(signal?: AbortSignal): Promise<number> {
    if (this.endReason !== undefined) return Promise.reject(resetError(`tunnel closed: ${this.endReason}`));
    const nonce = randomBytes(8);
    const started = performance.now();
    return new Promise<number>((resolve, reject) => {
      const key = nonce.toString('hex');
      const onAbort = (): void => {
        this.pings.delete(key);
        reject(new HedgeError('Timeout', 'ping aborted'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pings.set(key, () => {
        signal?.removeEventListener('abort', onAbort);
        resolve(performance.now() - started);
      });
      this.pingSentAt = this.now();
      this.send({ type: 'ping', stream: 0, nonce });
    });
  }

  /** when something last came from the peer (the session's clock, `now`) */
  get heardAt(): number {
    return this.lastHeard;
  }

  /** ms since something last came from the peer */
  get silentMs(): number {
    return this.now() - this.lastHeard;
  }

  /** silence after which the peer's heartbeat is late: its period and a fifth (undefined without one) */
  get heartbeatLateMs(): number | undefined {
    return this.peerHeartbeatMs === undefined ? undefined : this.peerHeartbeatMs + this.peerHeartbeatMs / 5;
  }

  /**
   * Resolves once the peer's heartbeat is late (silent for `heartbeatLateMs`), at once if it is
   * already, without one, when the session ends or `signal` aborts. Waiting costs no wake-up while
   * the heartbeat arrives (the edge hub's cloud health sleeps on it).
   */
  heartbeatLate(signal: AbortSignal): Promise<void> {
    const lateMs = this.heartbeatLateMs;
    if (lateMs === undefined || this.endReason !== undefined || signal.aborted || this.silentMs >= lateMs) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        this.lateWaiters.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      this.lateWaiters.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  /**
   * Whether the peer is there: a ping, and true as soon as anything comes back from the peer (its
   * pong, or any frame: on a link busy with a stream the pong may queue behind data), false when
   * nothing does within `timeoutMs` or the session ends. One timer and one 13-byte frame: cheap
   * enough to ask twice a second (the edge hub's cloud health, while the tunnel is up).
   */
  alive(timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (this.endReason !== undefined || signal?.aborted) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const heard = (ok: boolean): void => {
        clearTimeout(t);
        signal?.removeEventListener('abort', gaveUp);
        this.aliveWaiters.delete(heard);
        resolve(ok);
      };
      const gaveUp = (): void => heard(false);
      const t = setTimeout(gaveUp, timeoutMs);
      signal?.addEventListener('abort', gaveUp, { once: true });
      this.aliveWaiters.add(heard);
      this.sendAnyPing();
    });
  }

  /** feed one message from the link */
  receive(buf: Buffer): void {
    if (this.endReason !== undefined) return;
    this.lastHeard = this.now();
    this.lateTimer?.refresh();
    if (this.aliveWaiters.size > 0) for (const w of [...this.aliveWaiters]) w(true);
    const f = decodeFrame(buf);
    if (!f) {
      this.close('protocol error: malformed frame');
      return;
    }
    switch (f.type) {
      case 'open': {
        const theirs = this.nextId % 2 === 1 ? 0 : 1;
        if (f.stream % 2 !== theirs || this.streams.has(f.stream)) {
          this.close(`protocol error: bad stream id ${f.stream}`);
          return;
        }
        if (!this.onStream || this.streams.size >= this.maxStreams) {
          this.send({ type: 'rst', stream: f.stream, reason: 'refused' });
          return;
        }
        const s = new MuxStream(this.host, f.stream, this.window, this.maxFrame);
        this.streams.set(f.stream, s);
        this.onStream(s, f.meta);
        return;
      }
      // frames for a stream already gone (reset locally, racing the peer) are dropped
      case 'data':
        this.streams.get(f.stream)?.onData(f.data);
        return;
      case 'window':
        this.streams.get(f.stream)?.onWindow(f.bytes);
        return;
      case 'fin':
        this.streams.get(f.stream)?.onFin();
        return;
      case 'rst':
        this.streams.get(f.stream)?.onReset(f.reason);
        return;
      case 'ping':
        this.pingHeardAt = this.lastHeard;
        this.send({ type: 'pong', stream: 0, nonce: f.nonce });
        return;
      case 'pong': {
        const key = f.nonce.toString('hex');
        const done = this.pings.get(key);
        this.pings.delete(key);
        done?.();
        return;
      }
      default: {
        const never: never = f;
        this.close(`protocol error: ${String(never)}`);
      }
    }
  }

  /** the link went away underneath: every stream fails */
  linkClosed(reason: string): void {
    this.end(reason, false);
  }

  close(reason = 'closed'): void {
    this.end(reason, true);
  }

  private end(reason: string, closeLink: boolean): void {
    if (this.endReason !== undefined) return;
    this.endReason = reason;
    if (this.keepaliveTimer) clearInterval(this.keepaliveTimer);
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    if (this.lateTimer) clearTimeout(this.lateTimer);
    for (const w of [...this.lateWaiters]) w();
    for (const s of [...this.streams.values()]) s.destroy(resetError(`tunnel closed: ${reason}`));
    this.streams.clear();
    this.pings.clear();
    for (const w of [...this.aliveWaiters]) w(false);
    if (closeLink) this.link.close(reason);
    this.resolveDone(reason);
  }

  /** the keepalive's checks: false when the link is dead (the session is closed), else whether a ping is due (none went either way within `dueMs`) */
  private keepaliveDue(ka: { timeoutMs: number }, dueMs: number): boolean {
    const now = this.now();
    if (now - this.lastHeard > ka.timeoutMs) {
      this.close(`keepalive: nothing heard for ${ka.timeoutMs} ms`);
      return false;
    }
    return now - this.pingSentAt >= dueMs && now - this.pingHeardAt >= dueMs;
  }

  /** the heartbeat timer: a beat, or the keepalive's ping in its place when one is due */
  private beat(beatMs: number): void {
    if (this.endReason !== undefined) return;
    const ka = this.keepaliveOnBeat;
    // due from half a beat before the interval: timer jitter must not push a ping to the beat after
    if (ka && this.keepaliveDue(ka, ka.intervalMs - beatMs / 2)) this.sendAnyPing();
    else if (this.endReason === undefined) this.link.send(HEARTBEAT);
  }

  /** the peer's heartbeat is late: wake its waiters; with the keepalive riding here, check the link and ping, and look again a beat and a fifth later while it stays quiet */
  private late(): void {
    // the timer runs on the event loop's cached clock, which can lag the one `lastHeard` is read
    // on by a loaded loop turn: fired a few ms before `silentMs` reaches the late mark, it waits
    // out the rest. (Waking the waiters then left a next `heartbeatLate()` seeing "not late yet"
    // with no timer armed: it waited for the next frame, forever on a dead link; CI, 600 s.)
    const early = (this.heartbeatLateMs ?? 0) - this.silentMs;
    if (early > 0 && this.endReason === undefined) {
      this.lateTimer = setTimeout(() => this.late(), Math.ceil(early));
      this.lateTimer.unref();
      return;
    }
    for (const w of [...this.lateWaiters]) w();
    const ka = this.keepaliveWhenLate;
    if (!ka || this.endReason !== undefined) return;
    if (this.keepaliveDue(ka, ka.intervalMs)) this.sendAnyPing();
    if (this.endReason === undefined) this.lateTimer?.refresh();
  }

  private sendAnyPing(): void {
    if (this.endReason !== undefined) return;
    this.pingSentAt = this.now();
    this.link.send(ANY_PING);
  }

  private send(f: Frame): void {
    if (this.endReason !== undefined) return;
    this.link.send(encodeFrame(f));
  }

}
