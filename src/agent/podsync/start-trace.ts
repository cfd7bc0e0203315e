import type { Logger } from '../../lib/log.ts';

/** One timed step: offset from the worker's creation and duration, both in ms. */
export interface TraceSpan {
  name: string;
  atMs: number;
  ms: number;
}

/** What `StartTrace.finish` logs (bench/pod-start.ts parses it from the debug log). */
export interface StartTraceRecord {
  /** wall-clock epoch ms when the informer handed the pod to a new worker */
  seenAt: number;
  /** worker created → the status write that first reported every app container running */
  totalMs: number;
  spans: TraceSpan[];
}

export const START_TRACE_MSG = 'pod start trace';

/** what a runtime handler's own steps (create, start: its `onSpan`) log at debug, by container id (bench/pod-start.ts) */
export const RUNTIME_SPAN_MSG = 'runtime span';

/**
 * Where one pod's first start goes (worker created → Running written), as spans in the debug
 * log. Diagnostics only: it reads the real monotonic clock, never the injected one, and nothing
 * in the agent acts on it. Spans are recorded only until the trace finishes, so a long-lived pod
 * costs nothing afterwards.
 */
export class StartTrace {
  readonly seenAt = Date.now();
  readonly #t0 = performance.now();
  #spans: TraceSpan[] | undefined = [];

  get active(): boolean {
    return this.#spans !== undefined;
  }

  async span<T>(name: string, f: () => Promise<T>): Promise<T> {
    const spans = this.#spans;
    if (!spans) return f();
    const t = performance.now();
    try {
      return await f();
    } finally {
      spans.push({ name, atMs: round(t - this.#t0), ms: round(performance.now() - t) });
    }
  }

  /** logs the record once (at debug) and stops recording */
  finish(log: Logger): StartTraceRecord | undefined {
    const spans = this.#spans;
    if (!spans) return undefined;
    this.#spans = undefined;
    const rec: StartTraceRecord = { seenAt: this.seenAt, totalMs: round(performance.now() - this.#t0), spans };
    log.debug({ startTrace: rec }, START_TRACE_MSG);
    return rec;
  }

  /** the pod will not reach Running on this path (deleted, failed): drop the spans */
  abandon(): void {
    this.#spans = undefined;
  }
}

const round = (ms: number): number => Math.round(ms * 10) / 10;

export const STARTUP_PHASE_MSG = 'node startup phase';

/**
 * Marks one step of `hedge node` coming up (hub open, registered, pods listed, ...) in the debug
 * log, at ms since the process started (bench/reboot-offline.ts prints the breakdown). Diagnostics
 * only, like StartTrace.
 */
export function logStartupPhase(log: Logger, phase: string): void {
  log.debug({ startupPhase: phase, atMs: round(performance.now()) }, STARTUP_PHASE_MSG);
}
