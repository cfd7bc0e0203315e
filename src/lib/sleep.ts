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

/**
 * A periodic loop's next wait, as client-go's `wait.JitterUntil(f, period, 0.04, sliding=true)`
 * that the kubelet runs its lease and node-status loops with: `periodMs` plus up to `factor` of it,
 * at random, counted from when the last run ended. With a fixed period, many nodes that a busy
 * apiserver answered at once stay in step for good (see agent/lease/node-lease.ts).
 */
export function jitteredPeriod(periodMs: number, random: () => number = Math.random, factor = 0.04): number {
  return Math.round(periodMs * (1 + factor * random()));
}
