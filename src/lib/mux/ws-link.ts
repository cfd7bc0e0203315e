import type { WebSocket } from 'ws';
import { MuxSession, type MuxSessionOptions } from './mux-session.ts';

/** largest DATA payload on a WebSocket link; the receiving side caps messages just above it */
export const MUX_MAX_FRAME = 32 * 1024;

/**
 * The response header of a tunnel upgrade that grants the node's `heartbeatMs` query parameter:
 * the apiserver then sends a frame the node does not answer every that many ms (MuxSession
 * `heartbeatMs`), and the node's hub, hearing them, need not ping for the cloud's health. An
 * apiserver without it ignores the parameter, and the node pings as before.
 */
export const HEARTBEAT_HEADER = 'x-hedge-heartbeat-ms';
/** heartbeat periods a node may ask for, ms */
export const HEARTBEAT_RANGE = { min: 100, max: 60_000 } as const;

/** Ends a WebSocket: a close frame first, and the socket is cut if the peer never answers it (a dead link). */
export function closeSocket(ws: WebSocket, reason: string): void {
  // close reasons are limited to 123 bytes
  ws.close(4000, Buffer.from(reason).subarray(0, 120).toString());
  setTimeout(() => ws.terminate(), 1_000).unref();
}

/** A session over an open WebSocket: one frame per binary message. */
export function wsMuxSession(ws: WebSocket, opts: Omit<MuxSessionOptions, 'link' | 'maxFrameBytes'>): MuxSession {
  const session = new MuxSession({
    ...opts,
    maxFrameBytes: MUX_MAX_FRAME,
    link: {
      send: (b) => ws.send(b, { binary: true }),
      close: (reason) => closeSocket(ws, reason),
    },
  });
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (!isBinary) {
      session.close('protocol error: text message');
      return;
    }
    session.receive(data);
  });
  ws.on('close', (code: number, reason: Buffer) => session.linkClosed(`connection closed (${code}${reason.length ? ` ${reason.toString()}` : ''})`));
  ws.on('error', (err: Error) => session.linkClosed(err.message));
  return session;
}
