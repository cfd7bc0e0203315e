/**
 * Runs `fn` on each item, at most `limit` at once, taking items in order. After the first error
 * `fn` throws, or once `signal` aborts, no further item is started; the items already running go
 * on to their end, and only then does it reject with that first error. So a caller that cleans up
 * after a failure (an image pull on a full disk, a test unmounting it) never races writes still
 * in flight.
 */
export async function forEachConcurrent<T>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<void>, signal?: AbortSignal): Promise<void> {
  let next = 0;
  let failed = false;
  let first: { err: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (next < items.length && !failed && !signal?.aborted) {
      const i = next++;
      try {
        await fn(items[i] as T, i);
      } catch (err) {
        failed = true;
        first ??= { err };
        return;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(0, Math.min(limit, items.length)) }, worker));
  if (first) throw first.err;
}
