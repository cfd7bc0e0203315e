import type { Logger } from '../../lib/log.ts';
import { unrefTimers, type Timers } from '../../lib/timers.ts';

/** upstream's object count tracker refreshes every minute */
export const OBJECT_COUNT_PERIOD_MS = 60_000;

export interface CountedResource {
  group: string;
  resource: string;
  count(): Promise<number>;
}

/**
 * The number of stored objects of each resource type, for the LIST work estimate (upstream's
 * ObjectCountTracker, fed by storage's count every minute): undefined for a type not counted
 * (yet), 'stale' when its last count failed.
 */
export class ObjectCountTracker {
  readonly #counts = new Map<string, number | 'stale'>();
  readonly #clock: Timers;
  #timer: unknown;

  constructor(
    private readonly resources: () => readonly CountedResource[],
    private readonly opts: { clock?: Timers; periodMs?: number; logger?: Logger } = {},
  ) {
    this.#clock = opts.clock ?? unrefTimers;
  }

  get(group: string, resource: string): number | 'stale' | undefined {
    return this.#counts.get(`${resource}.${group}`);
  }

  /** counts now, then every period until `signal` aborts */
  async start(signal: AbortSignal): Promise<void> {
    const tick = async (): Promise<void> => {
      if (signal.aborted) return;
      await this.refresh(signal);
      if (!signal.aborted) this.#timer = this.#clock.setTimeout(() => void tick(), this.opts.periodMs ?? OBJECT_COUNT_PERIOD_MS);
    };
    signal.addEventListener('abort', () => this.#clock.clearTimeout(this.#timer), { once: true });
    await tick();
  }

  /** counts every type once (stops early, keeping what it had, when `signal` aborts: the store may be closing) */
  async refresh(signal?: AbortSignal): Promise<void> {
    const seen = new Set<string>();
    for (const r of this.resources()) {
      if (signal?.aborted) return;
      const k = `${r.resource}.${r.group}`;
      if (seen.has(k)) continue;
      seen.add(k);
      try {
        this.#counts.set(k, await r.count());
      } catch (err) {
        this.opts.logger?.warn({ err, resource: k }, 'could not count the stored objects');
        this.#counts.set(k, 'stale');
      }
    }
    // types gone (a CRD deleted) are forgotten, as upstream's pruner does
    for (const k of [...this.#counts.keys()]) if (!seen.has(k)) this.#counts.delete(k);
  }
}
