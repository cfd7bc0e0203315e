import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { buildTestImages, type TestImages } from '../../../test/fixtures/images/build.ts';
import { pushLayout, startRegistry, type RunningRegistry } from '../../../test/fixtures/images/registry.ts';
import { isHedgeError } from '../../lib/errors.ts';
import { OverlaySnapshotter } from '../snapshot/overlay-snapshotter.ts';
import { LocalImageStore } from './local-image-store.ts';
import type { PullProgress } from './types.ts';

const run = promisify(execFile);
let dir = '';
let reg: RunningRegistry;
let imgs: TestImages;
const signal = (): AbortSignal => AbortSignal.timeout(20_000);

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hedge-img-'));
  imgs = await buildTestImages(join(dir, 'fixtures'));
  reg = await startRegistry();
  for (const t of ['busybox', 'httpd', 'layered', 'httpd-docker', 'multiarch']) await pushLayout(imgs.layoutDir, reg.url, `hedge/${t}:1`, t);
});
after(async () => {
  await reg?.stop();
  await rm(dir, { recursive: true, force: true });
});

const open = async (name: string, snapshotter?: OverlaySnapshotter): Promise<LocalImageStore> =>
  await LocalImageStore.open({ root: join(dir, name), ...(snapshotter ? { snapshotter } : {}) });

test('pull, then pull again: the second fetches no blobs; pull by digest; Docker media types; multi-arch', async () => {
  const store = await open('pull');
  const progress: PullProgress[] = [];
  const ref = `${reg.host}/hedge/httpd:1`;
  const info = await store.pull(ref, { signal: signal(), onProgress: (p) => progress.push(p) });
  assert.equal(info.digest, imgs.httpd.manifestDigest);
  assert.equal(info.id, imgs.httpd.configDigest);
  assert.deepEqual(info.config.Cmd, ['httpd', '-f', '-p', '8080', '-h', '/www']);
  assert.deepEqual(info.layers.map((l) => l.diffId), imgs.httpd.diffIds);
  assert.ok(progress.some((p) => p.status === 'done' && p.completedBytes === p.totalBytes));
  const blobs = store.client.stats.blobRequests;
  assert.equal(blobs, 3);

  const again = await store.pull(ref, { signal: signal() });
  assert.equal(again.digest, info.digest);
  assert.equal(store.client.stats.blobRequests, blobs, 'second pull fetched blobs');

  const byDigest = await store.pull(`${reg.host}/hedge/httpd-docker@${imgs.httpdDocker.manifestDigest}`, { signal: signal() });
  assert.equal(byDigest.digest, imgs.httpdDocker.manifestDigest);
  assert.equal(byDigest.layers[0].mediaType, 'application/vnd.docker.image.rootfs.diff.tar.gzip');
  // same layer bytes and the same config JSON as the OCI httpd: nothing is fetched
  assert.equal(store.client.stats.blobRequests, blobs);

  const multi = await store.pull(`${reg.host}/hedge/multiarch:1`, { signal: signal() });
  assert.equal(multi.digest, imgs.multiarch.indexDigest);
  assert.equal(multi.id, imgs.busybox.configDigest, 'picked linux/amd64');

  assert.equal((await store.resolve(ref))?.digest, info.digest);
  assert.equal((await store.resolve(info.id))?.ref, `${reg.host}/hedge/httpd:1`);
  assert.equal(await store.resolve(`${reg.host}/hedge/nope:1`), undefined);
  const reopened = await open('pull');
  assert.equal((await reopened.list()).length, 3);
});

test('a missing tag is NotFound carrying the registry message; a dead registry is Unavailable', async () => {
  const store = await open('missing');
  await assert.rejects(store.pull(`${reg.host}/hedge/httpd:nope`, { signal: signal() }), (e: unknown) => {
    assert.ok(isHedgeError(e, 'NotFound'), String(e));
    assert.match(e.message, /manifest unknown/);
    assert.match(e.message, /hedge\/httpd:nope/);
    return true;
  });
  await assert.rejects(store.pull('127.0.0.1:1/x:1', { signal: signal() }), (e: unknown) => isHedgeError(e, 'Unavailable'));
});

test('import an OCI layout and a docker-archive', async () => {
  const store = await open('import');
  const fromLayout = await store.import(imgs.layoutDir, { signal: signal() });
  assert.deepEqual(fromLayout.map((i) => i.ref).sort(), ['busybox', 'httpd', 'httpd-docker', 'layered', 'multiarch'].map((t) => `docker.io/library/${t}:latest`).sort());
  assert.equal((await store.resolve('httpd'))?.digest, imgs.httpd.manifestDigest);
  const fromArchive = await store.import(imgs.dockerArchive, { signal: signal() });
  assert.equal(fromArchive.length, 1);
  assert.equal(fromArchive[0].ref, 'docker.io/hedge/busybox:latest');
  assert.equal(fromArchive[0].id, imgs.busybox.configDigest);
  assert.equal(fromArchive[0].layers[0].digest, imgs.busybox.diffIds[0], 'uncompressed layer stored by its diff id');
});

