import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
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
