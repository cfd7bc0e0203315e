import { whenAborted } from './signals.ts';

/** Resolves after `ms`, or at once when `signal` aborts (never rejects); the timer is always cleared. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    // a follower, not a listener: many loops sleep on one stop signal at once
    const forget = whenAborted(signal, done);
    function done(): void {
      clearTimeout(t);
      forget();
      resolve();
    }
  });
}
