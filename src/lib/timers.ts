/**
 * Monotonic time and timers for code whose waits a test drives by hand (the audit webhook's
 * batching and retries, APF's queue timeouts): `realTimers` in production, a fake in tests.
 * (The controllers' wall-clock `Clock` with `sleep` is src/client/clock.ts.)
 */
export interface Timers {
  /** milliseconds, monotonic */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** as realTimers, but a pending timer does not keep the process alive (APF's queue timeouts: the request's socket does) */
export const unrefTimers: Timers = {
  now: realTimers.now,
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: realTimers.clearTimeout,
};

export function delay(timers: Timers, ms: number): Promise<void> {
  return new Promise((resolve) => timers.setTimeout(resolve, ms));
}
