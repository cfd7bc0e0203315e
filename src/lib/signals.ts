/** an AbortSignal combined from others, to be cleared when the operation it bounds ends */
export type ClearableSignal = AbortSignal & { clear(): void };

/**
 * What each source runs when it aborts: the signals combined from it, and `whenAborted` callbacks.
 * One 'abort' listener per source for its whole life, and a Set of followers: following and
 * forgetting are O(1) however many operations are in flight. (One EventTarget listener per
 * operation instead made every link walk the source's listener list: with 5,000 watches on one
 * signal, a request cost a walk over 5,000 entries; and more than ten operations waiting on one
 * stop signal at once warned MaxListenersExceeded.)
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
 * Calls `fn` with the reason once `signal` aborts (at once if it already has), as a follower rather
 * than an EventTarget listener or AbortController of its own: for waits (a sleep, a sync) and
 * requests on a signal many share, O(1) however many are in flight. Returns the function that
 * forgets `fn`: call it when the wait or request ends the other way.
 */
export function whenAborted(signal: AbortSignal, fn: (reason: unknown) => void): () => void {
  if (signal.aborted) {
    fn(signal.reason);
    return () => undefined;
  }
  follow(signal, fn);
  return () => void followers.get(signal)?.delete(fn);
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
  const timer = setTimeout(() => controller.abort(timeoutError()), ms);
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
  const onSource = (reason: unknown): void => controller.abort(reason);
  const clear = (): void => {
    for (const s of sources) followers.get(s)?.delete(onSource);
  };
  const already = sources.find((s) => s.aborted);
  if (already) controller.abort(already.reason);
  else {
    for (const s of sources) follow(s, onSource);
    // aborted by any means (a source, the timeout): the other sources forget it at once
    controller.signal.addEventListener('abort', clear, { once: true });
  }
  return { controller, signal: Object.assign(controller.signal, { clear }) };
}

/** the reason of a deadline passed, as AbortSignal.timeout gives it (a TimeoutError DOMException) */
export function timeoutError(): DOMException {
  return new DOMException('The operation was aborted due to timeout', 'TimeoutError');
}

/** how many combined signals and waits follow `source` now (for tests and diagnostics) */
export function followerCount(source: AbortSignal): number {
  return followers.get(source)?.size ?? 0;
}
