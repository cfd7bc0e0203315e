/** Small file helpers for state kept in files (runtime records, caches). */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * write-then-rename (creating the parent directory), so a crash never leaves half a file behind.
 * Synchronous underneath: these are small records (a few KB at most) written to the page cache,
 * tens of microseconds of syscalls, where three or four thread-pool round trips each gave the
 * CPU away and waited for it again (on a loaded 2-core host, 5–8 ms per record on a pod's start
 * path). Nothing here waits on the disk (no fsync), so it cannot hold the event loop for long.
 */
export async function writeFileAtomic(path: string, data: string, opts: { mode?: number } = {}): Promise<void> {
  writeFileAtomicSync(path, data, opts);
}

export function writeFileAtomicSync(path: string, data: string, opts: { mode?: number } = {}): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data, opts.mode === undefined ? undefined : { mode: opts.mode });
  renameSync(tmp, path);
}

/** whether anything (file, directory, socket...) is at `path`; unreadable counts as absent */
export async function pathExists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
