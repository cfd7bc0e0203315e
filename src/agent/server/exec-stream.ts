import type { WebSocket } from 'ws';
import type { ContainerId, RuntimeHandler, TerminalSize } from '../runtime/types.ts';
import { announceStreams, Channel, channelWriter, clientFrames, failureStatus, finish, TerminalSizeFeed } from './stream-channels.ts';

export { Channel, EXEC_PROTOCOLS } from './stream-channels.ts';

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

/** Bridges one WebSocket to RuntimeHandler.exec (stream-channels.ts has the protocol). */
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
  const ac = new AbortController();
  const onAbort = (): void => ac.abort();
  opts.signal.addEventListener('abort', onAbort, { once: true });
  // resize (4) goes to the handler (the microVM's guest sizes its pty, the OCI handler pty-run's terminal)
  const sizes = opts.tty ? new TerminalSizeFeed() : undefined;
  const { stdin } = clientFrames(ws, { stdin: opts.stdin, ...(sizes ? { onResize: (size: TerminalSize) => sizes.push(size) } : {}) });
  ws.on('close', () => ac.abort());
  announceStreams(ws, opts);
  let status: string;
  try {
    const code = await opts.handler.exec(opts.id, {
      command: opts.command,
      tty: opts.tty,
      ...(sizes ? { terminalSizes: sizes } : {}),
      stdin,
      stdout: opts.stdout ? channelWriter(ws, Channel.stdout) : undefined,
      stderr: opts.stderr && !opts.tty ? channelWriter(ws, Channel.stderr) : undefined,
      signal: ac.signal,
    });
    status = exitStatus(code, opts.command);
  } catch (err) {
    status = failureStatus(err);
  } finally {
    opts.signal.removeEventListener('abort', onAbort);
  }
  await finish(ws, status);
}
