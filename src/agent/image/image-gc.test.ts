/**
 * The image GC policy with a fake clock, a fake image filesystem whose usage drops as images go,
 * and the in-memory image store; one test runs it over the real store (shared blobs).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FakeClock } from '../../client/clock.ts';
import type { EventInput } from '../../client/event-recorder.ts';
import { silentLogger } from '../../lib/log.ts';
import { Registry } from '../../lib/prom.ts';
import { buildTestImages } from '../../../test/fixtures/images/build.ts';
import { ImageGCManager, IMAGE_GC_PERIOD_MS, validateImageGCPolicy, defaultImageGCPolicy, type ImageGCPolicy } from './image-gc.ts';
import { LocalImageStore } from './local-image-store.ts';
import { FakeImageStore } from './testing/fake-image-store.ts';

const MIN = 60_000;
const sig = (): AbortSignal => AbortSignal.timeout(20_000);

interface Setup {
  clock: FakeClock;
  store: FakeImageStore;
  gc: ImageGCManager;
  events: EventInput[];
  inUse: Set<string>;
  /** bytes used on the fake 1000-byte filesystem besides the images */
  fs: { capacity: number; other: number };
  metrics: Registry;
}

/** images: ref → [size, minutes before the start it was last used] */
async function setup(images: Record<string, [number, number]>, policy: Partial<ImageGCPolicy> = {}): Promise<Setup> {
  const clock = new FakeClock();
  const store = new FakeImageStore();
  for (const [ref, [size, ago]] of Object.entries(images)) {
    store.addRemote(ref, { Cmd: [ref] });
    await store.pull(ref, { signal: sig() });
    const rec = store.local.get(ref)!;
    rec.sizeBytes = size;
    rec.lastUsed = new Date(clock.now() - ago * MIN);
  }
  const events: EventInput[] = [];
  const inUse = new Set<string>();
  const fs = { capacity: 1000, other: 0 };
  const metrics = new Registry();
  const gc = new ImageGCManager({
    images: store,
    imageFs: async () => {
      const used = fs.other + [...store.local.values()].reduce((n, i) => n + i.sizeBytes, 0);
      return { capacityBytes: fs.capacity, availableBytes: fs.capacity - used };
    },
    imagesInUse: async () => new Set(inUse),
    policy: { ...defaultImageGCPolicy(), ...policy },
    clock,
    logger: silentLogger(),
    events: { emit: (e) => events.push(e) },
    nodeName: 'edge-1',
    metrics,
  });
  return { clock, store, gc, events, inUse, fs, metrics };
}

const refs = (s: FakeImageStore): string[] => [...s.local.keys()].sort();

