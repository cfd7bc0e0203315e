import type { FieldCause } from '../../lib/errors.ts';

/**
 * Constructors for validation causes whose `message` matches apimachinery's
 * field.Error.ErrorBody(), so `kubectl` users see the upstream wording
 * (e.g. `spec.containers[0].image: Required value`).
 */

/** How Go's ErrorBody prints a bad value: %q for strings, %v for scalars, %#v otherwise. */
export function formatBadValue(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) {
    return `[]string{${value.map((v) => JSON.stringify(v)).join(', ')}}`;
  }
  return JSON.stringify(value);
}

function withDetail(head: string, detail?: string): string {
  return detail ? `${head}: ${detail}` : head;
}

export function required(field: string, detail?: string): FieldCause {
  return { field, reason: 'FieldValueRequired', message: withDetail('Required value', detail) };
}

export function invalid(field: string, value: unknown, detail?: string): FieldCause {
  return { field, reason: 'FieldValueInvalid', message: withDetail(`Invalid value: ${formatBadValue(value)}`, detail) };
}

export function notSupported(field: string, value: unknown, supported: readonly string[]): FieldCause {
  const detail = supported.length ? `supported values: ${supported.map((s) => JSON.stringify(s)).join(', ')}` : undefined;
  return {
    field,
    reason: 'FieldValueNotSupported',
    message: withDetail(`Unsupported value: ${formatBadValue(value)}`, detail),
  };
}

export function duplicate(field: string, value: unknown): FieldCause {
  return { field, reason: 'FieldValueDuplicate', message: `Duplicate value: ${formatBadValue(value)}` };
}

export function forbidden(field: string, detail: string): FieldCause {
  return { field, reason: 'FieldValueForbidden', message: withDetail('Forbidden', detail) };
}

export function tooLong(field: string, maxLength: number, unit = 'bytes'): FieldCause {
  return { field, reason: 'FieldValueTooLong', message: `Too long: may not be more than ${maxLength} ${unit}` };
}

export function tooMany(field: string, actual: number, max: number): FieldCause {
  return { field, reason: 'FieldValueTooMany', message: `Too many: ${actual}: must have at most ${max} items` };
}

/** Appends `.child` or `[i]`/`[key]` to a field path the way field.Path.String() renders it. */
export function child(path: string, name: string): string {
  return path ? `${path}.${name}` : name;
}
export function index(path: string, i: number): string {
  return `${path}[${i}]`;
}
export function key(path: string, k: string): string {
  return `${path}[${k}]`;
}

export function notFound(field: string, value: unknown): FieldCause {
  return { field, reason: 'FieldValueNotFound', message: `Not found: ${formatBadValue(value)}` };
}
