import { join } from 'node:path';
import type { WebSocket } from 'ws';
import { HedgeError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import { readCriLog } from '../logs/index.ts';
import type { ContainerId, RuntimeHandler } from '../runtime/types.ts';
import { announceStreams, Channel, channelWriter, clientFrames, failureStatus, finish } from './stream-channels.ts';

const SUCCESS = JSON.stringify({ metadata: {}, status: 'Success' });

export interface AttachOptions {
  ws: WebSocket;
  handler: RuntimeHandler;
  id: ContainerId;
  loc: { logDir: string; restartCount: number };
  tty: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  signal: AbortSignal;
  logger: Logger;
}

/**
 * `kubectl attach` (and `run -i`, `debug -i`): a session with the container's own process through
 * the handler's attach capability — its output from now on, stdin (channel 0, ended by the v5
 * close frame) to the container's, resize (channel 4) to its terminal — then a `Success` status
 * once the process has exited, as the kubelet sends. A handler without the capability gets the
 * output read from the CRI log, and `stdin` is refused naming the runtime.
 */
export async function serveAttach(opts: AttachOptions): Promise<void> {
  const { ws, handler, id } = opts;
  const ac = new AbortController();
  const onAbort = (): void => ac.abort();
  opts.signal.addEventListener('abort', onAbort, { once: true });
  ws.on('close', () => ac.abort());
  const resize = handler.resizeTerminal?.bind(handler);
  // one resize at a time, in the order they came: kubectl sends the size one larger, then the size
  // (to force a redraw), and two writes side by side could land in the other order, leaving the
  // terminal at the larger size
  let resizing = Promise.resolve();
  const { stdin } = clientFrames(ws, {
    stdin: opts.stdin,
    ...(opts.tty && resize
      ? {
          onResize: (size: { width: number; height: number }) => {
            resizing = resizing.then(() => resize(id, size, ac.signal).catch((err: unknown) => opts.logger.warn({ err, container: id }, 'terminal resize failed')));
          },
        }
      : {}),
  });
  let status = SUCCESS;
  try {
    if (!handler.attach) {
      if (opts.stdin) throw new HedgeError('BadRequest', `runtime handler "${handler.name}" cannot pass stdin to a container's own process (attach shows its output only): attach without -i`);
      announceStreams(ws, opts);
      await followCriLog(opts, ac.signal);
    } else {
      announceStreams(ws, opts);
      await handler.attach(id, {
        stdin,
        stdout: opts.stdout ? channelWriter(ws, Channel.stdout) : undefined,
        stderr: opts.stderr && !opts.tty ? channelWriter(ws, Channel.stderr) : undefined,
        signal: ac.signal,
      });
    }
  } catch (err) {
    status = failureStatus(err);
  } finally {
    opts.signal.removeEventListener('abort', onAbort);
  }
  await finish(ws, status);
}

/** the output from now on, as the runtime writes it to the CRI log (stdout on 1, stderr on 2, both on 1 with a TTY) */
async function followCriLog(opts: AttachOptions, signal: AbortSignal): Promise<void> {
  const { ws } = opts;
  const lines = readCriLog({ current: join(opts.loc.logDir, `${opts.loc.restartCount}.log`) }, { follow: true, tailLines: 0, signal, pollMs: 100 });
  for await (const l of lines) {
    const ch = l.stream === 'stderr' && !opts.tty ? Channel.stderr : Channel.stdout;
    if ((ch === Channel.stdout && !opts.stdout) || (ch === Channel.stderr && !opts.stderr)) continue;
    if (ws.readyState !== ws.OPEN) break;
    ws.send(Buffer.concat([Buffer.from([ch]), Buffer.from(`${l.message}\n`)]));
  }
}
