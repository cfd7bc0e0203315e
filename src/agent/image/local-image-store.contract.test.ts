/**
 * The ImageStore contract on the local store pulling from a real docker-registry the test starts
 * on loopback (fixture images built by the demo-images builder), unpacking into overlay
 * snapshots. Needs root (layer owners), docker-registry, skopeo.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildTestImages } from '../../../test/fixtures/images/build.ts';
import { pushLayout, startRegistry } from '../../../test/fixtures/images/registry.ts';
import { missingTools } from '../runtime/oci/test-support.ts';
import { OverlaySnapshotter } from '../snapshot/overlay-snapshotter.ts';
import { runImageStoreContract } from './contract.ts';
import { LocalImageStore } from './local-image-store.ts';

const miss = missingTools(['docker-registry', 'skopeo']);
const skip = process.getuid?.() !== 0 ? 'needs root (layer owners)' : miss.length ? `missing ${miss.join(', ')}` : undefined;
if (skip) console.log(`# ImageStore contract: local skipped: ${skip}`);

runImageStoreContract(
  'local + docker-registry',
  async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hedge-imgc-'));
    const imgs = await buildTestImages(join(dir, 'fixtures'));
    const reg = await startRegistry();
    for (const t of ['busybox', 'httpd']) await pushLayout(imgs.layoutDir, reg.url, `hedge/${t}:1`, t);
    const snapshotter = await OverlaySnapshotter.open({ root: join(dir, 'snaps') });
    return {
      store: await LocalImageStore.open({ root: join(dir, 'store'), snapshotter }),
      snapshotter,
      images: { a: { ref: `${reg.host}/hedge/httpd:1`, cmd: ['httpd', '-f', '-p', '8080', '-h', '/www'] }, b: { ref: `${reg.host}/hedge/busybox:1` } },
      missingRef: `${reg.host}/hedge/httpd:nope`,
      importable: { path: imgs.dockerArchive, refs: ['docker.io/hedge/busybox:latest'] },
      cleanup: async () => {
        await reg.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  },
  { skip },
);
