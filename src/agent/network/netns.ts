/**
 * Named network namespaces kept alive by a bind mount of nsfs onto a file, like `ip netns`,
 * but under our own directory so the host's /run/netns stays untouched. Node cannot unshare,
 * so `unshare --net=FILE` makes and pins the namespace in one exec (and brings lo up inside).
 */
import { mkdirSync, statfsSync, writeFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { HedgeError } from '../../lib/errors.ts';
import { runChecked, runCommand } from '../host/run-command.ts';

export const DEFAULT_NETNS_DIR = '/run/hedge/netns';

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,200}$/;

export interface NetnsOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** Path of the namespace `name` under `dir`; rejects names that are not a single safe path segment. */
export function netnsPath(name: string, dir: string = DEFAULT_NETNS_DIR): string {
  if (!NAME_RE.test(name)) throw new HedgeError('BadRequest', `invalid network namespace name "${name}"`);
  return `${dir}/${name}`;
}

/** mountinfo escapes blanks and backslashes in mount points as octal. */
function unescapeMountPath(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

async function mounts(): Promise<{ target: string; fstype: string; propagation: string }[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [pre, post = ''] = line.split(' - ');
      const fields = pre.split(' ');
      return { target: unescapeMountPath(fields[4]), fstype: post.split(' ')[0], propagation: fields.slice(6).join(' ') };
    });
}

/** statfs(2)'s f_type of the namespace filesystem (linux/magic.h NSFS_MAGIC) */
const NSFS_MAGIC = 0x6e736673;

/**
 * True when `path` is a pinned namespace (an nsfs mount), not just a leftover file. One statfs(2)
 * of the path, synchronous: reading and parsing /proc/self/mountinfo (fs/promises: an open, reads
 * and a close, each a thread-pool turn; longer with every pod's mounts) sat on each pod start.
 */
export async function netnsExists(path: string): Promise<boolean> {
  try {
    return statfsSync(path).type === NSFS_MAGIC;
  } catch {
    return false;
  }
}

/** Names of the pinned namespaces in `dir`. */
export async function listNetns(dir: string = DEFAULT_NETNS_DIR): Promise<string[]> {
  const prefix = `${dir}/`;
  return (await mounts())
    .filter((m) => m.fstype === 'nsfs' && m.target.startsWith(prefix) && !m.target.slice(prefix.length).includes('/'))
    .map((m) => m.target.slice(prefix.length));
}

/**
 * unshare refuses to bind onto a file whose mount is shared (the bind would propagate back
 * into itself); make the directory its own private mount then, as `ip netns` does for /run/netns.
 */
async function makeDirPrivateMount(dir: string, opts: NetnsOptions): Promise<void> {
  const all = await mounts();
  if (!all.some((m) => m.target === dir)) await runChecked('mount', ['--bind', dir, dir], opts);
  await runChecked('mount', ['--make-private', dir], opts);
}

/** Creates the namespace at `path` with lo up. Idempotent: an existing namespace is kept as is. */
export async function createNetns(path: string, opts: NetnsOptions = {}): Promise<void> {
  netnsPath(basename(path), dirname(path));
  if (await netnsExists(path)) return;
  // synchronous (a mkdir and an empty file), as the check above: no thread-pool turns before the exec
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  for (let attempt = 0; ; attempt++) {
    writeFileSync(path, '', { mode: 0o444 });
    const res = await runCommand('unshare', [`--net=${path}`, 'ip', 'link', 'set', 'lo', 'up'], opts).catch(
      async (e: unknown) => {
        await removeNetns(path, { timeoutMs: opts.timeoutMs });
        throw e;
      },
    );
    if (res.code === 0) return;
    await removeNetns(path, { timeoutMs: opts.timeoutMs });
    if (attempt === 0 && /propagation/i.test(res.stderr)) {
      await makeDirPrivateMount(dirname(path), opts);
      continue;
    }
    throw new HedgeError('Internal', `cannot create network namespace ${path}: ${res.stderr.trim()}`);
  }
}

/**
 * Unpins and deletes the namespace file. Idempotent. Processes still inside keep the
 * namespace alive; interfaces in it die with the last of them.
 */
export async function removeNetns(path: string, opts: NetnsOptions = {}): Promise<void> {
  // A racing double create can stack two nsfs mounts on the file; peel all of them.
  for (let i = 0; i < 8 && (await netnsExists(path)); i++) {
    const res = await runCommand('umount', [path], opts);
    if (res.code !== 0 && (await netnsExists(path))) {
      throw new HedgeError('Internal', `cannot unmount network namespace ${path}: ${res.stderr.trim()}`);
    }
  }
  await rm(path, { force: true });
}

/** argv prefix that runs a command inside the namespace without `ip netns exec`'s /sys remount. */
export function nsenterArgs(path: string): string[] {
  return [`--net=${path}`, '--'];
}
