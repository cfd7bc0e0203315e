import { tryParseQuantity, Quantity } from '../meta/quantity.ts';

/** A parsed ResourceList (quota hard/used, a pod's requests): name → exact amount. */
export type Amounts = Map<string, Quantity>;

/**
 * Parses a ResourceList as stored (strings, or numbers a client wrote); entries that do not parse
 * are left out: validation refused them already, so only a corrupt stored object can have one.
 */
export function parseAmounts(list: Record<string, unknown> | undefined): Amounts {
  const out: Amounts = new Map();
  for (const [k, v] of Object.entries(list ?? {})) {
    const q = tryParseQuantity(typeof v === 'number' ? String(v) : (v as string));
    if (typeof q !== 'string') out.set(k, q);
  }
  return out;
}

/** The stored form: canonical quantity strings in key order (what `status.used` holds). */
export function formatAmounts(a: Amounts): Record<string, string> {
  return Object.fromEntries([...a.keys()].sort().map((k) => [k, a.get(k)!.toString()]));
}

/** Quantity.Add's format rule: the first one's, unless it is zero (0 + 1Gi prints 1Gi) */
const plus = (a: Quantity, b: Quantity): Quantity => (a.isZero() ? new Quantity(a.nanos + b.nanos, b.format) : a.add(b));

/** quota.Add: every key of either, summed where both have it. */
export function addAmounts(a: Amounts, b: Amounts): Amounts {
  const out: Amounts = new Map(a);
  for (const [k, q] of b) {
    const cur = out.get(k);
    out.set(k, cur ? plus(cur, q) : q);
  }
  return out;
}

/** The larger of each key (resourcehelper's max for init containers). */
export function maxAmounts(a: Amounts, b: Amounts): Amounts {
  const out: Amounts = new Map(a);
  for (const [k, q] of b) {
    const cur = out.get(k);
    if (!cur || q.cmp(cur) > 0) out.set(k, q);
  }
  return out;
}

/** quota.Mask: only the named keys. */
export function maskAmounts(a: Amounts, names: Iterable<string>): Amounts {
  const keep = new Set(names);
  return new Map([...a].filter(([k]) => keep.has(k)));
}

/** quota.RemoveZeros */
export function withoutZeros(a: Amounts): Amounts {
  return new Map([...a].filter(([, q]) => !q.isZero()));
}

/** quota.LessThanOrEqual: the keys of `a` that `b` also has and `a` exceeds (empty = within). */
export function exceededNames(a: Amounts, b: Amounts): string[] {
  const out: string[] = [];
  for (const [k, q] of a) {
    const limit = b.get(k);
    if (limit && q.cmp(limit) > 0) out.push(k);
  }
  return out.sort();
}

/** quota.Equals: same keys, same amounts. */
export function sameAmounts(a: Amounts, b: Amounts): boolean {
  if (a.size !== b.size) return false;
  for (const [k, q] of a) {
    const o = b.get(k);
    if (!o || o.cmp(q) !== 0) return false;
  }
  return true;
}

/** upstream's prettyPrint: `name=amount` in key order, comma-separated. */
export function prettyAmounts(a: Amounts): string {
  return [...a.keys()].sort().map((k) => `${k}=${a.get(k)!.toString()}`).join(',');
}
