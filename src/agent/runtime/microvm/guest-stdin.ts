/**
 * A guest process's stdin from the host (an exec's, or a container's own fed by attach sessions).
 * The guest agent buffers stdin per process and writes it without blocking (src/guest/README.md,
 * "stdin"); this side keeps to the buffer's size: at most the guest's window (GuestAgentInfo
 * .stdinWindow) of bytes the process has not taken is outstanding, and the guest credits back each
 * byte the process took. While the window is full the sources are paused, so a process that never
 * reads holds up its sender, never the guest agent's event loop. An older guest (no window) gets
 * the bytes as they come, as before.
 */
import type { GuestAgentClient } from './agent-client.ts';

/** what GuestStdin needs of the guest connection (GuestAgentClient; a fake in tests) */
export type StdinPort = Pick<GuestAgentClient, 'agent' | 'closed' | 'stdin' | 'onStdinCredit'>;

/** bytes per stdin frame: one virtio-serial write of the guest's (32 KiB), less the frame header */
export const STDIN_CHUNK = 32 * 1024 - 64;

export class GuestStdin {
  readonly #c: StdinPort;
  readonly #id: number;
  readonly #unsubscribe: () => void;
  #queue: Buffer[] = [];
  #credit: number;
  #ending = false;
  #eofSent = false;
  #drainWaiters: (() => void)[] = [];

  constructor(c: StdinPort, id: number) {
    this.#c = c;
    this.#id = id;
    this.#credit = c.agent.stdinWindow ?? Number.POSITIVE_INFINITY;
    this.#unsubscribe = c.onStdinCredit(id, (n) => {
      this.#credit += n;
      this.#pump();
    });
  }

  /** EOF was asked for (it goes out after what is queued) */
  get ended(): boolean {
    return this.#ending;
  }

  /** bytes queued on the host: waiting for the guest's credit */
  get queued(): number {
    return this.#queue.reduce((n, b) => n + b.length, 0);
  }

  /** queues bytes; false = the window is full, wait for `drained()` before writing more */
  write(data: Buffer): boolean {
    if (this.#ending || data.length === 0) return true;
    this.#queue.push(data);
    this.#pump();
    return this.#queue.length === 0;
  }

  /** resolves once everything written so far went out to the guest */
  drained(): Promise<void> {
    if (this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  /** EOF after the queued bytes (once) */
  end(): void {
    this.#ending = true;
    this.#pump();
  }

  /** stops listening for credits (the process is gone or nobody feeds it any more) */
  close(): void {
    this.#unsubscribe();
    this.#queue = [];
    this.#wakeDrained();
  }

  /**
   * Feeds `src` into the stdin, pausing it while the window is full; resolves at its end (which
   * ends the stdin when `endAtEnd`) or when `signal` aborts.
   */
  feed(src: NodeJS.ReadableStream, o: { signal: AbortSignal; endAtEnd: boolean }): Promise<void> {
    return new Promise((resolve) => {
      const onData = (d: Buffer | string): void => {
        if (this.write(Buffer.isBuffer(d) ? d : Buffer.from(d))) return;
        src.pause();
        void this.drained().then(() => src.resume());
      };
      const onEnd = (): void => {
        if (o.endAtEnd) this.end();
        done();
      };
      const done = (): void => {
        src.off('data', onData);
        src.off('end', onEnd);
        o.signal.removeEventListener('abort', done);
        resolve();
      };
      if (o.signal.aborted) return resolve();
      src.on('data', onData);
      src.once('end', onEnd);
      o.signal.addEventListener('abort', done, { once: true });
    });
  }

  #pump(): void {
    if (this.#c.closed) {
      this.#queue = [];
      this.#wakeDrained();
      return;
    }
    while (this.#queue.length && this.#credit > 0) {
      const head = this.#queue[0]!;
      const n = Math.min(head.length, STDIN_CHUNK, this.#credit);
      this.#c.stdin(this.#id, head.subarray(0, n));
      this.#credit -= n;
      if (n === head.length) this.#queue.shift();
      else this.#queue[0] = head.subarray(n);
    }
    if (this.#queue.length) return;
    if (this.#ending && !this.#eofSent) {
      this.#eofSent = true;
      this.#c.stdin(this.#id, null);
    }
    this.#wakeDrained();
  }

  #wakeDrained(): void {
    const w = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const fn of w) fn();
  }
}