describe('image GC policy', () => {
  it('does nothing below the high threshold; at it, frees least recently used images down to the low threshold', async () => {
    // 4 images of 100 bytes + 440 other = 84%: below 85
    const s = await setup({ 'r/a:1': [100, 30], 'r/b:1': [100, 10], 'r/c:1': [100, 20], 'r/d:1': [100, 5] });
    s.fs.other = 440;
    await s.gc.detectImages(0, sig());
    await s.gc.garbageCollect(sig());
    assert.deepEqual(s.store.removed, []);
    // 85% used: free to 80% = 50 bytes → the least recently used one (a) is enough
    s.fs.other = 450;
    await s.gc.garbageCollect(sig());
    assert.deepEqual(s.store.removed, ['r/a:1']);
    // 95%: free 150 bytes → c (20 min ago) then b (10 min ago)
    s.fs.other = 650;
    await s.gc.garbageCollect(sig());
    assert.deepEqual(s.store.removed, ['r/a:1', 'r/c:1', 'r/b:1']);
    assert.deepEqual(refs(s.store), ['r/d:1']);
    assert.deepEqual(s.events, []);
    assert.match(await s.metrics.metrics(), /kubelet_image_garbage_collected_total\{reason="space"\} 3/);
  });

  it('keeps images in use (by pod reference, digest, id or rootfs snapshot) and pinned ones, and says so when that is not enough', async () => {
    const s = await setup({ 'docker.io/library/busybox:1': [100, 30], 'r/b:1': [100, 20], 'r/c:1': [100, 10], 'r/pinned:1': [100, 40], 'r/snap:1': [100, 50] });
    await s.store.setPinned('r/pinned:1', true);
    s.store.local.get('r/snap:1')!.topSnapshot = 'sha256:' + 'ab'.repeat(32);
    s.inUse.add('busybox:1'); // as a pod writes it
    s.inUse.add(s.store.local.get('r/b:1')!.id);
    s.inUse.add('sha256:' + 'ab'.repeat(32));
    s.fs.other = 500; // 100% used: free 200
    await s.gc.detectImages(0, sig());
    await assert.rejects(
      s.gc.garbageCollect(sig()),
      /^HedgeError: Failed to garbage collect required amount of images\. Attempted to free 200 bytes, but only found 100 bytes eligible to free\.$/,
    );
    assert.deepEqual(s.store.removed, ['r/c:1']);
    assert.deepEqual(
      s.events.map((e) => [e.type, e.reason, e.involved.kind, e.involved.metadata?.name, e.message]),
      [['Warning', 'FreeDiskSpaceFailed', 'Node', 'edge-1', 'Failed to garbage collect required amount of images. Attempted to free 200 bytes, but only found 100 bytes eligible to free.']],
    );
  });

  it('an image in use at a detection counts as used then: once unused it is the last to go', async () => {
    const s = await setup({ 'r/a:1': [100, 60], 'r/b:1': [100, 30] });
    await s.gc.detectImages(0, sig());
    s.inUse.add('r/a:1');
    await s.gc.detectImages(s.clock.now(), sig());
    s.inUse.clear();
    s.clock.advance(MIN);
    assert.equal(await s.gc.freeSpace(100, sig()), 100);
    assert.deepEqual(s.store.removed, ['r/b:1'], 'a was used a minute ago, b half an hour ago');
  });

  it('skips images first seen within the minimum age; counts them once it has passed', async () => {
    const s = await setup({ 'r/a:1': [100, 60] }, { minAgeMs: 2 * MIN });
    // not detected at start (0): first seen now
    assert.equal(await s.gc.freeSpace(100, sig()), 0);
    s.clock.advance(2 * MIN - 1);
    assert.equal(await s.gc.deleteUnusedImages(sig()), 0);
    s.clock.advance(1);
    assert.equal(await s.gc.deleteUnusedImages(sig()), 100);
    assert.deepEqual(refs(s.store), []);
  });

  it('maximum age removes images unused for longer whatever the disk, but not before that long after start', async () => {
    const s = await setup({ 'r/old:1': [100, 90], 'r/new:1': [100, 10], 'r/used:1': [100, 120] }, { maxAgeMs: 60 * MIN });
    s.inUse.add('r/used:1');
    await s.gc.detectImages(0, sig());
    await s.gc.garbageCollect(sig());
    assert.deepEqual(s.store.removed, [], 'the agent has not run for maxAge yet');
    s.clock.advance(60 * MIN + 1);
    await s.gc.garbageCollect(sig());
    // old: unused 150 min; new: 70 min; used: in use now
    assert.deepEqual(s.store.removed.sort(), ['r/new:1', 'r/old:1']);
    assert.match(await s.metrics.metrics(), /kubelet_image_garbage_collected_total\{reason="age"\} 2/);
  });

  it('several tags of one image are one record and go together', async () => {
    const s = await setup({ 'r/a:1': [100, 30] });
    const a = s.store.local.get('r/a:1')!;
    s.store.local.set('r/a:latest', { ...a, ref: 'r/a:latest' });
    await s.gc.detectImages(0, sig());
    assert.equal(await s.gc.freeSpace(1, sig()), 200);
    assert.deepEqual(s.store.removed.sort(), ['r/a:1', 'r/a:latest']);
  });

  it('a failing in-use listing removes nothing', async () => {
    const s = await setup({ 'r/a:1': [100, 30] });
    const gc = new ImageGCManager({
      images: s.store,
      imageFs: async () => ({ capacityBytes: 100, availableBytes: 0 }),
      imagesInUse: async () => {
        throw new Error('runtime list failed');
      },
      policy: defaultImageGCPolicy(),
      clock: s.clock,
      logger: silentLogger(),
    });
    await assert.rejects(gc.garbageCollect(sig()), /runtime list failed/);
    assert.deepEqual(refs(s.store), ['r/a:1']);
  });

  it('run: collects every period; a second failure in a row is an ImageGCFailed event', async () => {
    const s = await setup({ 'r/a:1': [100, 30] });
    s.fs.capacity = 0;
    const stop = new AbortController();
    const done = s.gc.run(stop.signal);
    const tick = async (): Promise<void> => {
      while (s.clock.pending === 0) await new Promise((r) => setImmediate(r));
      s.clock.advance(IMAGE_GC_PERIOD_MS);
      while (s.clock.pending === 0) await new Promise((r) => setImmediate(r));
    };
    await tick();
    assert.deepEqual(s.events.map((e) => e.reason), ['InvalidDiskCapacity']);
    await tick();
    assert.deepEqual(s.events.map((e) => e.reason), ['InvalidDiskCapacity', 'InvalidDiskCapacity', 'ImageGCFailed']);
    s.fs.capacity = 1000;
    s.fs.other = 900;
    await tick();
    assert.deepEqual(refs(s.store), [], 'detected at start: no minimum age protection for it');
    stop.abort();
    await done;
  });

  it('policy validation names the key', () => {
    assert.equal(validateImageGCPolicy(defaultImageGCPolicy()), undefined);
    assert.equal(validateImageGCPolicy({ ...defaultImageGCPolicy(), highThresholdPercent: 101 })?.key, 'imageGCHighThresholdPercent');
    assert.equal(validateImageGCPolicy({ ...defaultImageGCPolicy(), lowThresholdPercent: -1 })?.key, 'imageGCLowThresholdPercent');
    assert.deepEqual(validateImageGCPolicy({ ...defaultImageGCPolicy(), lowThresholdPercent: 85 }), {
      key: 'imageGCLowThresholdPercent',
      message: '85 must be less than imageGCHighThresholdPercent 85',
    });
    assert.equal(validateImageGCPolicy({ ...defaultImageGCPolicy(), maxAgeMs: MIN })?.key, 'imageMaximumGCAge');
    assert.throws(() => new ImageGCManager({ images: new FakeImageStore(), imageFs: async () => ({ capacityBytes: 1, availableBytes: 1 }), imagesInUse: async () => new Set(), policy: { ...defaultImageGCPolicy(), lowThresholdPercent: 90 }, clock: new FakeClock(), logger: silentLogger() }), /imageGCLowThresholdPercent/);
  });
});

