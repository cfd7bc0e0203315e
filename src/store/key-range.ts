import { HedgeError } from '../lib/errors.ts';

/**
 * The smallest string greater than every string that starts with `prefix`
 * (etcd's "prefix end"), or undefined when no such bound exists (empty prefix,
 * or a prefix made only of U+FFFF code units).
 */
export function prefixEnd(prefix: string): string | undefined {
  for (let i = prefix.length - 1; i >= 0; i--) {
    const code = prefix.charCodeAt(i);
    if (code < 0xffff) return prefix.slice(0, i) + String.fromCharCode(code + 1);
  }
  return undefined;
}

/** Keys are compared as plain strings; NUL is reserved so `key + '\0'` is a key's immediate successor. */
export function assertValidKey(key: string): void {
  if (key.length === 0) throw new HedgeError('BadRequest', 'store key must not be empty');
  if (key.includes('\0')) throw new HedgeError('BadRequest', 'store key must not contain NUL');
}

/** Checks a read revision against the store's window; returns the revision to read at. */
export function resolveReadRevision(requested: number | undefined, current: number, compacted: number): number {
  if (requested === undefined || requested <= 0) return current;
  if (requested > current) {
    throw new HedgeError('BadRequest', `required revision ${requested} is a future revision (current ${current})`);
  }
  if (requested < compacted) throw compactedError(requested, compacted);
  return requested;
}

export function compactedError(requested: number, compacted: number): HedgeError {
  return new HedgeError('Gone', `required revision ${requested} has been compacted (oldest available ${compacted})`);
}

export function storeClosedError(): HedgeError {
  return new HedgeError('Unavailable', 'store is closed');
}
