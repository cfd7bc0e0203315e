/**
 * Image pull from a local docker-registry, side by side with the real tools in the same run:
 * 1. the httpd test image: our client cold (empty store), warm (everything deduped) and
 *    `skopeo copy docker://… oci:DIR`;
 * 2. a real image (Debian minbase + nginx-light, ~190 MB unpacked, two layers; built by
 *    test/fixtures/images/debian-image.ts, needs root): our pull, our unpack into overlay
 *    snapshots (layer-apply.ts) and the microVM block-image conversion (rootfs-image.ts), beside
 *    `skopeo copy` + `umoci unpack` of the same image. Also the cost of setting xattrs (file
 *    capabilities) with setfattr.
 * Usage: node --import tsx bench/image-pull.ts [runs=5] [realRuns=3]
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { applyLayer } from '../src/agent/image/layer-apply.ts';
import { LocalImageStore } from '../src/agent/image/local-image-store.ts';
import { ensureRootfsImage } from '../src/agent/runtime/microvm/rootfs-image.ts';
import { OverlaySnapshotter } from '../src/agent/snapshot/overlay-snapshotter.ts';
import { buildTestImages } from '../test/fixtures/images/build.ts';
import { ensureDebianImage } from '../test/fixtures/images/debian-image.ts';
import { pushLayout, skopeoCopy, startRegistry } from '../test/fixtures/images/registry.ts';

const runs = Number(process.argv[2] ?? 5);
const realRuns = Number(process.argv[3] ?? 3);
const exec = promisify(execFile);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const dir = await mkdtemp(join(tmpdir(), 'hedge-bench-pull-'));
const reg = await startRegistry();
try {
  const imgs = await buildTestImages(join(dir, 'fixtures'));
  await pushLayout(imgs.layoutDir, reg.url, 'hedge/httpd:1', 'httpd');
  const ref = `${reg.host}/hedge/httpd:1`;
  const cold: number[] = [];
  const warm: number[] = [];
  const skopeo: number[] = [];
  for (let i = 0; i < runs; i++) {
    const root = join(dir, `store-${i}`);
    const store = await LocalImageStore.open({ root });
    let t = performance.now();
    await store.pull(ref, { signal: AbortSignal.timeout(60_000) });
    cold.push(performance.now() - t);
    t = performance.now();
    await store.pull(ref, { signal: AbortSignal.timeout(60_000) });
    warm.push(performance.now() - t);
    await rm(root, { recursive: true, force: true });
    const out = join(dir, `skopeo-${i}`);
    t = performance.now();
    await skopeoCopy(`docker://${ref}`, `oci:${out}:httpd`);
    skopeo.push(performance.now() - t);
    await rm(out, { recursive: true, force: true });
  }
  const base = median(skopeo);
  const rows = [
    ['hedge pull (cold)', median(cold)],
    ['hedge pull (warm, deduped)', median(warm)],
    ['skopeo copy docker:// → oci:', base],
  ] as const;
  process.stdout.write(`httpd image (${imgs.httpd.layers.length} layers), ${runs} runs, medians\n`);
  process.stdout.write(`${'case'.padEnd(32)}${'ms'.padStart(10)}${'vs skopeo'.padStart(12)}\n`);
  for (const [name, ms] of rows) process.stdout.write(`${name.padEnd(32)}${ms.toFixed(1).padStart(10)}${(ms / base).toFixed(2).padStart(11)}x\n`);
  await realImage(reg, dir);
} finally {
  await reg.stop();
  await rm(dir, { recursive: true, force: true });
}

async function realImage(reg: Awaited<ReturnType<typeof startRegistry>>, dir: string): Promise<void> {
  const img = await ensureDebianImage();
  if (!img.ok) {
    process.stdout.write(`\nreal image: skipped: ${img.reason}\n`);
    return;
  }
  await pushLayout(img.layoutDir, reg.url, 'hedge/debian-nginx:1', img.tag);
  const ref = `${reg.host}/hedge/debian-nginx:1`;
  const m: Record<string, number[]> = { pull: [], unpack: [], block: [], skopeo: [], umoci: [], xattrMs: [], xattrCalls: [], xattrCount: [] };
  let unpackedBytes = 0;
  for (let i = 0; i < realRuns; i++) {
    const root = join(dir, `real-${i}`);
    const snap = await OverlaySnapshotter.open({ root: join(root, 'snaps') });
    const store = await LocalImageStore.open({ root: join(root, 'store'), snapshotter: snap });
    const signal = AbortSignal.timeout(900_000);
    let t = performance.now();
    const info = await store.pull(ref, { signal });
    m.pull.push(performance.now() - t);
    t = performance.now();
    const top = await store.unpack(info, snap, signal);
    m.unpack.push(performance.now() - t);
    unpackedBytes = (await snap.list()).reduce((n, s) => n + (s.sizeBytes ?? 0), 0);
    const view = await snap.view(`bench-${i}`, top, {});
    t = performance.now();
    await ensureRootfsImage({ imagesDir: join(root, 'images'), digest: info.digest, rootfs: view, signal });
    m.block.push(performance.now() - t);
    // the xattr cost, measured on one more apply of the base layer
    const probe = await mkdtemp(join(root, 'probe-'));
    const applied = await applyLayer(store.content.blobPath(info.layers[0].digest), probe, { signal });
    m.xattrMs.push(applied.stats.xattrs.ms);
    m.xattrCalls.push(applied.stats.xattrs.calls);
    m.xattrCount.push(applied.stats.xattrs.count);
    await rm(root, { recursive: true, force: true });
    const oci = join(dir, `real-oci-${i}`);
    t = performance.now();
    await skopeoCopy(`docker://${ref}`, `oci:${oci}:real`);
    m.skopeo.push(performance.now() - t);
    t = performance.now();
    await exec('umoci', ['unpack', '--image', `${oci}:real`, join(dir, `real-bundle-${i}`)], { maxBuffer: 64 << 20 });
    m.umoci.push(performance.now() - t);
    await rm(oci, { recursive: true, force: true });
    await rm(join(dir, `real-bundle-${i}`), { recursive: true, force: true });
  }
  const med = (k: string): number => median(m[k] ?? [0]);
  const peerPull = med('skopeo');
  const peerUnpack = med('umoci');
  const peer = peerPull + peerUnpack;
  const line = (name: string, ms: number, vs: number | undefined): string =>
    `${name.padEnd(44)}${ms.toFixed(0).padStart(10)}${vs === undefined ? ''.padStart(12) : `${(ms / vs).toFixed(2).padStart(11)}x`}\n`;
  process.stdout.write(`\nreal image: Debian minbase + nginx-light, 2 layers, ${(unpackedBytes / 1e6).toFixed(0)} MB unpacked, ${realRuns} runs, medians\n`);
  process.stdout.write(`${'case'.padEnd(44)}${'ms'.padStart(10)}${'vs peer'.padStart(12)}\n`);
  process.stdout.write(line('hedge pull (cold)', med('pull'), peerPull));
  process.stdout.write(line('skopeo copy docker:// → oci:', peerPull, peerPull));
  process.stdout.write(line('hedge unpack (overlay snapshots)', med('unpack'), peerUnpack));
  process.stdout.write(line('umoci unpack', peerUnpack, peerUnpack));
  process.stdout.write(line('hedge pull + unpack', med('pull') + med('unpack'), peer));
  process.stdout.write(line('skopeo copy + umoci unpack', peer, peer));
  process.stdout.write(line('microVM block image (mkfs.ext4 -d, overlay)', med('block'), undefined));
  process.stdout.write(line(`xattrs: ${med('xattrCount')} set by ${med('xattrCalls')} setfattr call(s)`, med('xattrMs'), undefined));
}