describe('image GC over the real store', () => {
  it('removing an unused image frees its own blobs and keeps those a kept image shares', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hedge-imagegc-'));
    try {
      const imgs = await buildTestImages(join(dir, 'fixtures'));
      const store = await LocalImageStore.open({ root: join(dir, 'store') });
      const imported = await store.import(imgs.layoutDir, { signal: sig() });
      const httpd = imported.find((i) => i.ref.endsWith('/httpd:1') || i.ref.includes('httpd'))!;
      const layered = imported.find((i) => i.ref.includes('layered'))!;
      assert.ok(httpd && layered, imported.map((i) => i.ref).join(' '));
      const clock = new FakeClock(Date.now() + 10 * MIN);
      const keep = new Set(imported.filter((i) => i.id !== layered.id).map((i) => i.ref));
      const gc = new ImageGCManager({
        images: store,
        imageFs: async () => ({ capacityBytes: 100, availableBytes: 0 }),
        imagesInUse: async () => keep,
        policy: defaultImageGCPolicy(),
        clock,
        logger: silentLogger(),
      });
      await gc.detectImages(0, sig());
      const own = layered.layers.filter((l) => !httpd.layers.some((h) => h.digest === l.digest));
      const ownBytes = own.reduce((n, l) => n + l.size, 0);
      const freed = await gc.deleteUnusedImages(sig());
      assert.ok(freed >= ownBytes, `freed ${freed} ≥ its own layers ${ownBytes}`);
      assert.ok(!(await store.list()).some((i) => i.id === layered.id));
      for (const l of own) assert.equal(await store.content.has(l.digest), false, `own layer ${l.digest} gone`);
      for (const l of httpd.layers) assert.ok(await store.content.has(l.digest), `shared/kept layer ${l.digest} stays`);
      assert.ok(await store.content.has(httpd.id));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
