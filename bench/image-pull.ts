/**
 * Pull time of the httpd test image from a local docker-registry: our client cold (empty store),
 * warm (everything deduped) and `skopeo copy docker://… oci:DIR` of the same image, same run.
 * Usage: node --import tsx bench/image-pull.ts [runs=5]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalImageStore } from '../src/agent/image/local-image-store.ts';
import { buildTestImages } from '../test/fixtures/images/build.ts';
import { pushLayout, skopeoCopy, startRegistry } from '../test/fixtures/images/registry.ts';

const runs = Number(process.argv[2] ?? 5);
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
} finally {
  await reg.stop();
  await rm(dir, { recursive: true, force: true });
}
