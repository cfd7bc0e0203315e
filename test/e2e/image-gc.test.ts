/**
 * Image GC end to end on the real image store and overlay snapshotter, pulling from a real
 * docker-registry on loopback: three images sharing a base layer, a real runc container from one
 * (its in-use state found the way the agent finds it: the runtime's own container list), then a
 * collection forced by a full image filesystem. The unused images and their own blobs and layers
 * leave the disk; the one in use, and the base layer it shares, stay and still start a container.
 * Then a removal killed half way (an injected failure after each durable step) leaves a store that
 * still serves the kept image, and the next removal sweeps what was left.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FakeClock } from '../../src/client/clock.ts';
import { silentLogger } from '../../src/lib/log.ts';
import { chainIds } from '../../src/agent/image/digest.ts';
import { defaultImageGCPolicy, ImageGCManager } from '../../src/agent/image/image-gc.ts';
import { LocalImageStore, type RemoveStep } from '../../src/agent/image/local-image-store.ts';
import { imagesInUse } from '../../src/agent/podsync/images-in-use.ts';
import { Labels } from '../../src/agent/podsync/labels.ts';
import { OciRuntimeHandler } from '../../src/agent/runtime/oci/oci-handler.ts';
import { canRunContainers, containerConfig, removeTestCgroupParent, sandboxConfig } from '../../src/agent/runtime/oci/test-support.ts';
import type { ContainerId, RuntimeHandler, SandboxId } from '../../src/agent/runtime/types.ts';
import { OverlaySnapshotter } from '../../src/agent/snapshot/overlay-snapshotter.ts';
import { buildTestImages, type TestImages } from '../fixtures/images/build.ts';
import { pushLayout, startRegistry, type RunningRegistry } from '../fixtures/images/registry.ts';

const skip = (existsSync('/usr/bin/docker-registry') ? undefined : 'no /usr/bin/docker-registry') ?? (existsSync('/usr/sbin/runc') ? undefined : 'no runc') ?? canRunContainers();
if (skip) process.stdout.write(`# image-gc e2e skipped: ${skip}\n`);
const signal = (): AbortSignal => AbortSignal.timeout(30_000);

describe('image GC on the real store', { skip, concurrency: false }, () => {
  let dir = '';
  let reg: RunningRegistry;
  let imgs: TestImages;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hedge-imagegc-e2e-'));
    imgs = await buildTestImages(join(dir, 'fixtures'));
    reg = await startRegistry();
    for (const t of ['busybox', 'httpd', 'layered']) await pushLayout(imgs.layoutDir, reg.url, `hedge/${t}:1`, t);
  });
  after(async () => {
    await reg?.stop();
    removeTestCgroupParent();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('removes the unused images with their own blobs and layers; the one a runc container uses still runs', async () => {
    const snap = await OverlaySnapshotter.open({ root: join(dir, 'snapshots') });
    const store = await LocalImageStore.open({ root: join(dir, 'images'), snapshotter: snap });
    const [busybox, httpd, layered] = await Promise.all(['busybox', 'httpd', 'layered'].map((t) => store.pull(`${reg.host}/hedge/${t}:1`, { signal: signal() })));
    for (const i of [busybox, httpd, layered]) await store.unpack(i, snap, signal());
    const suffix = randomBytes(4).toString('hex');
    const h = new OciRuntimeHandler({ name: 'runc', runtime: { binary: '/usr/sbin/runc', kind: 'runc', globalArgs: [] }, stateDir: join(dir, 'runc'), conmonBinary: 'conmon', logger: silentLogger() });
    const sandboxId = `sb-gc-${suffix}` as SandboxId;
    await h.createSandbox(sandboxConfig({ id: sandboxId, stateDir: join(dir, 'sandbox'), cgroupParent: `hedge-test/pod-gc-${suffix}` }), signal());
    const started: ContainerId[] = [];
    // as container-start.ts does: the image's top snapshot, a container snapshot on it, the labels
    const run = async (image: typeof httpd, command: string[]): Promise<ContainerId> => {
      const id = `c${started.length}-${suffix}` as ContainerId;
      const top = await store.unpack(image, snap, signal());
      const rootfs = await snap.prepare(id, top, { labels: { [Labels.podUid]: 'uid-gc' }, signal: signal() });
      const cfg = containerConfig({ id, sandboxId, rootfs: '', command, logPath: join(dir, 'logs', `${id}.log`) });
      await h.createContainer({ ...cfg, rootfs, image: { ref: image.ref, digest: image.digest }, labels: { [Labels.podUid]: 'uid-gc', [Labels.imageId]: image.id, [Labels.imageRef]: image.ref } }, signal());
      await h.start(id, signal());
      started.push(id);
      return id;
    };
    try {
      await run(httpd, ['sleep', '600']);
      const runtimes = new Map<string, RuntimeHandler>([['runc', h]]);
      const used = await imagesInUse({ runtimes, snapshotter: snap, pods: [], signal: signal() });
      assert.ok(used.has(httpd.id) && used.has(httpd.ref), 'the container names its image');
      const gc = new ImageGCManager({
        images: store,
        // a full disk: everything that may go has to
        imageFs: async () => ({ capacityBytes: 1_000_000, availableBytes: 0 }),
        imagesInUse: (s) => imagesInUse({ runtimes, snapshotter: snap, pods: [], signal: s }),
        policy: defaultImageGCPolicy(),
        clock: new FakeClock(Date.now() + 60_000),
        logger: silentLogger(),
      });
      await gc.detectImages(0, signal());
      const blobsBefore = new Set(await readdir(join(dir, 'images', 'content', 'blobs', 'sha256')));
      // the two unused images are far less than the "disk": GC reports it could not free enough
      await assert.rejects(gc.garbageCollect(signal()), /Failed to garbage collect required amount of images\. Attempted to free 200000 bytes, but only found \d+ bytes eligible to free\./);
      assert.deepEqual((await store.list()).map((i) => i.ref), [httpd.ref]);
      const blobs = new Set(await readdir(join(dir, 'images', 'content', 'blobs', 'sha256')));
      const hex = (d: string): string => d.slice('sha256:'.length);
      // unique to the removed ones: their manifests and configs, layered's two upper layers
      for (const d of [busybox.digest, busybox.id, layered.digest, layered.id, layered.layers[1].digest, layered.layers[2].digest]) {
        assert.ok(blobsBefore.has(hex(d)), `${d} was on disk`);
        assert.ok(!blobs.has(hex(d)), `${d} left the disk`);
      }
      // the base layer busybox and layered shared with httpd, and httpd's own, stay
      for (const d of [httpd.digest, httpd.id, ...httpd.layers.map((l) => l.digest)]) assert.ok(blobs.has(hex(d)), `${d} stays`);
      const snaps = new Set((await snap.list()).filter((s) => s.kind === 'committed').map((s) => s.key));
      const httpdChain = chainIds(httpd.layers.map((l) => l.diffId));
      const layeredChain = chainIds(layered.layers.map((l) => l.diffId));
      assert.deepEqual([...snaps].sort(), [...httpdChain].sort(), 'only httpd\'s unpacked layers (base shared) are left');
      for (const k of layeredChain.slice(1)) assert.ok(!snaps.has(k));
      // and the image in use still starts another container
      const again = await run(httpd, ['sh', '-c', 'test -x /bin/httpd && exit 7']);
      for (let i = 0; i < 100; i++) {
        const st = (await h.status(again, signal())).status;
        if (st.state === 'exited') {
          assert.equal(st.exitCode, 7, 'ran in the kept image\'s rootfs');
          break;
        }
        assert.ok(i < 99, 'container did not exit');
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      for (const id of started) {
        await h.stop(id, { timeoutSeconds: 1, signal: signal() }).catch(() => undefined);
        await h.remove(id, signal()).catch(() => undefined);
        await snap.remove(id).catch(() => undefined);
      }
      await h.removeSandbox(sandboxId, signal()).catch(() => undefined);
    }
  });

  for (const crashAt of ['records-saved', 'blob-deleted', 'snapshot-removed'] as const) {
    it(`a removal killed after "${crashAt}" leaves a store that serves the kept image; the next removal sweeps the rest`, async () => {
      const root = join(dir, `crash-${crashAt}`);
      const openAll = async (onRemoveStep?: (s: RemoveStep) => void): Promise<{ snap: OverlaySnapshotter; store: LocalImageStore }> => {
        const snap = await OverlaySnapshotter.open({ root: join(root, 'snapshots') });
        return { snap, store: await LocalImageStore.open({ root: join(root, 'images'), snapshotter: snap, ...(onRemoveStep ? { onRemoveStep } : {}) }) };
      };
      const first = await openAll((s) => {
        if (s.kind === crashAt) throw new Error(`killed after ${crashAt}`);
      });
      const httpd = await first.store.pull(`${reg.host}/hedge/httpd:1`, { signal: signal() });
      const layered = await first.store.pull(`${reg.host}/hedge/layered:1`, { signal: signal() });
      for (const i of [httpd, layered]) await first.store.unpack(i, first.snap, signal());
      await assert.rejects(first.store.removeImages([layered.ref], { signal: signal() }), new RegExp(`killed after ${crashAt}`));
      // "restart": everything from disk
      const { snap, store } = await openAll();
      assert.deepEqual((await store.list()).map((i) => i.ref), [httpd.ref], 'the record went first');
      const kept = await store.resolve(httpd.ref);
      assert.ok(kept);
      for (const d of [kept.digest, kept.id, ...kept.layers.map((l) => l.digest)]) assert.ok(await store.content.has(d), `${d} still there`);
      const top = await store.unpack(kept, snap, signal());
      const mounts = await snap.view(`check-${crashAt}`, top, {});
      const lower = mounts[0].options.find((o) => o.startsWith('lowerdir='))!.slice('lowerdir='.length).split(':');
      assert.ok(lower.some((l) => existsSync(join(l, 'bin', 'busybox'))), 'the kept image\'s base layer is on disk');
      await snap.remove(`check-${crashAt}`);
      // the next removal (of nothing) sweeps what the killed one left
      await store.removeImages([], { signal: signal() });
      for (const d of [layered.digest, layered.id, layered.layers[1].digest, layered.layers[2].digest]) assert.equal(await store.content.has(d), false, `${d} swept`);
      const left = (await snap.list()).map((s) => s.key).sort();
      assert.deepEqual(left, [...chainIds(kept.layers.map((l) => l.diffId))].sort());
      // and it still pulls: the layered image comes back whole
      const back = await store.pull(layered.ref, { signal: signal() });
      await store.unpack(back, snap, signal());
    });
  }
});
