/**
 * Path resolution scoped to a root directory, as containerd's `fs.RootPath` and securejoin do:
 * every existing component is looked at with lstat; a symlink is followed with its target read
 * relative to the root (an absolute target starts again at the root, `..` stops at the root), so
 * nothing resolved here can name a file outside the root.
 */
import { lstat, mkdir, readlink } from 'node:fs/promises';
import { posix } from 'node:path';
import { HedgeError } from '../../lib/errors.ts';

const MAX_LINKS = 255;

/**
 * A tar entry name as a path relative to the root: leading `/` dropped (absolute names are taken
 * relative to the root), `.` and `x/..` folded. `undefined` when it climbs above the root.
 * The root itself is ''.
 */
export function cleanEntryPath(name: string): string | undefined {
  const n = posix.normalize(`${name}`.replace(/^\/+/, ''));
  if (n === '..' || n.startsWith('../')) return undefined;
  const s = n.replace(/\/+$/, '');
  return s === '.' ? '' : s;
}

export class RootResolver {
  /** relative directory → resolved absolute directory; valid while nothing is removed */
  private readonly dirs = new Map<string, string>();

  constructor(readonly root: string) {}

  /** call after removing anything: a cached directory may have gone */
  invalidate(): void {
    this.dirs.clear();
  }

  /**
   * The absolute path `rel` names inside the root, every symlink along it (the last component
   * included) followed inside the root. Components that do not exist are kept as written.
   */
  async resolve(rel: string, opts: { followLast?: boolean } = {}): Promise<string> {
    const followLast = opts.followLast ?? true;
    let todo = rel.split('/').filter((c) => c !== '' && c !== '.');
    const done: string[] = [];
    let links = 0;
    while (todo.length > 0) {
      const c = todo[0];
      todo = todo.slice(1);
      if (c === '..') {
        done.pop();
        continue;
      }
      const abs = posix.join(this.root, ...done, c);
      if (todo.length === 0 && !followLast) {
        done.push(c);
        break;
      }
      const st = await lstat(abs).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return undefined;
        if (err.code === 'ENOTDIR') throw new HedgeError('Invalid', `"${rel}": "${done.join('/')}" is not a directory`);
        throw err;
      });
      if (st?.isSymbolicLink()) {
        if (++links > MAX_LINKS) throw new HedgeError('Invalid', `"${rel}": too many levels of symbolic links`);
        const target = await readlink(abs);
        if (target.startsWith('/')) done.length = 0;
        todo = [...target.split('/').filter((x) => x !== '' && x !== '.'), ...todo];
        continue;
      }
      if (st && !st.isDirectory() && todo.length > 0) throw new HedgeError('Invalid', `"${rel}": "${[...done, c].join('/')}" is not a directory`);
      done.push(c);
    }
    return done.length === 0 ? this.root : posix.join(this.root, ...done);
  }

  /** the directory `rel` resolves to, created (0755, root-owned, as containerd does) where missing */
  async dir(rel: string): Promise<string> {
    const hit = this.dirs.get(rel);
    if (hit) return hit;
    const abs = await this.resolve(rel);
    if (abs !== this.root) {
      const st = await lstat(abs).catch(() => undefined);
      if (!st) await mkdir(abs, { recursive: true, mode: 0o755 });
      else if (!st.isDirectory()) throw new HedgeError('Invalid', `"${rel}" is not a directory`);
    }
    this.dirs.set(rel, abs);
    return abs;
  }
}
