/**
 * The Kubernetes remotecommand WebSocket protocol (v4/v5.channel.k8s.io) that exec and attach
 * share: binary frames prefixed by a channel byte. v5 adds the CLOSE channel (255) so the client
 * can end stdin without closing the socket.
 */
import { PassThrough, Writable } from 'node:stream';
import type { WebSocket } from 'ws';
import type { TerminalSize, TerminalSizes } from '../runtime/types.ts';

/** channel numbers of the Kubernetes remotecommand WebSocket protocol */
export const Channel = { stdin: 0, stdout: 1, stderr: 2, error: 3, resize: 4, close: 255 } as const;

export const EXEC_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'] as const;

/** a Writable whose chunks go out as frames of one channel (dropped once the socket is closed) */
export function channelWriter(ws: WebSocket, ch: number): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (ws.readyState !== ws.OPEN) return cb();
      ws.send(Buffer.concat([Buffer.from([ch]), chunk]), { binary: true }, () => cb());
    },
  });
}

/** A terminal size from the resize channel (`{"Width":80,"Height":24}`, client-go's TerminalSize); undefined if malformed. */
export function parseTerminalSize(payload: Buffer): { width: number; height: number } | undefined {
  let v: unknown;
  try {
    v = JSON.parse(payload.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const { Width: width, Height: height } = v as { Width?: unknown; Height?: unknown };
  if (typeof width !== 'number' || typeof height !== 'number' || !Number.isInteger(width) || !Number.isInteger(height) || width < 0 || height < 0 || width > 65535 || height > 65535) return undefined;
  return { width, height };
}

/** The resize channel's sizes for a handler (TerminalSizes): listeners get the latest size at once, then each new one. */
export class TerminalSizeFeed implements TerminalSizes {
  #latest: TerminalSize | undefined;
  readonly #listeners = new Set<(size: TerminalSize) => void>();

  push(size: TerminalSize): void {
    this.#latest = size;
    for (const fn of this.#listeners) fn(size);
  }

  onResize(fn: (size: TerminalSize) => void): () => void {
    this.#listeners.add(fn);
    if (this.#latest) fn(this.#latest);
    return () => this.#listeners.delete(fn);
  }
}

/**
 * The client's frames: stdin (channel 0) into the returned stream when `stdin` is on, ended by the
 * v5 close frame or the socket's close; resize (channel 4) to `onResize`.
 */
export function clientFrames(ws: WebSocket, o: { stdin: boolean; onResize?: (size: { width: number; height: number }) => void }): { stdin: PassThrough | undefined } {
  const v5 = ws.protocol === 'v5.channel.k8s.io';
  const stdin = o.stdin ? new PassThrough() : undefined;
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    const buf = isBinary ? data : Buffer.from(data.toString(), 'utf8');
    if (buf.length === 0) return;
    const ch = buf[0];
    if (ch === Channel.stdin) stdin?.write(buf.subarray(1));
    else if (ch === Channel.close && v5 && buf[1] === Channel.stdin) stdin?.end();
    else if (ch === Channel.resize && o.onResize) {
      const size = parseTerminalSize(buf.subarray(1));
      if (size) o.onResize(size);
    }
  });
  ws.on('close', () => stdin?.end());
  return { stdin };
}

/** Older clients expect one empty frame per open stream first (the kubelet sends it). */
export function announceStreams(ws: WebSocket, streams: { stdin: boolean; stdout: boolean; stderr: boolean }): void {
  if (ws.protocol === 'v5.channel.k8s.io') return;
  for (const [on, ch] of [[streams.stdin, Channel.stdin], [streams.stdout, Channel.stdout], [streams.stderr, Channel.stderr]] as const) {
    if (on) ws.send(Buffer.from([ch]));
  }
}

/** a Failure `Status` for the error channel */
export function failureStatus(err: unknown, reason = 'InternalError'): string {
  return JSON.stringify({ metadata: {}, status: 'Failure', message: (err as Error).message, reason });
}

/** sends the final `Status` on the error channel and closes the socket (normal closure) */
export async function finish(ws: WebSocket, status: string): Promise<void> {
  if (ws.readyState !== ws.OPEN) return;
  await new Promise<void>((resolve) => ws.send(Buffer.concat([Buffer.from([Channel.error]), Buffer.from(status)]), () => resolve()));
  ws.close(1000);
}
