/**
 * Values cross the Store seam as strings. Most are JSON (UTF-8 on disk), but a value the
 * apiserver encrypted at rest is binary: upstream's layout, `k8s:enc:<provider>:v1:<key>:`
 * followed by raw cipher bytes. Such a value travels as a "binary string" (one char per byte,
 * latin1) and the stores that persist bytes (sqlite, etcd) write and read it as exactly those
 * bytes, so what is on disk or in etcd is byte for byte what kube-apiserver writes. The marker is
 * upstream's own: `k8s:enc:` is reserved for encrypted data (its identity transformer refuses to
 * read a value that starts with it), and JSON cannot start with it.
 */
export const ENCRYPTED_PREFIX = 'k8s:enc:';

const PREFIX_BYTES = Buffer.from(ENCRYPTED_PREFIX, 'latin1');

export function isBinaryValue(value: string): boolean {
  return value.startsWith(ENCRYPTED_PREFIX);
}

/** The bytes a store persists for `value`. */
export function storedBytes(value: string): Buffer {
  return Buffer.from(value, isBinaryValue(value) ? 'latin1' : 'utf8');
}

/** The seam's string for bytes a store read back. */
export function valueOfBytes(bytes: Buffer | Uint8Array): string {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return buf.subarray(0, PREFIX_BYTES.length).equals(PREFIX_BYTES) ? buf.toString('latin1') : buf.toString('utf8');
}

/** What SQLite binds: JSON stays TEXT; an encrypted value is a BLOB of its bytes. */
export function sqliteValue(value: string): string | Buffer {
  return isBinaryValue(value) ? Buffer.from(value, 'latin1') : value;
}

/** A value column read from SQLite: TEXT (a string) or BLOB (a Buffer). */
export function valueOfSqlite(value: string | Buffer): string {
  return typeof value === 'string' ? value : valueOfBytes(value);
}
