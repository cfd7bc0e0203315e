/**
 * One attach session over conmon's attach socket, through the conmon-attach helper (Node has no
 * SOCK_SEQPACKET): the container's output from now on to the caller's streams, the caller's stdin
 * to the container's. See ../README.md for what conmon does with it.
 */
import { spawn } from 'node:child_process';
import { HedgeError } from '../../../../lib/errors.ts';
import { whenAborted } from '../../../../lib/signals.ts';
import { AttachFrameDecoder } from './attach-frames.ts';

export interface ConmonAttachOptions {
  /** the built helper (attach-helper.ts) */
  helper: string;
  /** conmon's attach socket */
  socket: string;
  /** its end half-closes the socket: conmon then closes the container's stdin unless --leave-stdin-open */
  stdin?: NodeJS.ReadableStream;
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
  /** a terminal has one output stream: everything goes to stdout */
  tty: boolean;
  /** ends the session (the socket is closed, which for a stdinOnce container closes its stdin) */
  signal: AbortSignal;
  /** called once the socket is connected (output from then on reaches the caller) */
  onConnected?: () => void;
}

/** Resolves when conmon closes the socket (the container exited) or the signal ends the session. */
export function attachToConmon(o: ConmonAttachOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    if (o.signal.aborted) {
      resolve();
      return;
    }
    const child = spawn(o.helper, [o.socket], { stdio: ['pipe', 'pipe', 'pipe'] });
    const decoder = new AttachFrameDecoder();
    let connected = false;
    let failure: Error | undefined;
    let errText = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      if (errText.length < 4096) errText += d;
    });
    child.stdin.on('error', () => {}); // the helper gone: its exit says why
    child.stdout.on('data', (chunk: Buffer) => {
      let frames;
      try {
        frames = decoder.push(chunk);
      } catch (err) {
        failure = err as Error;
        child.kill('SIGKILL');
        return;
      }
      for (const f of frames) {
        if (f.kind === 'connected') {
          connected = true;
          o.onConnected?.();
          continue;
        }
        const out = f.stream === 'stderr' && !o.tty ? o.stderr : o.stdout;
        // backpressure: a slow client slows the helper, which leaves conmon's packets queued in the socket
        if (out && !out.write(f.data) && !child.stdout.isPaused()) {
          child.stdout.pause();
          out.once('drain', () => child.stdout.resume());
        }
      }
    });
    if (o.stdin) o.stdin.pipe(child.stdin);
    const forget = whenAborted(o.signal, () => child.kill('SIGTERM'));
    child.on('error', (err) => {
      forget();
      reject(new HedgeError('Internal', `attach helper ${o.helper}: ${err.message}`, { cause: err }));
    });
    child.on('close', (code, sig) => {
      forget();
      if (o.stdin) o.stdin.unpipe(child.stdin);
      if (failure) reject(failure);
      else if (o.signal.aborted && sig !== null) resolve();
      else if (code === 0) resolve();
      else if (!connected) reject(new HedgeError('Unavailable', `cannot attach: ${errText.trim() || `helper exited ${code ?? sig}`}`));
      else reject(new HedgeError('Internal', `attach ended: ${errText.trim() || `helper exited ${code ?? sig}`}`));
    });
  });
}
