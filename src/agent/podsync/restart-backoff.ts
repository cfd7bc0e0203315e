/**
 * The kubelet's restart and pull back-off as a pure state machine: the first crash restarts at
 * once, then base, doubling, capped (CrashLoopBackOff); a container that ran for `resetMs`
 * starts over. A failed pull waits base·2^(n−1), capped (ImagePullBackOff).
 */

export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
  /** a run at least this long resets the back-off */
  resetMs: number;
}

/** The back-off fields of a container record. */
export interface BackoffState {
  /** back-off for the next restart, 0 = none yet */
  backoffMs: number;
  /** no new attempt before this time (ms) */
  retryAt: number;
  /** delay currently being waited out (for the CrashLoopBackOff message) */
  waitingDelayMs: number;
  pullFailures: number;
}

export const initialBackoff: BackoffState = { backoffMs: 0, retryAt: 0, waitingDelayMs: 0, pullFailures: 0 };

/** A container exited: the back-off runs from its finish (not from when it was noticed). */
export function afterExit(s: BackoffState, exit: { startedAt?: number; finishedAt: number }, p: BackoffPolicy): BackoffState {
  const ranLong = exit.startedAt !== undefined && exit.finishedAt - exit.startedAt >= p.resetMs;
  const delay = ranLong ? 0 : s.backoffMs;
  return {
    ...s,
    waitingDelayMs: delay,
    retryAt: exit.finishedAt + delay,
    backoffMs: delay === 0 ? p.baseMs : Math.min(delay * 2, p.maxMs),
  };
}

/** A pull failed at `now`: the next attempt waits base·2^(failures−1), capped. */
export function afterPullFailure(s: BackoffState, now: number, p: BackoffPolicy): BackoffState {
  const pullFailures = s.pullFailures + 1;
  return { ...s, pullFailures, retryAt: now + Math.min(p.baseMs * 2 ** (pullFailures - 1), p.maxMs) };
}

export function afterPullSuccess(s: BackoffState): BackoffState {
  return { ...s, pullFailures: 0 };
}

/** Whether a new attempt may start at `now`. */
export function mayRetry(s: BackoffState, now: number): boolean {
  return now >= s.retryAt;
}

/** The kubelet's CrashLoopBackOff waiting message. */
export function crashLoopMessage(s: BackoffState, container: string, pod: { name: string; namespace: string; uid: string }): string {
  return `back-off ${Math.round(s.waitingDelayMs / 1000)}s restarting failed container=${container} pod=${pod.name}_${pod.namespace}(${pod.uid})`;
}
