import { Duplex } from 'node:stream';
import { constants as zc, createDeflate, createInflate, type Deflate, type Inflate } from 'node:zlib';

/**
 * The SPDY/3.1 header-compression dictionary (the protocol constant from the SPDY/3 draft, as
 * moby/spdystream, which kubectl uses, carries it). Header blocks are zlib streams primed with it.
 */
const DICTIONARY = Buffer.from(
  'AAAAB29wdGlvbnMAAAAEaGVhZAAAAARwb3N0AAAAA3B1dAAAAAZkZWxldGUAAAAFdHJhY2UAAAAGYWNjZXB0AAAADmFjY2VwdC1jaGFyc2V0AAAAD2FjY2VwdC1lbmNvZGluZwAAAA9hY2NlcHQtbGFuZ3VhZ2UAAAANYWNjZXB0LXJhbmdlcwAAAANhZ2UAAAAFYWxsb3cAAAANYXV0aG9yaXphdGlvbgAAAA1jYWNoZS1jb250cm9sAAAACmNvbm5lY3Rpb24AAAAMY29udGVudC1iYXNlAAAAEGNvbnRlbnQtZW5jb2RpbmcAAAAQY29udGVudC1sYW5ndWFnZQAAAA5jb250ZW50LWxlbmd0aAAAABBjb250ZW50LWxvY2F0aW9uAAAAC2NvbnRlbnQtbWQ1AAAADWNvbnRlbnQtcmFuZ2UAAAAMY29udGVudC10eXBlAAAABGRhdGUAAAAEZXRhZwAAAAZleHBlY3QAAAAHZXhwaXJlcwAAAARmcm9tAAAABGhvc3QAAAAIaWYtbWF0Y2gAAAARaWYtbW9kaWZpZWQtc2luY2UAAAANaWYtbm9uZS1tYXRjaAAAAAhpZi1yYW5nZQAAABNpZi11bm1vZGlmaWVkLXNpbmNlAAAADWxhc3QtbW9kaWZpZWQAAAAIbG9jYXRpb24AAAAMbWF4LWZvcndhcmRzAAAABnByYWdtYQAAABJwcm94eS1hdXRoZW50aWNhdGUAAAATcHJveHktYXV0aG9yaXphdGlvbgAAAAVyYW5nZQAAAAdyZWZlcmVyAAAAC3JldHJ5LWFmdGVyAAAABnNlcnZlcgAAAAJ0ZQAAAAd0cmFpbGVyAAAAEXRyYW5zZmVyLWVuY29kaW5nAAAAB3VwZ3JhZGUAAAAKdXNlci1hZ2VudAAAAAR2YXJ5AAAAA3ZpYQAAAAd3YXJuaW5nAAAAEHd3dy1hdXRoZW50aWNhdGUAAAAGbWV0aG9kAAAAA2dldAAAAAZzdGF0dXMAAAAGMjAwIE9LAAAAB3ZlcnNpb24AAAAISFRUUC8xLjEAAAADdXJsAAAABnB1YmxpYwAAAApzZXQtY29va2llAAAACmtlZXAtYWxpdmUAAAAGb3JpZ2luMTAwMTAxMjAxMjAyMjA1MjA2MzAwMzAyMzAzMzA0MzA1MzA2MzA3NDAyNDA1NDA2NDA3NDA4NDA5NDEwNDExNDEyNDEzNDE0NDE1NDE2NDE3NTAyNTA0NTA1MjAzIE5vbi1BdXRob3JpdGF0aXZlIEluZm9ybWF0aW9uMjA0IE5vIENvbnRlbnQzMDEgTW92ZWQgUGVybWFuZW50bHk0MDAgQmFkIFJlcXVlc3Q0MDEgVW5hdXRob3JpemVkNDAzIEZvcmJpZGRlbjQwNCBOb3QgRm91bmQ1MDAgSW50ZXJuYWwgU2VydmVyIEVycm9yNTAxIE5vdCBJbXBsZW1lbnRlZDUwMyBTZXJ2aWNlIFVuYXZhaWxhYmxlSmFuIEZlYiBNYXIgQXByIE1heSBKdW4gSnVsIEF1ZyBTZXB0IE9jdCBOb3YgRGVjIDAwOjAwOjAwIE1vbiwgVHVlLCBXZWQsIFRodSwgRnJpLCBTYXQsIFN1biwgR01UY2h1bmtlZCx0ZXh0L2h0bWwsaW1hZ2UvcG5nLGltYWdlL2pwZyxpbWFnZS9naWYsYXBwbGljYXRpb24veG1sLGFwcGxpY2F0aW9uL3hodG1sK3htbCx0ZXh0L3BsYWluLHRleHQvamF2YXNjcmlwdCxwdWJsaWNwcml2YXRlbWF4LWFnZT1nemlwLGRlZmxhdGUsc2RjaGNoYXJzZXQ9dXRmLThjaGFyc2V0PWlzby04ODU5LTEsdXRmLSwqLGVucT0wLg==',
  'base64',
);

