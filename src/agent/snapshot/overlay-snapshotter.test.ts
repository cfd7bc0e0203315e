import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runSnapshotterContract } from './contract.ts';
import { OverlaySnapshotter } from './overlay-snapshotter.ts';
import { mountFs } from './testing/mount-fs.ts';

const root = process.getuid?.() === 0;
runSnapshotterContract('overlay', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hedge-snap-overlay-'));
  return {
    snapshotter: await OverlaySnapshotter.open({ root: dir }),
    ...(root ? { fs: mountFs } : { noFs: 'mounting overlayfs needs root' }),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

test('overlay: a reopened snapshotter keeps its snapshots and drops directories no record names (crash leftovers)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hedge-snap-overlay-'));
  try {
    const a = await OverlaySnapshotter.open({ root: dir });
    await a.prepare('l', undefined, { labels: { k: 'v' } });
    await a.commit('L', 'l', {});
    await a.prepare('c', 'L', {});
    await mkdir(join(dir, 'snapshots', '999', 'fs'), { recursive: true });
    const b = await OverlaySnapshotter.open({ root: dir });
    assert.deepEqual((await b.list()).map((i) => [i.key, i.kind, i.parent]).sort(), [
      ['L', 'committed', undefined],
      ['c', 'active', 'L'],
    ]);
    assert.deepEqual((await b.stat('L'))?.labels, { k: 'v' });
    assert.deepEqual(await b.mounts('c'), await a.mounts('c'));
    assert.equal(existsSync(join(dir, 'snapshots', '999')), false);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('overlay: prepares and removes made side by side (pods starting again after a reboot) are all on disk, none lost to another write', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hedge-snap-overlay-'));
  try {
    const a = await OverlaySnapshotter.open({ root: dir });
    await a.prepare('base', undefined, {});
    await a.commit('BASE', 'base', {});
    for (let i = 0; i < 10; i++) await a.prepare(`old-${i}`, 'BASE', {});
    // the old containers' snapshots go while the new ones are made, all at once
    await Promise.all([
      ...Array.from({ length: 20 }, (_, i) => a.prepare(`new-${i}`, 'BASE', { labels: { i: String(i) } })),
      ...Array.from({ length: 10 }, (_, i) => a.remove(`old-${i}`)),
    ]);
    const expected = ['BASE', ...Array.from({ length: 20 }, (_, i) => `new-${i}`)].sort();
    assert.deepEqual((await a.list()).map((s) => s.key).sort(), expected);
    const b = await OverlaySnapshotter.open({ root: dir });
    assert.deepEqual((await b.list()).map((s) => s.key).sort(), expected, 'the file holds the last state');
    for (let i = 0; i < 20; i++) assert.deepEqual(await b.mounts(`new-${i}`), await a.mounts(`new-${i}`));
    // the removed ones' directories are gone, the new ones' are there
    assert.equal((await readdir(join(dir, 'snapshots'))).length, 21);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
