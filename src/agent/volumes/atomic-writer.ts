import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
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
  // as kubelet's AtomicWriter: a payload equal to what `..data` holds is not written again (a
  // refresh every minute of every pod would otherwise swap every volume each time, and a reader
  // through a cache, e.g. a microVM guest over 9p, could meet the old directory just removed)
  if (holdsPayload(dir, files)) return;
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

/** `..data` holds exactly these files (same paths, bytes and modes) and their names are linked */
function holdsPayload(dir: string, files: ProjectedFile[]): boolean {
  const current = readlinkOrUndefined(join(dir, DATA_LINK));
  if (current === undefined) return false;
  const base = join(dir, current);
  if (countFiles(base) !== files.length) return false;
  for (const f of files) {
    const p = join(base, f.path);
    const st = lstatSync(p, { throwIfNoEntry: false });
    if (!st?.isFile() || (st.mode & 0o7777) !== f.mode || st.size !== f.data.length || !readFileSync(p).equals(f.data)) return false;
  }
  for (const top of new Set(files.map((f) => f.path.split('/')[0]!))) {
    if (!lstatSync(join(dir, top), { throwIfNoEntry: false })) return false;
  }
  return true;
}

/** regular files under `dir` (-1 when it cannot be read) */
function countFiles(dir: string): number {
  try {
    let n = 0;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) {
        const sub = countFiles(join(dir, e.name));
        if (sub < 0) return -1;
        n += sub;
      } else n += 1;
    }
    return n;
  } catch {
    return -1;
  }
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
