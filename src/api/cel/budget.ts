import { isPlainObject } from '../object.ts';

/**
 * A rough runtime cost bound for one evaluation (upstream charges every CEL operation against a
 * per-call limit of 1e6 and a per-object budget of 1e7). The evaluator we use has no cost hook, so
 * the data is metered instead: every element or field read from a metered value costs 1, and a
 * string read costs 1 + length/10 (the traversal cost upstream charges for strings), so a
 * comprehension over the object, nested or over `split()` results, pays for each pass. A wall-clock
 * deadline is checked every 1024 units as well. Exceeding either throws CelBudgetExceeded.
 */
export class CelBudget {
  remaining: number;
  readonly #deadline: number;
  #sinceClock = 0;

  constructor(opts: { limit: number; timeoutMs: number; now?: () => number }) {
    this.remaining = opts.limit;
    this.#now = opts.now ?? (() => performance.now());
    this.#deadline = this.#now() + opts.timeoutMs;
  }

  readonly #now: () => number;

  charge(units: number): void {
    this.remaining -= units;
    if (this.remaining < 0) throw new CelBudgetExceeded('actual cost limit exceeded');
    this.#sinceClock += units;
    if (this.#sinceClock >= 1024) {
      this.#sinceClock = 0;
      if (this.#now() > this.#deadline) throw new CelBudgetExceeded('evaluation time limit exceeded');
    }
  }

  /** A sub-budget for one rule: at most `limit` units, and never more than what is left here. */
  child(limit: number): CelBudget {
    return new ChildBudget(this, Math.min(limit, this.remaining));
  }
}

class ChildBudget extends CelBudget {
  readonly #parent: CelBudget;
  constructor(parent: CelBudget, limit: number) {
    super({ limit, timeoutMs: Number.MAX_SAFE_INTEGER });
    this.#parent = parent;
  }

  override charge(units: number): void {
    super.charge(units);
    this.#parent.charge(units);
  }
}

export class CelBudgetExceeded extends Error {
  override readonly name = 'CelBudgetExceeded';
}

/**
 * `value` behind read-metering proxies (lists and plain objects, recursively; scalars as they are).
 * The proxies are read-only views: the evaluator never writes to its inputs.
 */
export function metered<T>(value: T, budget: CelBudget): T {
  const cache = new WeakMap<object, object>();
  const wrap = (v: unknown): unknown => {
    if (typeof v === 'string') {
      budget.charge(1 + Math.floor(v.length / 10));
      return v;
    }
    // only JSON data: class instances (optionals, quantities, timestamps) keep their identity
    if (!Array.isArray(v) && !(isPlainObject(v) && [Object.prototype, null].includes(Object.getPrototypeOf(v) as object | null))) return v;
    const hit = cache.get(v);
    if (hit) return hit;
    const p = new Proxy(v, {
      get(target, prop, receiver) {
        const got: unknown = Reflect.get(target, prop, receiver);
        if (typeof prop === 'symbol' || prop === 'length' || prop === 'constructor') return got;
        if (!Object.hasOwn(target, prop)) return got;
        budget.charge(1);
        return wrap(got);
      },
    });
    cache.set(v, p);
    return p;
  };
  return wrap(value) as T;
}
