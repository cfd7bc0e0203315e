/**
 * Path resolution scoped to a root directory, as containerd's `fs.RootPath` and securejoin do:
 * every existing component is looked at with lstat; a symlink is followed with its target read
 * relative to the root (an absolute target starts again at the root, `..` stops at the root), so
 * nothing resolved here can name a file outside the root.
 */
import { chmod, lchown, lstat, mkdir, readlink, utimes } from 'node:fs/promises';
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

  /**
   * @param parents the lower layers, nearest first: a directory this layer needs but does not
   *   list is created with the owner, mode and times it has there (containerd's mkparent), or it
   *   would hide them in the overlay with root 0755
   */
  constructor(
    readonly root: string,
    private readonly parents: string[] = [],
  ) {}

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

  /** the directory `rel` resolves to, created where missing (attributes from the parents, else root 0755) */
  async dir(rel: string): Promise<string> {
    const hit = this.dirs.get(rel);
    if (hit) return hit;
    const abs = await this.resolve(rel);
    if (abs !== this.root) {
      const st = await lstat(abs).catch(() => undefined);
      if (!st) await this.mkparents(abs.slice(this.root.length + 1).split('/'));
      else if (!st.isDirectory()) throw new HedgeError('Invalid', `"${rel}" is not a directory`);
    }
    this.dirs.set(rel, abs);
    return abs;
  }

  /** creates root/parts..., top down, each missing one like its copy in the nearest parent */
  private async mkparents(parts: string[]): Promise<void> {
    for (let i = 1; i <= parts.length; i++) {
      const rel = parts.slice(0, i).join('/');
      const abs = posix.join(this.root, rel);
      const st = await lstat(abs).catch(() => undefined);
      if (st?.isDirectory()) continue;
      if (st) throw new HedgeError('Invalid', `"${rel}" is not a directory`);
      await mkdir(abs, { mode: 0o755 });
      for (const p of this.parents) {
        const lower = await new RootResolver(p).resolve(rel);
        const ls = await lstat(lower).catch(() => undefined);
        if (!ls) continue;
        if (ls.isDirectory()) {
          await lchown(abs, ls.uid, ls.gid);
          await chmod(abs, ls.mode & 0o7777);
          await utimes(abs, ls.atime, ls.mtime);
        }
        break;
      }
    }
  }
}
