/**
 * `runc start` without a runc exec. After `runc create`, runc's init waits in a blocking open of
 * `<root>/<id>/exec.fifo` for writing; `runc start` (libcontainer's exec(): open the fifo for
 * reading, read it to its end, remove it) is all that releases it, and runc reports a container
 * whose init lives and whose fifo is gone as running. Doing those three steps here spares one runc
 * process (Go start-up, state load: ~23 ms of CPU, ~30 ms on the pod start path here,
 * docs/host-notes.md). Anything unexpected (no fifo, nothing read) answers false so the caller runs
 * the real `runc start`, which reports the reason in runc's own words.
 */
import { constants, openSync, unlinkSync } from 'node:fs';
import { Socket } from 'node:net';
import { HedgeError } from '../../../lib/errors.ts';
import { processRunning } from '../../host/process.ts';

/** how often the init's liveness is looked at while waiting, as runc does (100 ms) */
const ALIVE_CHECK_MS = 100;
const DEAD_GRACE_MS = 50;

export function execFifoPath(runtimeRoot: string, id: string): string {
  return `${runtimeRoot}/${id}/exec.fifo`;
}

/**
 * Releases a created runc container's init through its exec fifo. Resolves true once the init
 * wrote its byte and closed the fifo (it closes on exec: the container's process runs, or its exec
 * failed and the exit file will say so), false when there was no fifo or the init died without
 * writing (the caller falls back to `runc start`).
 */
export async function startViaExecFifo(o: { fifo: string; initPid: number; signal: AbortSignal }): Promise<boolean> {
  let fd: number;
  try {
    // non-blocking (libuv adds close-on-exec, sync or not): a FIFO's read side then opens at once
    // whether or not a writer is there, so it is opened synchronously (no thread-pool turn on the
    // start path); the kernel keeps a reader that saw no writer yet from seeing end-of-file
    fd = openSync(o.fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
  const sock = new Socket({ fd, readable: true, writable: false });
  let bytes = 0;
  const ended = await new Promise<boolean>((resolve, reject) => {
    let settled = false;
    let grace: NodeJS.Timeout | undefined;
    const done = (v: boolean | Error): void => {
      if (settled) return;
      settled = true;
      clearInterval(alive);
      clearTimeout(grace);
      o.signal.removeEventListener('abort', onAbort);
      sock.destroy();
      if (v instanceof Error) reject(v);
      else resolve(v);
    };
    const onAbort = (): void => done(new HedgeError('Timeout', `starting container: aborted while releasing ${o.fifo}`, { cause: o.signal.reason }));
    sock.on('data', (d: Buffer) => (bytes += d.length));
    sock.on('end', () => done(true));
    sock.on('error', (err) => done(err));
    // the init died before it opened the fifo: no writer will ever come. A quick container may
    // also have written, exec'd and exited since the last look, its byte and end-of-file not yet
    // delivered (timers run before I/O in a loop turn): give them a moment before giving up.
    const alive = setInterval(() => {
      void processRunning(o.initPid).then((up) => {
        if (up) return;
        clearInterval(alive);
        grace = setTimeout(() => bytes === 0 && done(false), DEAD_GRACE_MS);
      });
    }, ALIVE_CHECK_MS);
    if (o.signal.aborted) onAbort();
    else o.signal.addEventListener('abort', onAbort, { once: true });
  });
  if (!ended || bytes === 0) return false;
  try {
    unlinkSync(o.fifo);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  return true;
}
