/**
 * The host side of the guest agent protocol (src/guest/agent/hedge-agent.c, src/guest/README.md):
 * frames `u32be len | u8 type | u32be id | payload`, len counting type+id+payload.
 * Request payloads are NUL-terminated entries whose first byte is the key, which keeps the C
 * side a few lines of parsing.
 */
export const HostFrame = { start: 1, stdin: 2, signal: 3, stats: 4, hello: 5, mount: 6, umount: 7, ack: 8, resize: 9 } as const;
export const GuestFrame = {
  hello: 0x81,
  started: 0x82,
  error: 0x83,
  stdout: 0x84,
  stderr: 0x85,
  exit: 0x86,
  stats: 0x87,
  mounted: 0x88,
  /** output with its stream offset (replaces stdout/stderr, which older guests still send) */
  output: 0x89,
  /** `u32be n`: the process took n more bytes of stdin (agent feature `stdin-window`) */
  stdinCredit: 0x8a,
} as const;

/**
 * What the guest agent speaks beyond the first protocol: the third line of its hello,
 * `agent <version> <feature>...` (a guest built before it sends two lines: version 1, nothing more).
 * `tty`: start entry `Y` (a terminal) and H_RESIZE; `stdin-window=N`: stdin buffered in the guest,
 * credited back per byte taken, at most N bytes outstanding.
 */
export interface GuestAgentInfo {
  version: number;
  tty: boolean;
  /** undefined: the guest writes stdin blocking as it arrives (no window to keep to) */
  stdinWindow?: number;
}

export function parseAgentLine(line: string | undefined): GuestAgentInfo {
  const [tag, version, ...features] = (line ?? '').trim().split(/\s+/);
  if (tag !== 'agent' || !version || !/^\d+$/.test(version)) return { version: 1, tty: false };
  const info: GuestAgentInfo = { version: Number(version), tty: features.includes('tty') };
  const w = features.find((f) => f.startsWith('stdin-window='))?.slice('stdin-window='.length);
  if (w && /^\d+$/.test(w) && Number(w) > 0) info.stdinWindow = Number(w);
  return info;
}

/** H_RESIZE payload: `u16be columns | u16be rows` */
export function encodeResize(size: { width: number; height: number }): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt16BE(Math.min(size.width, 0xffff), 0);
  b.writeUInt16BE(Math.min(size.height, 0xffff), 2);
  return b;
}

export type OutputStream = 'stdout' | 'stderr';
const STREAM_CODE: Record<OutputStream, number> = { stdout: 1, stderr: 2 };

/** G_OUTPUT payload: `u8 stream (1 stdout, 2 stderr) | u64be offset of the first byte | bytes` */
export function decodeOutput(p: Buffer): { stream: OutputStream; offset: number; data: Buffer } {
  if (p.length < 9 || (p[0] !== 1 && p[0] !== 2)) throw new Error(`bad output frame (${p.length} bytes, stream ${p[0]})`);
  return { stream: p[0] === 1 ? 'stdout' : 'stderr', offset: Number(p.readBigUInt64BE(1)), data: p.subarray(9) };
}

export function encodeOutput(stream: OutputStream, offset: number, data: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUInt8(STREAM_CODE[stream], 0);
  h.writeBigUInt64BE(BigInt(offset), 1);
  return Buffer.concat([h, data]);
}

/** H_ACK payload: `u8 stream | u64be offset`: the host's log holds the stream's bytes up to there */
export function encodeAck(stream: OutputStream, offset: number): Buffer {
  const b = Buffer.alloc(9);
  b.writeUInt8(STREAM_CODE[stream], 0);
  b.writeBigUInt64BE(BigInt(offset), 1);
  return b;
}

/** H_HELLO payload: where each process stream resumes, `u32be id | u8 stream | u64be offset` repeated */
export function encodeResume(entries: { id: number; stream: OutputStream; offset: number }[]): Buffer {
  const b = Buffer.alloc(entries.length * 13);
  entries.forEach((e, i) => {
    b.writeUInt32BE(e.id >>> 0, i * 13);
    b.writeUInt8(STREAM_CODE[e.stream], i * 13 + 4);
    b.writeBigUInt64BE(BigInt(e.offset), i * 13 + 5);
  });
  return b;
}

export interface Frame {
  type: number;
  id: number;
  payload: Buffer;
}

export const MAX_FRAME = 1 << 20;

export function encodeFrame(type: number, id: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(9);
  h.writeUInt32BE(payload.length + 5, 0);
  h.writeUInt8(type, 4);
  h.writeUInt32BE(id >>> 0, 5);
  return Buffer.concat([h, payload]);
}

/** Key-prefixed NUL-terminated entries; values must not contain NUL. */
export function encodeEntries(entries: [string, string][]): Buffer {
  const parts: Buffer[] = [];
  for (const [k, v] of entries) {
    if (k.length !== 1) throw new Error(`entry key must be one character: ${k}`);
    if (v.includes('\0')) throw new Error(`entry ${k} contains NUL`);
    parts.push(Buffer.from(`${k}${v}\0`));
  }
  return Buffer.concat(parts);
}

/** Incremental decoder for a byte stream. */
export class FrameDecoder {
  #buf: Buffer = Buffer.alloc(0);
  push(chunk: Buffer): Frame[] {
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, chunk]) : chunk;
    const out: Frame[] = [];
    for (;;) {
      if (this.#buf.length < 9) break;
      const len = this.#buf.readUInt32BE(0);
      if (len < 5 || len > MAX_FRAME) throw new Error(`bad frame length ${len}`);
      if (this.#buf.length < len + 4) break;
      out.push({ type: this.#buf.readUInt8(4), id: this.#buf.readUInt32BE(5), payload: Buffer.from(this.#buf.subarray(9, len + 4)) });
      this.#buf = this.#buf.subarray(len + 4);
    }
    return out;
  }
}

/** Decodes the guest's wait(2) status the way a shell and the kubelet report it. */
export function exitCodeOf(status: number): { exitCode: number; signal?: number } {
  const sig = status & 0x7f;
  if (sig === 0) return { exitCode: (status >> 8) & 0xff };
  return { exitCode: 128 + sig, signal: sig };
}
