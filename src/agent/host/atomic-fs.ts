/** Small file helpers for state kept in files (runtime records, caches). */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * write-then-rename (creating the parent directory), so a crash never leaves half a file behind.
 * Synchronous inside: these are records of a few KiB on local disk (no fsync), three syscalls of
 * ~10 µs each; the same three through libuv's thread pool waited a pool thread and an event-loop
 * turn each, ~1 ms apiece on a busy node, and several of them sit on the pod start path
 * (bench/pod-start.ts: `sandbox record`, the create's meta and `spec write`). One at a time also means two
 * writes of one path never share the temporary file.
 */
export async function writeFileAtomic(path: string, data: string, opts: { mode?: number } = {}): Promise<void> {
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