test('unpack into overlay snapshots: modes, owners, links, whiteouts and opaque dirs under a real overlay mount', async () => {
  const snap = await OverlaySnapshotter.open({ root: join(dir, 'snaps') });
  const store = await open('unpack', snap);
  const img = await store.pull(`${reg.host}/hedge/layered:1`, { signal: signal() });
  const top = await store.unpack(img, snap, signal());
  assert.equal((await snap.list()).filter((s) => s.kind === 'committed').length, 3);
  assert.equal(await store.unpack(img, snap, signal()), top, 'second unpack is a no-op');

  const mounts = await snap.prepare('ctr-1', top, {});
  assert.equal(mounts[0].type, 'overlay');
  const target = join(dir, 'mnt');
  await mkdir(target);
  await run('mount', ['-t', 'overlay', 'overlay', '-o', mounts[0].options.join(','), target]);
  try {
    assert.deepEqual((await readdir(join(target, 'data'))).sort(), ['a.txt', 'c.txt', 'hl', 'link', 'script.sh']);
    assert.deepEqual(await readdir(join(target, 'opq')), ['z.txt']);
    const script = await stat(join(target, 'data/script.sh'));
    assert.equal(script.mode & 0o7777, 0o4750);
    assert.deepEqual([script.uid, script.gid], [1000, 1001]);
    assert.equal((await stat(join(target, 'opq'))).mode & 0o7777, 0o750);
    assert.equal((await stat(join(target, 'tmp'))).mode & 0o7777, 0o1777);
    assert.ok((await lstat(join(target, 'bin/sh'))).isSymbolicLink());
    assert.equal((await stat(join(target, 'data/hl'))).ino, (await stat(join(target, 'data/a.txt'))).ino);
    assert.equal(await readFile(join(target, 'data/link'), 'utf8'), 'a\n');
    const { stdout } = await run('chroot', [target, '/bin/sh', '-c', 'cat /data/c.txt; ls /opq']);
    assert.equal(stdout, 'c\nz.txt\n');
  } finally {
    await run('umount', [target]);
  }
  await snap.remove('ctr-1');
  // a single-layer view is a bind mount of the committed layer
  const bb = await store.pull(`${reg.host}/hedge/busybox:1`, { signal: signal() });
  const bbTop = await store.unpack(bb, snap, signal());
  const view = await snap.view('v', bbTop, {});
  assert.deepEqual(view, [{ type: 'bind', source: snap.fsPath(bbTop), options: ['ro', 'rbind'] }]);
  await snap.remove('v');
  await assert.rejects(snap.remove(bbTop), (e: unknown) => isHedgeError(e, 'Conflict'));
});

test('removeImages frees the image\'s own blobs and snapshots, never ones a kept image shares', async () => {
  const snap = await OverlaySnapshotter.open({ root: join(dir, 'gc-snaps') });
  const store = await open('gc', snap);
  const a = await store.pull(`${reg.host}/hedge/httpd:1`, { signal: signal() });
  const b = await store.pull(`${reg.host}/hedge/layered:1`, { signal: signal() });
  await store.unpack(b, snap, signal());
  const before = (await store.content.list()).length;
  const freed = await store.removeImages([b.ref], { signal: signal() });
  assert.ok(freed > 0);
  assert.deepEqual((await store.list()).map((i) => i.ref), [a.ref]);
  // shared busybox layer stays (httpd uses it); layered's own layers, config and manifest go
  assert.equal((await store.content.list()).length, before - 4);
  assert.ok(await store.content.has(a.layers[0].digest));
  assert.equal((await snap.list()).length, 1, 'only the busybox base snapshot (shared chain id) is left');
  await store.remove(a.ref);
  assert.deepEqual(await store.content.list(), []);
});

test('an image\'s size counts its manifest, config and layers (what containerd\'s CRI lists)', async () => {
  const store = await open('size');
  const a = await store.pull(`${reg.host}/hedge/httpd:1`, { signal: signal() });
  let want = 0;
  for (const d of await store.content.list()) want += (await store.content.size(d)) ?? 0;
  assert.equal(a.sizeBytes, want);
  assert.equal((await store.list())[0].sizeBytes, want);
});

test('a full disk fails the pull with a clear ENOSPC error and records no image', async () => {
  const root = join(dir, 'full');
  await mkdir(root, { recursive: true });
  // smaller than the busybox layer: the blob cannot be stored
  await run('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', root]);
  try {
    const store = await LocalImageStore.open({ root });
    await assert.rejects(store.pull(`${reg.host}/hedge/httpd:1`, { signal: signal() }), (err: Error) => {
      assert.match(err.message, /no space left on device|ENOSPC/i);
      return true;
    });
    assert.deepEqual(await store.list(), []);
    assert.deepEqual(await (await LocalImageStore.open({ root })).list(), [], 'nothing recorded on disk either');
  } finally {
    await run('umount', [root]);
  }
});
