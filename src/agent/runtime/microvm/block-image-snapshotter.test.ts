/** The Snapshotter contract on the microVM's block images (mkfs.ext4 -d; looking inside mounts the image: root). */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runSnapshotterContract } from '../../snapshot/contract.ts';
import { mountFs } from '../../snapshot/testing/mount-fs.ts';
import { missingTools } from '../oci/test-support.ts';
import { BlockImageSnapshotter } from './block-image-snapshotter.ts';

const skip = process.getuid?.() !== 0 ? 'needs root (overlay mounts to flatten layers)' : missingTools(['mkfs.ext4', 'du', 'mount']).length ? 'needs mkfs.ext4 (e2fsprogs)' : undefined;
if (skip) console.log(`# Snapshotter contract: microvm block images skipped: ${skip}`);

let dir = '';
runSnapshotterContract(
  'microvm block images',
  async () => {
    dir = await mkdtemp(join(tmpdir(), 'hedge-snap-block-'));
    return {
      snapshotter: await BlockImageSnapshotter.open({ root: dir }),
      fs: mountFs,
      cleanup: async () => {
        // every image went with the snapshot it belonged to
        const left = await readdir(join(dir, 'images')).catch(() => []);
        await rm(dir, { recursive: true, force: true });
        if (left.filter((f) => f.endsWith('.ext4')).length) throw new Error(`images left behind: ${left.join(', ')}`);
      },
    };
  },
  { skip },
);
