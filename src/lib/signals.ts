/** an AbortSignal combined from others, to be cleared when the operation it bounds ends */
export type ClearableSignal = AbortSignal & { clear(): void };

/**
 * What each source calls when it aborts. One 'abort' listener per source for its whole life, and a
 * Set of followers: linking and unlinking are O(1) however many operations are in flight. (One
 * EventTarget listener per operation instead made every link walk the source's listener list:
 * with 5,000 watches on one signal, a request cost a walk over 5,000 entries.)
 */
const followers = new WeakMap<AbortSignal, Set<(reason: unknown) => void>>();

function follow(source: AbortSignal, fn: (reason: unknown) => void): void {
  let set = followers.get(source);
  if (!set) {
    const s = (set = new Set());
    followers.set(source, s);
    source.addEventListener(
      'abort',
      () => {
        const all = [...s];
        s.clear();
        for (const f of all) f(source.reason);
      },
      { once: true },
    );
  }
  set.add(fn);
}

/**
 * calls `fn` with the reason once `signal` aborts (at once if it already did); the returned function
 * forgets it. An operation's cancellation without an AbortController or an EventTarget listener of
 * its own: O(1) on a signal that thousands of operations in flight share (see `follow`).
 */
export function onAbort(signal: AbortSignal, fn: (reason: unknown) => void): () => void {
  if (signal.aborted) {
    fn(signal.reason);
    return () => undefined;
  }
  follow(signal, fn);
  return () => {
    followers.get(signal)?.delete(fn);
  };
}

/**
 * AbortSignal.any for a signal that outlives what it is combined with (a process's or a loop's
 * stop signal, combined per request). Node 20's AbortSignal.any adds an entry to the long-lived
 * signal that nothing ever removes (nodejs/node#55351: one WeakRef per call, kept for the
 * signal's life), so a server that combined its stop signal once per request or per scrape grew
 * without bound. This one is forgotten by its sources on `clear()`, or as soon as any of them
 * aborts: call `clear()` when the operation ends (a `finally`). The reason is the aborting source's.
 */
export function linkedSignal(signals: readonly (AbortSignal | undefined)[]): ClearableSignal {
  return link(signals).signal;
}

/**
 * `signal` or `ms` elapsed, whichever comes first (a TimeoutError DOMException as the reason, as
 * AbortSignal.timeout). `clear()` clears the timer too; until then it keeps the process alive, as
 * the operation it bounds does.
 */
export function timeoutSignal(signal: AbortSignal | undefined, ms: number): ClearableSignal {
  const { controller, signal: linked } = link([signal]);
  const timer = setTimeout(() => controller.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError')), ms);
  const unlink = linked.clear;
  linked.clear = () => {
    clearTimeout(timer);
    unlink();
  };
  return linked;
}

function link(signals: readonly (AbortSignal | undefined)[]): { controller: AbortController; signal: ClearableSignal } {
  const controller = new AbortController();
  const sources = signals.filter((s): s is AbortSignal => s !== undefined);
  const abort = (reason: unknown): void => controller.abort(reason);
  const clear = (): void => {
    for (const s of sources) followers.get(s)?.delete(abort);
  };
  const already = sources.find((s) => s.aborted);
  if (already) controller.abort(already.reason);
  else {
    for (const s of sources) follow(s, abort);
    // aborted by any means (a source, the timeout): the other sources forget it at once
    controller.signal.addEventListener('abort', clear, { once: true });
  }
  return { controller, signal: Object.assign(controller.signal, { clear }) };
}

/** how many combined signals follow `source` now (for tests and diagnostics) */
export function followerCount(source: AbortSignal): number {
  return followers.get(source)?.size ?? 0;
}
