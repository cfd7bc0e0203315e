/**
 * What conmon-attach.c writes to its stdout: each packet of conmon's attach socket as a frame
 * `u32be length | packet`; a packet is conmon's stream byte then the bytes of that stream. The
 * first frame is empty: the socket is connected.
 */
import { HedgeError } from '../../../../lib/errors.ts';

/** conmon's stream bytes (its `stdpipe_t`: NO_PIPE, STDIN_PIPE, STDOUT_PIPE, STDERR_PIPE) */
export const ConmonStream = { stdout: 2, stderr: 3 } as const;

/** the largest packet the helper passes on (PKT_MAX in conmon-attach.c) */
export const MAX_PACKET = 65536;

export type AttachFrame = { kind: 'connected' } | { kind: 'output'; stream: 'stdout' | 'stderr'; data: Buffer };

/** Splits the helper's byte stream back into frames, whatever the chunks it arrives in. */
export class AttachFrameDecoder {
  #pending: Buffer[] = [];
  #pendingBytes = 0;

  /** the frames complete with this chunk; a malformed stream throws (the helper is ours: a bug, not input) */
  push(chunk: Buffer): AttachFrame[] {
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.length;
    let buf = this.#pending.length === 1 ? this.#pending[0] : Buffer.concat(this.#pending, this.#pendingBytes);
    const out: AttachFrame[] = [];
    while (buf.length >= 4) {
      const n = buf.readUInt32BE(0);
      if (n > MAX_PACKET) throw new HedgeError('Internal', `attach helper: frame of ${n} bytes (at most ${MAX_PACKET})`);
      if (buf.length < 4 + n) break;
      out.push(decodePacket(buf.subarray(4, 4 + n)));
      buf = buf.subarray(4 + n);
    }
    this.#pending = buf.length > 0 ? [buf] : [];
    this.#pendingBytes = buf.length;
    return out;
  }

  /** bytes of an unfinished frame */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }
}

function decodePacket(p: Buffer): AttachFrame {
  if (p.length === 0) return { kind: 'connected' };
  switch (p[0]) {
    case ConmonStream.stdout:
      return { kind: 'output', stream: 'stdout', data: p.subarray(1) };
    case ConmonStream.stderr:
      return { kind: 'output', stream: 'stderr', data: p.subarray(1) };
    default:
      throw new HedgeError('Internal', `attach socket: packet of unknown stream ${p[0]}`);
  }
}

/** conmon's control FIFO line for a terminal resize (WIN_RESIZE_EVENT); conmon takes 0–1000 each */
export function resizeMessage(size: { width: number; height: number }): string {
  const ok = (v: number): boolean => Number.isInteger(v) && v >= 0 && v <= 1000;
  if (!ok(size.width) || !ok(size.height)) throw new HedgeError('BadRequest', `terminal size ${size.width}x${size.height}: width and height must be whole numbers from 0 to 1000`);
  return `1 ${size.height} ${size.width}\n`;
}
