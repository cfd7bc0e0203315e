import { mkdir, readdir, readlink, rename, rm, symlink, writeFile, chmod, lstat } from 'node:fs/promises';
import { dirname, join, normalize, sep } from 'node:path';
import { HedgeError } from '../../lib/errors.ts';
import type { ProjectedFile } from './types.ts';

const DATA_LINK = '..data';

/**
 * kubelet's AtomicWriter: the payload goes into a fresh hidden `..<stamp>` directory, then the
 * `..data` symlink is swapped to it with one rename, so a reader never sees a half-written set.
 * User-visible names are symlinks `name -> ..data/name` created once per top-level entry.
 */
export async function writeAtomic(dir: string, files: ProjectedFile[], stamp: string): Promise<void> {
  for (const f of files) checkPath(f.path);
  await mkdir(dir, { recursive: true });
  const tsName = `..${stamp}`;
  const tsDir = join(dir, tsName);
  await rm(tsDir, { recursive: true, force: true });
  await mkdir(tsDir, { recursive: true });
  for (const f of files) {
    const p = join(tsDir, f.path);
    await mkdir(dirname(p), { recursive: true });
    await writeFile(p, f.data);
    await chmod(p, f.mode);
  }
  const old = await readlink(join(dir, DATA_LINK)).catch(() => undefined);
  const tmpLink = join(dir, '..data_tmp');
  await rm(tmpLink, { force: true });
  await symlink(tsName, tmpLink);
  await rename(tmpLink, join(dir, DATA_LINK));

  const wanted = new Set(files.map((f) => f.path.split('/')[0]));
  for (const top of wanted) {
    const link = join(dir, top);
    const st = await lstat(link).catch(() => undefined);
    if (!st) await symlink(join(DATA_LINK, top), link);
  }
  for (const entry of await readdir(dir)) {
    if (entry.startsWith('..')) continue;
    if (!wanted.has(entry)) await rm(join(dir, entry), { force: true, recursive: true });
  }
  if (old && old !== tsName) await rm(join(dir, old), { recursive: true, force: true });
}

function checkPath(p: string): void {
  const n = normalize(p);
  if (p === '' || p.startsWith('/') || n.split(sep).includes('..') || n.startsWith('..')) {
    throw new HedgeError('Invalid', `invalid projected path ${JSON.stringify(p)}: must be relative without '..'`);
  }
}
