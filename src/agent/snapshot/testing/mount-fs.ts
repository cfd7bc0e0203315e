/** Looks through a snapshot's mounts for the contract suite: bind sources directly, overlay and ext4 images mounted in a temp dir (root). */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { SnapshotFs } from '../contract.ts';
import type { Mount } from '../types.ts';

const run = promisify(execFile);

async function withMounted<T>(mounts: Mount[], fn: (dir: string) => Promise<T>): Promise<T> {
  if (mounts.length !== 1) throw new Error(`expected one mount, got ${JSON.stringify(mounts)}`);
  const [m] = mounts as [Mount];
  if (m.type === 'bind') return await fn(m.source);
  const dir = await mkdtemp(join(tmpdir(), 'hedge-snapfs-'));
  try {
    if (m.type === 'overlay') await run('mount', ['-t', 'overlay', 'overlay', '-o', m.options.join(','), dir]);
    else if (m.type === 'ext4' || m.type === 'erofs') await run('mount', ['-t', m.type, '-o', ['loop', ...m.options].join(','), m.source, dir]);
    else throw new Error(`cannot look through a ${m.type} mount`);
    try {
      return await fn(dir);
    } finally {
      await run('umount', [dir]);
    }
  } finally {
    await rmdir(dir).catch(() => undefined);
  }
}

export const mountFs: SnapshotFs = {
  async write(mounts, rel, data) {
    await withMounted(mounts, async (dir) => {
      await mkdir(dirname(join(dir, rel)), { recursive: true });
      await writeFile(join(dir, rel), data);
    });
  },
  async remove(mounts, rel) {
    await withMounted(mounts, async (dir) => rm(join(dir, rel)));
  },
  async read(mounts, rel) {
    return await withMounted(mounts, async (dir) =>
      readFile(join(dir, rel), 'utf8').catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return undefined;
        throw err;
      }),
    );
  },
};
