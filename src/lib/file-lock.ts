import { open, readFile, rm } from 'node:fs/promises';
import { HedgeError } from './errors.ts';

/**
 * Runs `f` holding an exclusive lock between processes: the lock is the file `path`, created with
 * O_EXCL and holding the owner's pid. A lock whose owner is gone (killed mid-update) is taken
 * over; one held longer than `timeoutMs` by a live process is an error, never a wait forever.
 * For read-modify-write of small state files shared by the server and the CLI (e.g. the token
 * file: two `hedge token create-node` run at once each read it, added their token and renamed
 * their copy over it, and the first token was lost).
 */
export async function withFileLock<T>(path: string, f: () => Promise<T>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let wait = 5; ; wait = Math.min(wait * 2, 100)) {
    try {
      const fh = await open(path, 'wx', 0o600);
      try {
        await fh.writeFile(String(process.pid));
      } finally {
        await fh.close();
      }
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (await ownerGone(path)) {
      await rm(path, { force: true });
      continue;
    }
    if (Date.now() > deadline) throw new HedgeError('Timeout', `${path} is held by another process for over ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, wait));
  }
  try {
    return await f();
  } finally {
    await rm(path, { force: true });
  }
}

/** the lock file names a pid that no longer runs (an empty file is being written: not gone) */
async function ownerGone(path: string): Promise<boolean> {
  const text = await readFile(path, 'utf8').catch(() => '');
  const pid = Number(text.trim());
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
