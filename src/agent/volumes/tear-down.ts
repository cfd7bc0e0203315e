import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { podDir, podVolumesDir } from './paths.ts';
import type { Mounter } from './types.ts';

/** Unmounts Memory emptyDirs and removes the pod's directory (hostPath sources are never touched). */
export async function tearDownPodVolumes(opts: { dataDir: string; uid: string; mounter: Mounter; signal: AbortSignal }): Promise<void> {
  const emptyDirs = join(podVolumesDir(opts.dataDir, opts.uid), 'empty-dir');
  for (const name of await readdir(emptyDirs).catch(() => [] as string[])) {
    const p = join(emptyDirs, name);
    if (await opts.mounter.isMountPoint(p)) await opts.mounter.unmount(p, opts.signal);
  }
  await rm(podDir(opts.dataDir, opts.uid), { recursive: true, force: true });
}
