import type { Environment } from '@marcbachmann/cel-js';
import { Quantity, tryParseQuantity } from '../meta/quantity.ts';
import { celError } from './errors.ts';

const NANO = 1_000_000_000n;
const INT64_MAX = (1n << 63n) - 1n;
const INT64_MIN = -(1n << 63n);

/**
 * k8s.io/apiserver/pkg/cel/library/quantity.go: quantity(), isQuantity() and the Quantity
 * methods (sign, isInteger, asInteger, asApproximateFloat, add, sub, comparisons).
 */
export function registerQuantityLibrary(env: Environment): void {
  env.registerType('kubernetes.Quantity', Quantity);
  env.registerFunction('quantity(string): kubernetes.Quantity', (s: string) => {
    const q = tryParseQuantity(s);
    if (typeof q === 'string') throw celError(`quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'`);
    return q;
  });
  env.registerFunction('isQuantity(string): bool', (s: string) => typeof tryParseQuantity(s) !== 'string');
  env.registerFunction('kubernetes.Quantity.sign(): int', (q: Quantity) => BigInt(q.sign()));
  env.registerFunction('kubernetes.Quantity.isInteger(): bool', (q: Quantity) => isInt64(q));
  env.registerFunction('kubernetes.Quantity.asInteger(): int', (q: Quantity) => {
    if (!isInt64(q)) throw celError('cannot convert value to integer');
    return q.nanos / NANO;
  });
  env.registerFunction('kubernetes.Quantity.asApproximateFloat(): double', (q: Quantity) => Number(q.nanos) / 1e9);
  env.registerFunction('kubernetes.Quantity.add(kubernetes.Quantity): kubernetes.Quantity', (a: Quantity, b: Quantity) => a.add(b));
  env.registerFunction('kubernetes.Quantity.add(int): kubernetes.Quantity', (a: Quantity, b: bigint) => a.add(Quantity.fromInt(b)));
  env.registerFunction('kubernetes.Quantity.sub(kubernetes.Quantity): kubernetes.Quantity', (a: Quantity, b: Quantity) => a.sub(b));
  env.registerFunction('kubernetes.Quantity.sub(int): kubernetes.Quantity', (a: Quantity, b: bigint) => a.sub(Quantity.fromInt(b)));
  env.registerFunction('kubernetes.Quantity.isLessThan(kubernetes.Quantity): bool', (a: Quantity, b: Quantity) => a.cmp(b) < 0);
  env.registerFunction('kubernetes.Quantity.isGreaterThan(kubernetes.Quantity): bool', (a: Quantity, b: Quantity) => a.cmp(b) > 0);
  env.registerFunction('kubernetes.Quantity.compareTo(kubernetes.Quantity): int', (a: Quantity, b: Quantity) => BigInt(a.cmp(b)));
  env.registerOperator('kubernetes.Quantity == kubernetes.Quantity', (a: Quantity, b: Quantity) => a.cmp(b) === 0);
}

function isInt64(q: Quantity): boolean {
  if (q.nanos % NANO !== 0n) return false;
  const v = q.nanos / NANO;
  return v >= INT64_MIN && v <= INT64_MAX;
}
