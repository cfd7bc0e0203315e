/**
 * Wire format of the stream multiplexer: one frame per transport message (a WebSocket binary
 * message), a 5-byte header `type:u8 stream:u32be` then the payload.
 */
export type Frame =
  | { type: 'open'; stream: number; meta: Buffer }
  | { type: 'data'; stream: number; data: Buffer }
  /** the receiver consumed `bytes` more: the sender may send that much more */
  | { type: 'window'; stream: number; bytes: number }
  /** half-close: the sender sends no more data on this stream */
  | { type: 'fin'; stream: number }
  /** abort the stream both ways */
  | { type: 'rst'; stream: number; reason: string }
  | { type: 'ping'; stream: 0; nonce: Buffer }
  | { type: 'pong'; stream: 0; nonce: Buffer };

export type FrameType = Frame['type'];

const codes: Record<FrameType, number> = { open: 1, data: 2, window: 3, fin: 4, rst: 5, ping: 6, pong: 7 };
export const HEADER_BYTES = 5;

export function encodeFrame(f: Frame): Buffer {
  let payload: Buffer;
  switch (f.type) {
    case 'open':
      payload = f.meta;
      break;
    case 'data':
      payload = f.data;
      break;
    case 'window':
      payload = Buffer.alloc(4);
      payload.writeUInt32BE(f.bytes);
      break;
    case 'fin':
      payload = Buffer.alloc(0);
      break;
    case 'rst':
      payload = Buffer.from(f.reason.slice(0, 512), 'utf8');
      break;
    case 'ping':
    case 'pong':
      payload = f.nonce;
      break;
    default: {
      const never: never = f;
      throw new Error(`unknown frame ${String(never)}`);
    }
  }
  const out = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  out.writeUInt8(codes[f.type], 0);
  out.writeUInt32BE(f.stream, 1);
  payload.copy(out, HEADER_BYTES);
  return out;
}

/** undefined for a malformed frame (the session treats it as a protocol error) */
export function decodeFrame(buf: Buffer): Frame | undefined {
  if (buf.length < HEADER_BYTES) return undefined;
  const stream = buf.readUInt32BE(1);
  const payload = buf.subarray(HEADER_BYTES);
  switch (buf.readUInt8(0)) {
    case 1:
      return stream === 0 ? undefined : { type: 'open', stream, meta: payload };
    case 2:
      return stream === 0 ? undefined : { type: 'data', stream, data: payload };
    case 3:
      return stream === 0 || payload.length !== 4 ? undefined : { type: 'window', stream, bytes: payload.readUInt32BE(0) };
    case 4:
      return stream === 0 ? undefined : { type: 'fin', stream };
    case 5:
      return stream === 0 ? undefined : { type: 'rst', stream, reason: payload.toString('utf8') };
    case 6:
      return stream !== 0 ? undefined : { type: 'ping', stream: 0, nonce: payload };
    case 7:
      return stream !== 0 ? undefined : { type: 'pong', stream: 0, nonce: payload };
    default:
      return undefined;
  }
}
