/** upstream's maxRetryAfter */
const MAX_RETRY_AFTER = 32;

interface LevelStats {
  /** rejections per whole second, oldest first, the last MAX_RETRY_AFTER seconds */
  history: { second: number; count: number }[];
  currentSecond: number;
  currentCount: number;
  retryAfter: number;
  lastIncrease: number;
}

/**
 * The Retry-After of a rejection, per priority level (upstream's DroppedRequestsTracker): 1 s, doubled
 * (at most 32) when the level rejected at least 3 × Retry-After requests in the last Retry-After
 * seconds and has not doubled within that time, one less when it rejected fewer than Retry-After.
 * It is re-evaluated when a rejection opens a new second, from the seconds before it.
 */
export class RetryAfterTracker {
  readonly #levels = new Map<string, LevelStats>();
  constructor(private readonly nowMs: () => number) {}

  rejected(level: string): void {
    const now = Math.floor(this.nowMs() / 1000);
    let s = this.#levels.get(level);
    if (!s) {
      s = { history: [], currentSecond: 0, currentCount: 0, retryAfter: 1, lastIncrease: 0 };
      this.#levels.set(level, s);
    }
    if (s.currentSecond === now) {
      s.currentCount++;
      return;
    }
    s.history.push({ second: s.currentSecond, count: s.currentCount });
    while (s.history.length > 0 && s.currentSecond - s.history[0]!.second > MAX_RETRY_AFTER) s.history.shift();
    s.currentSecond = now;
    s.currentCount = 1;
    // the rejections of [now - retryAfter, now)
    let dropped = 0;
    for (let i = s.history.length - 1; i >= 0; i--) {
      const h = s.history[i]!;
      if (now - h.second > s.retryAfter) break;
      if (h.second < now) dropped += h.count;
    }
    if (now - s.lastIncrease >= s.retryAfter && dropped >= 3 * s.retryAfter) {
      s.retryAfter = Math.min(MAX_RETRY_AFTER, s.retryAfter * 2);
      s.lastIncrease = now;
    } else if (dropped < s.retryAfter && s.retryAfter > 1) {
      s.retryAfter--;
    }
  }

  retryAfter(level: string): number {
    return this.#levels.get(level)?.retryAfter ?? 1;
  }
}