const VERSION = 3;
const T = { synStream: 1, synReply: 2, rstStream: 3, settings: 4, ping: 6, goAway: 7, headers: 8, windowUpdate: 9 } as const;
const FLAG_FIN = 0x01;
const RST_CANCEL = 5;
const RST_PROTOCOL_ERROR = 1;
const MAX_DATA = 32 * 1024;

/** Run one zlib step (sync flush) on a long-lived stream and collect exactly its output. */
function zStep(z: Inflate | Deflate, input: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    z.once('error', onError);
    z.write(input);
    z.flush(zc.Z_SYNC_FLUSH, () => {
      z.off('error', onError);
      const out: Buffer[] = [];
      for (let c = z.read() as Buffer | null; c !== null; c = z.read() as Buffer | null) out.push(c);
      resolve(Buffer.concat(out));
    });
  });
}

export type SpdyHeaders = Record<string, string>;

function parseHeaderBlock(buf: Buffer): SpdyHeaders {
  const out: SpdyHeaders = {};
  let off = 0;
  const need = (n: number): void => {
    if (off + n > buf.length) throw new Error('truncated header block');
  };
  need(4);
  const count = buf.readUInt32BE(off);
  off += 4;
  for (let i = 0; i < count; i++) {
    need(4);
    const nl = buf.readUInt32BE(off);
    off += 4;
    need(nl);
    const name = buf.toString('utf8', off, off + nl).toLowerCase();
    off += nl;
    need(4);
    const vl = buf.readUInt32BE(off);
    off += 4;
    need(vl);
    // several values are NUL-separated; the first is what the port-forward protocol reads
    out[name] = buf.toString('utf8', off, off + vl).split('\0')[0];
    off += vl;
  }
  return out;
}

