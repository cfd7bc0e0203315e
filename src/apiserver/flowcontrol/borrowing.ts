/** upstream's borrowingAdjustmentPeriod and seatDemandSmoothingCoefficient */
export const BORROWING_ADJUSTMENT_PERIOD_MS = 10_000;
const SMOOTHING = 0.977;

/** time-weighted average, deviation and maximum of a level's seat demand since the last reset (upstream's fq.Integrator) */
export class SeatDemandIntegrator {
  #value = 0;
  #since: number;
  #start: number;
  #sum = 0;
  #sumSq = 0;
  #max = 0;
  constructor(private readonly now: () => number) {
    this.#since = this.#start = now();
  }
  set(value: number): void {
    this.#advance();
    this.#value = value;
    if (value > this.#max) this.#max = value;
  }
  get value(): number {
    return this.#value;
  }
  /** the period's figures; the next period starts now at the current value */
  reset(): { average: number; deviation: number; max: number; durationMs: number } {
    this.#advance();
    const d = this.#since - this.#start;
    const average = d > 0 ? this.#sum / d : this.#value;
    const variance = d > 0 ? this.#sumSq / d - average * average : 0;
    const out = { average, deviation: Math.sqrt(Math.max(0, variance)), max: this.#max, durationMs: d };
    this.#start = this.#since;
    this.#sum = this.#sumSq = 0;
    this.#max = this.#value;
    return out;
  }
  #advance(): void {
    const t = this.now();
    const dt = t - this.#since;
    if (dt > 0) {
      this.#sum += this.#value * dt;
      this.#sumSq += this.#value * this.#value * dt;
    }
    this.#since = t;
  }
}

/** upstream's seatDemandStats: smoothed = max(envelope, A·smoothed + (1−A)·envelope), envelope = avg + stddev */
export class SeatDemandStats {
  highWatermark = 0;
  smoothed = 0;
  update(obs: { average: number; deviation: number; max: number; durationMs: number }): void {
    this.highWatermark = obs.max;
    if (obs.durationMs <= 0) return;
    const envelope = obs.average + obs.deviation;
    this.smoothed = Math.max(envelope, SMOOTHING * this.smoothed + (1 - SMOOTHING) * envelope);
  }
}

/** one level's seats as configured: nominal, the least it may lend down to, the most it may borrow up to */
export interface LevelBounds {
  nominal: number;
  /** nominal − round(nominal × lendablePercent / 100) */
  min: number;
  /** nominal + round(nominal × borrowingLimitPercent / 100); nominal + the server's seats when borrowingLimitPercent is unset */
  max: number;
}

export function levelBounds(nominal: number, lendablePercent: number | undefined, borrowingLimitPercent: number | undefined, serverSeats: number): LevelBounds {
  const lendable = Math.round((nominal * (lendablePercent ?? 0)) / 100);
  const max = nominal + (borrowingLimitPercent === undefined ? serverSeats : Math.round((nominal * borrowingLimitPercent) / 100));
  return { nominal, min: nominal - lendable, max };
}

export interface AllocItem {
  lower: number;
  upper: number;
  target: number;
}

/**
 * upstream's computeConcurrencyAllocation: the allocations clamp(fairProp × target, lower, upper)
 * with the one fairProp that makes them add up to `required` (found by bisection here instead of
 * upstream's sorted sweep; the result is the same up to rounding). When even the bounds cannot
 * meet it, the bounds are the answer.
 */
export function allocate(required: number, items: readonly AllocItem[]): number[] {
  const at = (fp: number): number[] => items.map((i) => Math.max(i.lower, Math.min(i.upper, fp * i.target)));
  const sum = (a: number[]): number => a.reduce((x, y) => x + y, 0);
  if (sum(items.map((i) => i.lower)) >= required) return items.map((i) => i.lower);
  // fairProp large enough that every item with a target is at its upper bound (or at `required`)
  let hi = 1;
  for (let n = 0; n < 64 && sum(at(hi)) < required; n++) hi *= 2;
  if (sum(at(hi)) < required) return at(hi);
  let lo = 0;
  for (let n = 0; n < 60; n++) {
    const mid = (lo + hi) / 2;
    if (sum(at(mid)) < required) lo = mid;
    else hi = mid;
  }
  return at(hi);
}

/**
 * upstream's updateBorrowing for the Limited levels: each level's lower bound is its nominal
 * seats less the lendable ones, raised to its demand's high watermark (up to nominal); its target
 * its smoothed demand (at least the lower bound); the server's seats are then shared by
 * `allocate` and rounded.
 */
export function currentLimits(levels: readonly { bounds: LevelBounds; stats: SeatDemandStats }[]): number[] {
  const required = levels.reduce((s, l) => s + l.bounds.nominal, 0);
  const items = levels.map(({ bounds, stats }) => {
    const lower = Math.max(bounds.min, Math.min(bounds.nominal, stats.highWatermark));
    return { lower, upper: bounds.max, target: Math.max(lower, stats.smoothed) };
  });
  return allocate(required, items).map((a) => Math.round(a));
}
