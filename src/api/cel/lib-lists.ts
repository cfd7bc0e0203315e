import type { Environment } from '@marcbachmann/cel-js';
import { celError } from './errors.ts';

/**
 * k8s.io/apiserver/pkg/cel/library/lists.go: isSorted, sum, min, max, indexOf, lastIndexOf on
 * lists of comparable values (int, uint, double, string, bool, timestamp, duration).
 */
export function registerListsLibrary(env: Environment): void {
  env.registerFunction('list<A>.isSorted(): bool', (l: unknown[]) => {
    for (let i = 1; i < l.length; i++) if (compare(l[i - 1], l[i]) > 0) return false;
    return true;
  });
  env.registerFunction('list<A>.sum(): A', (l: unknown[]) => {
    if (l.length === 0) return 0n;
    let acc: unknown = l[0];
    for (let i = 1; i < l.length; i++) acc = add(acc, l[i]);
    return acc;
  });
  env.registerFunction('list<A>.min(): A', (l: unknown[]) => extreme(l, 'min', (c) => c < 0));
  env.registerFunction('list<A>.max(): A', (l: unknown[]) => extreme(l, 'max', (c) => c > 0));
  env.registerFunction('list<A>.indexOf(A): int', (l: unknown[], x: unknown) => BigInt(l.findIndex((y) => celEquals(y, x))));
  env.registerFunction('list<A>.lastIndexOf(A): int', (l: unknown[], x: unknown) => {
    for (let i = l.length - 1; i >= 0; i--) if (celEquals(l[i], x)) return BigInt(i);
    return -1n;
  });
}

function extreme(l: unknown[], name: string, better: (c: number) => boolean): unknown {
  if (l.length === 0) throw celError(`${name} called on empty list`);
  let best = l[0];
  for (let i = 1; i < l.length; i++) if (better(compare(l[i], best))) best = l[i];
  return best;
}

function add(a: unknown, b: unknown): unknown {
  if (typeof a === 'bigint' && typeof b === 'bigint') return a + b;
  if (typeof a === 'number' && typeof b === 'number') return a + b;
  if (typeof a === 'object' && a !== null && typeof b === 'object' && 'valueOf' in a) {
    throw celError('no such overload: sum on this element type');
  }
  throw celError('no such overload: sum');
}

/** CEL ordering of two comparable values (numbers across int/uint/double, strings, bools, timestamps). */
export function compare(a: unknown, b: unknown): number {
  const na = numeric(a);
  const nb = numeric(b);
  if (na !== undefined && nb !== undefined) return na < nb ? -1 : na > nb ? 1 : 0;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b);
  if (a instanceof Date && b instanceof Date) return a.getTime() - b.getTime();
  throw celError('no such overload: values are not comparable');
}

function numeric(v: unknown): number | bigint | undefined {
  if (typeof v === 'bigint' || typeof v === 'number') return v;
  if (typeof v === 'object' && v !== null && 'value' in v && typeof (v as { value: unknown }).value === 'bigint') return (v as { value: bigint }).value;
  return undefined;
}

/** CEL equality on data values: numbers across types, lists in order, maps by keys. */
export function celEquals(a: unknown, b: unknown): boolean {
  const na = numeric(a);
  const nb = numeric(b);
  if (na !== undefined && nb !== undefined) return na == nb; // bigint == number compares numerically
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => celEquals(x, b[i]));
  if (a instanceof Date && b instanceof Date) return a.getTime() === b.getTime();
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null && !Array.isArray(a) && !Array.isArray(b)) {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && celEquals((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
  }
  return a === b;
}
