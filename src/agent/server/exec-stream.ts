import { PassThrough, Writable } from 'node:stream';
import type { WebSocket } from 'ws';
import type { ContainerId, RuntimeHandler } from '../runtime/types.ts';

/** channel numbers of the Kubernetes remotecommand WebSocket protocol */
export const Channel = { stdin: 0, stdout: 1, stderr: 2, error: 3, resize: 4, close: 255 } as const;

export const EXEC_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'] as const;

/** `Status` sent on the error channel when the command ends (what kubectl turns into its exit code). */
export function exitStatus(code: number, command: string[]): string {
  if (code === 0) return JSON.stringify({ metadata: {}, status: 'Success' });
  return JSON.stringify({
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command [${command.join(' ')}], exit code ${code}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(code) }] },
  });
}

/**
 * Bridges one WebSocket to RuntimeHandler.exec: binary frames prefixed by a channel byte.
 * v5 adds the CLOSE channel (255) so the client can end stdin without closing the socket.
 */
export async function serveExec(opts: {
  ws: WebSocket;
  handler: RuntimeHandler;
  id: ContainerId;
  command: string[];
  tty: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  signal: AbortSignal;
}): Promise<void> {
  const { ws } = opts;
  const v5 = ws.protocol === 'v5.channel.k8s.io';
  const stdin = opts.stdin ? new PassThrough() : undefined;
  const ac = new AbortController();
  const onAbort = (): void => ac.abort();
  opts.signal.addEventListener('abort', onAbort, { once: true });
  const channelWriter = (ch: number): Writable =>
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        if (ws.readyState !== ws.OPEN) return cb();
        ws.send(Buffer.concat([Buffer.from([ch]), chunk]), { binary: true }, () => cb());
      },
    });
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    const buf = isBinary ? data : Buffer.from(data.toString(), 'utf8');
    if (buf.length === 0) return;
    const ch = buf[0];
    if (ch === Channel.stdin) stdin?.write(buf.subarray(1));
    else if (ch === Channel.close && v5 && buf[1] === Channel.stdin) stdin?.end();
    // resize (4): the runtime seam has no resize yet; ignored
  });
  ws.on('close', () => {
    stdin?.end();
    ac.abort();
  });
  // Older clients expect one empty frame per open stream first (the kubelet sends it).
  if (!v5) {
    for (const [on, ch] of [[opts.stdin, Channel.stdin], [opts.stdout, Channel.stdout], [opts.stderr, Channel.stderr]] as const) {
      if (on) ws.send(Buffer.from([ch]));
    }
  }
  let status: string;
  try {
    const code = await opts.handler.exec(opts.id, {
      command: opts.command,
      tty: opts.tty,
      stdin,
      stdout: opts.stdout ? channelWriter(Channel.stdout) : undefined,
      stderr: opts.stderr && !opts.tty ? channelWriter(Channel.stderr) : undefined,
      signal: ac.signal,
    });
    status = exitStatus(code, opts.command);
  } catch (err) {
    status = JSON.stringify({ metadata: {}, status: 'Failure', message: (err as Error).message, reason: 'InternalError' });
  } finally {
    opts.signal.removeEventListener('abort', onAbort);
  }
  if (ws.readyState === ws.OPEN) {
    await new Promise<void>((resolve) => ws.send(Buffer.concat([Buffer.from([Channel.error]), Buffer.from(status)]), () => resolve()));
    ws.close(1000);
  }
}
