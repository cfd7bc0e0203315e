/**
 * Buffers a cache keeps for as long as the entry lives. `Buffer.from(string)`, `Buffer.concat` and
 * `Buffer.allocUnsafe` under 4 KiB slice node's shared 8 KiB pool, and a kept slice keeps its whole
 * slab: a cached ~3 KiB pod encoding held 8 KiB (the hub of `hedge node` with 20 pods: ~30 slabs,
 * each kept by one entry). These allocate exactly the bytes they hold, outside the pool.
 */
export function keptBufferOf(s: string): Buffer {
  const b = Buffer.allocUnsafeSlow(Buffer.byteLength(s));
  b.write(s);
  return b;
}

/** `parts` joined in one buffer of their exact size, outside the pool (see keptBufferOf) */
export function keptConcat(parts: readonly Buffer[]): Buffer {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = Buffer.allocUnsafeSlow(n);
  let at = 0;
  for (const p of parts) at += p.copy(out, at);
  return out;
}
