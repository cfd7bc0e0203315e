/** Small file helpers for state kept in files (runtime records, caches). */
import { mkdir, rename, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/** write-then-rename (creating the parent directory), so a crash never leaves half a file behind */
export async function writeFileAtomic(path: string, data: string, opts: { mode?: number } = {}): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, data, opts.mode === undefined ? undefined : { mode: opts.mode });
  await rename(tmp, path);
}

/** whether anything (file, directory, socket...) is at `path`; unreadable counts as absent */
export async function pathExists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