function headerBlock(h: SpdyHeaders): Buffer {
  const parts: Buffer[] = [];
  const u32 = (n: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  const entries = Object.entries(h);
  parts.push(u32(entries.length));
  for (const [k, v] of entries) {
    const kb = Buffer.from(k.toLowerCase());
    const vb = Buffer.from(v);
    parts.push(u32(kb.length), kb, u32(vb.length), vb);
  }
  return Buffer.concat(parts);
}

function controlFrame(type: number, flags: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(0x8000 | VERSION, 0);
  h.writeUInt16BE(type, 2);
  h.writeUInt32BE(payload.length, 4);
  h.writeUInt8(flags, 4);
  return Buffer.concat([h, payload]);
}

function dataFrame(stream: number, flags: number, data: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt32BE(stream & 0x7fffffff, 0);
  h.writeUInt32BE(data.length, 4);
  h.writeUInt8(flags, 4);
  return Buffer.concat([h, data]);
}

/** One SPDY stream the peer opened. Reply before writing (SpdySession does it on accept). */
export class SpdyStream extends Duplex {
  readonly id: number;
  readonly headers: SpdyHeaders;
  private readonly session: SpdySession;
  finSent = false;
  finReceived = false;
  rstReceived = false;

  constructor(session: SpdySession, id: number, headers: SpdyHeaders) {
    super({ allowHalfOpen: true });
    this.session = session;
    this.id = id;
    this.headers = headers;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    const frames: Buffer[] = [];
    for (let off = 0; off < chunk.length; off += MAX_DATA) frames.push(dataFrame(this.id, 0, chunk.subarray(off, off + MAX_DATA)));
    this.session.enqueue(() => Buffer.concat(frames)).then(() => cb(), cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.finSent = true;
    this.session.enqueue(() => dataFrame(this.id, FLAG_FIN, Buffer.alloc(0))).then(() => cb(), cb);
  }

  override _read(): void {
    this.session.resume();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.rstReceived && !(this.finSent && this.finReceived)) this.session.reset(this.id, RST_CANCEL);
    this.session.forget(this.id);
    cb(err);
  }
}

/**
 * The server side of a SPDY/3.1 connection, as much of it as kubectl's port-forward uses: the
 * client opens streams (SYN_STREAM), we accept them (SYN_REPLY) and exchange DATA, FIN and
 * RST_STREAM; PINGs are answered. Like moby/spdystream we keep no flow-control windows; a
 * stream whose reader falls behind pauses the connection's socket instead.
 */
export class SpdySession {
  private readonly socket: Duplex;
  private readonly streams = new Map<number, SpdyStream>();
  private readonly inflate = createInflate({ dictionary: DICTIONARY });
  private readonly deflate = createDeflate({ dictionary: DICTIONARY });
  private readonly onStream: (s: SpdyStream) => void;
  private buf: Buffer = Buffer.alloc(0);
  private inQueue: Promise<void> = Promise.resolve();
  private outQueue: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(socket: Duplex, onStream: (s: SpdyStream) => void) {
    this.socket = socket;
    this.onStream = onStream;
    socket.on('data', (c: Buffer) => this.onBytes(c));
    socket.on('close', () => this.close());
    socket.on('error', () => this.close());
  }

  /** write a frame after every frame enqueued before it (SYN_REPLY compression is asynchronous) */
  enqueue(make: () => Buffer | Promise<Buffer>): Promise<void> {
    const p = this.outQueue.then(async () => {
      if (this.closed) throw new Error('SPDY connection closed');
      const frame = await make();
      if (!this.socket.write(frame)) await new Promise<void>((r) => this.socket.once('drain', r));
    });
    this.outQueue = p.catch(() => undefined);
    return p;
  }

  reset(id: number, status: number): void {
    const p = Buffer.alloc(8);
    p.writeUInt32BE(id & 0x7fffffff, 0);
    p.writeUInt32BE(status, 4);
    this.enqueue(() => controlFrame(T.rstStream, 0, p)).catch(() => undefined);
  }

  forget(id: number): void {
    this.streams.delete(id);
  }

  resume(): void {
    if (!this.closed) this.socket.resume();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of [...this.streams.values()]) s.destroy();
    this.streams.clear();
    this.inflate.close();
    this.deflate.close();
    this.socket.destroy();
  }

  private onBytes(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    while (this.buf.length >= 8) {
      const len = this.buf.readUInt32BE(4) & 0xffffff;
      if (this.buf.length < 8 + len) break;
      const frame = this.buf.subarray(0, 8 + len);
      this.buf = this.buf.subarray(8 + len);
      this.inQueue = this.inQueue.then(() => this.handle(frame)).catch(() => this.close());
    }
  }

  private async handle(f: Buffer): Promise<void> {
    if (this.closed) return;
    const flags = f.readUInt8(4);
    const payload = f.subarray(8);
    if ((f.readUInt8(0) & 0x80) === 0) {
      const s = this.streams.get(f.readUInt32BE(0) & 0x7fffffff);
      if (!s) return;
      if (payload.length > 0 && !s.push(Buffer.from(payload))) this.socket.pause();
      if (flags & FLAG_FIN) {
        s.finReceived = true;
        s.push(null);
      }
      return;
    }
    const type = f.readUInt16BE(2);
    switch (type) {
      case T.synStream: {
        const id = payload.readUInt32BE(0) & 0x7fffffff;
        const headers = parseHeaderBlock(await zStep(this.inflate, payload.subarray(10)));
        if (id % 2 === 0 || this.streams.has(id)) {
          this.reset(id, RST_PROTOCOL_ERROR);
          return;
        }
        const s = new SpdyStream(this, id, headers);
        this.streams.set(id, s);
        const reply = Buffer.alloc(4);
        reply.writeUInt32BE(id);
        // accepted as soon as it arrives (the kubelet replies with no headers before using a stream)
        await this.enqueue(async () => controlFrame(T.synReply, 0, Buffer.concat([reply, await zStep(this.deflate, headerBlock({}))])));
        if (flags & FLAG_FIN) {
          s.finReceived = true;
          s.push(null);
        }
        this.onStream(s);
        return;
      }
      case T.rstStream: {
        const s = this.streams.get(payload.readUInt32BE(0) & 0x7fffffff);
        if (s) {
          s.rstReceived = true;
          s.destroy();
        }
        return;
      }
      case T.ping:
        await this.enqueue(() => controlFrame(T.ping, 0, Buffer.from(payload)));
        return;
      case T.goAway:
        // the client is done: nothing new will arrive; open streams finish on their own
        return;
      case T.headers:
        // headers after the first frame carry nothing the port-forward protocol uses, but the
        // decompressor must still see them to stay in step
        await zStep(this.inflate, payload.subarray(4));
        return;
      default:
        // SETTINGS, WINDOW_UPDATE and anything newer: no flow control here
        return;
    }
  }
}
