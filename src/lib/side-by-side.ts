/** One of several independent steps run by `sideBySide`. */
export interface Step<T> {
  run: () => Promise<T>;
  /** undoes the step when another one failed (e.g. closes what it opened); its own failure is ignored */
  undo?: (value: T) => Promise<void>;
}

/**
 * Runs steps that need nothing of each other at the same time (a process start that waits on
 * child processes, disk and sockets in turn otherwise adds their latencies up). Every step has
 * settled when this returns or throws: when any failed, the ones that succeeded are undone and
 * the first failure in the order given is thrown, so which error a caller sees does not depend
 * on which step happened to finish first.
 */
export async function sideBySide<T extends readonly unknown[]>(steps: { readonly [K in keyof T]: Step<T[K]> }): Promise<T> {
  const list = steps as readonly Step<unknown>[];
  const results = await Promise.allSettled(list.map((s) => s.run()));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (!failed) return results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T;
  await Promise.allSettled(results.map((r, i) => (r.status === 'fulfilled' ? list[i]!.undo?.(r.value) : undefined)));
  throw failed.reason;
}
