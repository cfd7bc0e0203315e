import { join } from 'node:path';
import type { WebSocket } from 'ws';
import { readCriLog } from '../logs/index.ts';
import { Channel } from './exec-stream.ts';

/**
 * `kubectl attach`: the container's output from now on, read from its CRI log as the runtime
 * writes it (stdout on channel 1, stderr on 2, both on 1 with a TTY). The runtimes keep no stdin
 * pipe open for later attachment, so input is read and dropped.
 */
export async function serveAttach(opts: {
  ws: WebSocket;
  loc: { logDir: string; restartCount: number };
  tty: boolean;
  stdout: boolean;
  stderr: boolean;
  signal: AbortSignal;
}): Promise<void> {
  const { ws } = opts;
  const ac = new AbortController();
  const onAbort = (): void => ac.abort();
  opts.signal.addEventListener('abort', onAbort, { once: true });
  ws.on('close', () => ac.abort());
  ws.on('message', () => undefined);
  if (ws.protocol !== 'v5.channel.k8s.io') {
    for (const [on, ch] of [[opts.stdout, Channel.stdout], [opts.stderr, Channel.stderr]] as const) if (on) ws.send(Buffer.from([ch]));
  }
  try {
    const lines = readCriLog(
      { current: join(opts.loc.logDir, `${opts.loc.restartCount}.log`) },
      { follow: true, tailLines: 0, signal: ac.signal, pollMs: 100 },
    );
    for await (const l of lines) {
      const ch = l.stream === 'stderr' && !opts.tty ? Channel.stderr : Channel.stdout;
      if ((ch === Channel.stdout && !opts.stdout) || (ch === Channel.stderr && !opts.stderr)) continue;
      if (ws.readyState !== ws.OPEN) break;
      ws.send(Buffer.concat([Buffer.from([ch]), Buffer.from(`${l.message}\n`)]));
    }
  } catch (err) {
    if (!ac.signal.aborted && ws.readyState === ws.OPEN) {
      ws.send(Buffer.concat([Buffer.from([Channel.error]), Buffer.from(JSON.stringify({ metadata: {}, status: 'Failure', message: (err as Error).message, reason: 'InternalError' }))]));
    }
  } finally {
    opts.signal.removeEventListener('abort', onAbort);
  }
  if (ws.readyState === ws.OPEN) ws.close(1000);
}
