import { chmodSync, lstatSync, mkdirSync, readdirSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, normalize, sep } from 'node:path';
import { HedgeError } from '../../lib/errors.ts';
import type { ProjectedFile } from './types.ts';

const DATA_LINK = '..data';

/**
 * kubelet's AtomicWriter: the payload goes into a fresh hidden `..<stamp>` directory, then the
 * `..data` symlink is swapped to it with one rename, so a reader never sees a half-written set.
 * User-visible names are symlinks `name -> ..data/name` created once per top-level entry.
 * Synchronous inside, as host/atomic-fs.ts's writeFileAtomic and for the same reason: a
 * service-account token volume is ~20 small file-system calls, ~0.3 ms run in a row, and ~5 ms
 * when each waited its turn in libuv's thread pool and the event loop, on a pod's start path.
 */
export async function writeAtomic(dir: string, files: ProjectedFile[], stamp: string): Promise<void> {
  for (const f of files) checkPath(f.path);
  mkdirSync(dir, { recursive: true });
  const tsName = `..${stamp}`;
  const tsDir = join(dir, tsName);
  rmSync(tsDir, { recursive: true, force: true });
  mkdirSync(tsDir, { recursive: true });
  for (const f of files) {
    const p = join(tsDir, f.path);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, f.data);
    chmodSync(p, f.mode);
  }
  const old = readlinkOrUndefined(join(dir, DATA_LINK));
  const tmpLink = join(dir, '..data_tmp');
  rmSync(tmpLink, { force: true });
  symlinkSync(tsName, tmpLink);
  renameSync(tmpLink, join(dir, DATA_LINK));

  const wanted = new Set(files.map((f) => f.path.split('/')[0]));
  for (const top of wanted) {
    const link = join(dir, top);
    if (!lstatSync(link, { throwIfNoEntry: false })) symlinkSync(join(DATA_LINK, top), link);
  }
  for (const entry of readdirSync(dir)) {
    if (entry.startsWith('..')) continue;
    if (!wanted.has(entry)) rmSync(join(dir, entry), { force: true, recursive: true });
  }
  if (old && old !== tsName) rmSync(join(dir, old), { recursive: true, force: true });
}

function readlinkOrUndefined(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}

function checkPath(p: string): void {
  const n = normalize(p);
  if (p === '' || p.startsWith('/') || n.split(sep).includes('..') || n.startsWith('..')) {
    throw new HedgeError('Invalid', `invalid projected path ${JSON.stringify(p)}: must be relative without '..'`);
  }
}
