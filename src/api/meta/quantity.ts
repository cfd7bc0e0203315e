import { HedgeError } from '../../lib/errors.ts';

export type QuantityFormat = 'DecimalSI' | 'BinarySI' | 'DecimalExponent';

const QUANTITY_RE = /^([+-]?)(\d*)(?:\.(\d*))?([eEinumkKMGTP]*[-+]?[0-9]*)$/;
export const ERR_FORMAT_WRONG =
  "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
export const ERR_NUMERIC = 'unable to parse numeric part of quantity';
export const ERR_SUFFIX = "unable to parse quantity's suffix";

const DECIMAL_SUFFIX: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const BINARY_SUFFIX: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };
const DECIMAL_BY_EXP = new Map(Object.entries(DECIMAL_SUFFIX).map(([s, e]) => [e, s]));
const BINARY_BY_EXP = new Map(Object.entries(BINARY_SUFFIX).map(([s, e]) => [e, s]));

/** Exponents beyond this are refused so hostile input cannot make us build huge BigInts. */
const MAX_POW10 = 400;

const pow10 = (n: number): bigint => 10n ** BigInt(n);
const abs = (n: bigint): bigint => (n < 0n ? -n : n);

/** Division rounding away from zero: upstream rounds sub-nano precision up. */
function divUp(n: bigint, d: bigint): bigint {
  const q = n / d;
  return n % d === 0n ? q : n < 0n ? q - 1n : q + 1n;
}

/**
 * resource.Quantity: an exact amount (held in nano-units, rounded up below 1n like upstream)
 * plus the suffix family it was written in, which decides how it prints.
 */
export class Quantity {
  readonly nanos: bigint;
  readonly format: QuantityFormat;

  constructor(nanos: bigint, format: QuantityFormat = 'DecimalSI') {
    this.nanos = nanos;
    this.format = format;
  }

  static parse(input: string): Quantity {
    const r = tryParseQuantity(input);
    if (typeof r === 'string') throw new HedgeError('BadRequest', r);
    return r;
  }

  static fromMilli(milli: number | bigint, format: QuantityFormat = 'DecimalSI'): Quantity {
    return new Quantity(BigInt(milli) * 1_000_000n, format);
  }

  static fromInt(value: number | bigint, format: QuantityFormat = 'DecimalSI'): Quantity {
    return new Quantity(BigInt(value) * 1_000_000_000n, format);
  }

  isZero(): boolean {
    return this.nanos === 0n;
  }

  sign(): -1 | 0 | 1 {
    return this.nanos < 0n ? -1 : this.nanos > 0n ? 1 : 0;
  }

  cmp(other: Quantity): -1 | 0 | 1 {
    return this.nanos < other.nanos ? -1 : this.nanos > other.nanos ? 1 : 0;
  }

  add(other: Quantity): Quantity {
    return new Quantity(this.nanos + other.nanos, this.format);
  }

  sub(other: Quantity): Quantity {
    return new Quantity(this.nanos - other.nanos, this.format);
  }

  /** Whole units, rounded up (Quantity.Value()). */
  value(): number {
    return Number(divUp(this.nanos, 1_000_000_000n));
  }

  /** Thousandths, rounded up (Quantity.MilliValue()); CPU is usually handled in millicores. */
  milliValue(): number {
    return Number(divUp(this.nanos, 1_000_000n));
  }

  toString(): string {
    return formatQuantity(this);
  }

  toJSON(): string {
    return this.toString();
  }
}

/** Parses a quantity or returns upstream's error message. */
export function tryParseQuantity(input: string): Quantity | string {
  if (typeof input !== 'string' || input.length === 0) return ERR_FORMAT_WRONG;
  const m = QUANTITY_RE.exec(input);
  if (!m) return ERR_FORMAT_WRONG;
  const [, sign, whole = '', frac = '', suffix] = m;
  if (whole.length + frac.length === 0) return ERR_NUMERIC;
  let exp10: number;
  let exp2 = 0;
  let format: QuantityFormat;
  if (suffix in DECIMAL_SUFFIX) {
    exp10 = DECIMAL_SUFFIX[suffix];
    format = 'DecimalSI';
  } else if (suffix in BINARY_SUFFIX) {
    exp10 = 0;
    exp2 = BINARY_SUFFIX[suffix];
    format = 'BinarySI';
  } else if (/^[eE][-+]?\d+$/.test(suffix)) {
    exp10 = Number(suffix.slice(1));
    format = 'DecimalExponent';
  } else {
    return ERR_SUFFIX;
  }
  const mantissa = BigInt(`${whole}${frac}` || '0') * (sign === '-' ? -1n : 1n);
  const p = exp10 - frac.length + 9;
  if (Math.abs(p) > MAX_POW10 || whole.length + frac.length > MAX_POW10) return ERR_NUMERIC;
  let nanos = mantissa << BigInt(exp2);
  nanos = p >= 0 ? nanos * pow10(p) : divUp(nanos, pow10(-p));
  // "-0" is just zero
  return new Quantity(nanos === 0n ? 0n : nanos, format);
}

export function parseQuantity(input: string): Quantity {
  return Quantity.parse(input);
}

function formatDecimal(nanos: bigint, exponentStyle: boolean): string {
  let amount = abs(nanos);
  let exp = -9;
  while (amount !== 0n && amount % 10n === 0n && exp < 18) {
    amount /= 10n;
    exp++;
  }
  const r = ((exp % 3) + 3) % 3;
  if (r) {
    amount *= pow10(r);
    exp -= r;
  }
  const sign = nanos < 0n ? '-' : '';
  const suffix = exponentStyle ? (exp === 0 ? '' : `e${exp}`) : DECIMAL_BY_EXP.get(exp)!;
  return `${sign}${amount}${suffix}`;
}

/** Canonical form, as Quantity.String() prints it (e.g. 1500m, 2k, 1Gi, 1536Mi, 100e6). */
export function formatQuantity(q: Quantity): string {
  if (q.nanos === 0n) return '0';
  if (q.format === 'BinarySI') {
    const small = abs(q.nanos) < 1024n * 1_000_000_000n;
    const integral = q.nanos % 1_000_000_000n === 0n;
    if (!small && integral) {
      let amount = abs(q.nanos / 1_000_000_000n);
      let exp = 0;
      while (amount % 1024n === 0n && exp < 60) {
        amount /= 1024n;
        exp += 10;
      }
      return `${q.nanos < 0n ? '-' : ''}${amount}${BINARY_BY_EXP.get(exp) ?? ''}`;
    }
    return formatDecimal(q.nanos, false);
  }
  return formatDecimal(q.nanos, q.format === 'DecimalExponent');
}
