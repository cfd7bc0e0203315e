import { whenAborted } from '../lib/signals.ts';

/**
 * Time as the controllers see it. Injected so state machines and back-off can be driven
 * by tests without sleeping.
 */
export interface Clock {
  /** milliseconds since the epoch */
  now(): number;
  /** resolves after ms, or rejects with the signal's reason when aborted; the timer is always cleared */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const timer = setTimeout(() => {
        forget();
        resolve();
      }, ms);
      // a follower, not a listener: many loops sleep on one stop signal at once
      const forget = signal
        ? whenAborted(signal, () => {
            clearTimeout(timer);
            reject(signal.reason);
          })
        : () => undefined;
    }),
};

interface Sleeper {
  at: number;
  resolve: () => void;
}

/** A clock that only moves when told to. `advance` wakes every sleeper whose time has come. */
export class FakeClock implements Clock {
  private t: number;
  private sleepers: Sleeper[] = [];

  constructor(start = Date.parse('2026-01-01T00:00:00Z')) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  /** number of pending sleeps; lets tests wait until a loop has parked on the clock */
  get pending(): number {
    return this.sleepers.length;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const s: Sleeper = {
        at: this.t + Math.max(0, ms),
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = (): void => {
        this.sleepers = this.sleepers.filter((x) => x !== s);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.sleepers.push(s);
    });
  }

  advance(ms: number): void {
    this.t += ms;
    const due = this.sleepers.filter((s) => s.at <= this.t);
    this.sleepers = this.sleepers.filter((s) => s.at > this.t);
    for (const s of due) s.resolve();
  }

  set(t: number): void {
    this.advance(Math.max(0, t - this.t));
  }
}
