import assert from 'node:assert/strict';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { isMountpoint, mountPoints } from './mount.ts';

it('mountPoints reads field 5 of mountinfo, undoing the octal escapes', () => {
  const info = [
    '22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw',
    '95 29 0:45 / /var/lib/hedge/pods/a\\040b/shm rw,relatime - tmpfs shm rw,size=65536k',
    '',
  ].join('\n');
  assert.deepEqual([...mountPoints(info)], ['/proc', '/var/lib/hedge/pods/a b/shm']);
});

it('isMountpoint: a mount point (also through a symlink) is one; a plain or missing directory is not', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hedge-mount-test-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await symlink('/proc', join(dir, 'proc-link'));
  const signal = AbortSignal.timeout(5_000);
  assert.equal(await isMountpoint('/proc', signal), true, '/proc');
  assert.equal(await isMountpoint(join(dir, 'proc-link'), signal), true, 'a symlink to /proc');
  assert.equal(await isMountpoint(dir, signal), false, 'a directory on the root file system');
  assert.equal(await isMountpoint(join(dir, 'missing'), signal), false, 'a missing path');
});
