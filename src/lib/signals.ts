import { setMaxListeners } from 'node:events';
import { anySignal, type ClearableSignal } from 'any-signal';

export type { ClearableSignal };

/**
 * AbortSignal.any for a signal that outlives what it is combined with (a process's or a loop's
 * stop signal, combined per request). Node 20's AbortSignal.any adds an entry to the long-lived
 * signal that nothing ever removes (nodejs/node#55351: one WeakRef per call, kept for the
 * signal's life), so a server that combined its stop signal once per request or per scrape grew
 * without bound. This one listens on the sources and forgets them on `clear()`: call it when the
 * operation ends (a `finally`). The reason is that of an aborted source.
 */
export function linkedSignal(signals: readonly (AbortSignal | undefined)[]): ClearableSignal {
  const present = signals.filter((s): s is AbortSignal => s !== undefined);
  // every operation in flight holds one listener on the long-lived source: that is not a leak
  for (const s of present) setMaxListeners(0, s);
  return anySignal(present);
}

/**
 * `signal` or `ms` elapsed, whichever comes first (a TimeoutError DOMException as the reason, as
 * AbortSignal.timeout). `clear()` clears the timer; until then it keeps the process alive, as the
 * operation it bounds does.
 */
export function timeoutSignal(signal: AbortSignal | undefined, ms: number): ClearableSignal {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException(`The operation was aborted due to timeout`, 'TimeoutError')), ms);
  const linked = linkedSignal([signal, controller.signal]);
  const clear = linked.clear;
  linked.clear = () => {
    clearTimeout(timer);
    clear();
  };
  return linked;
}
