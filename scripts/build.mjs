#!/usr/bin/env node
// Bundle the CLI to dist/ so `hedge` runs plain JS: transpiling with tsx at run time costs
// start-up time and tens of MB of resident memory in every long-running server and agent.
// npm packages stay external (native better-sqlite3, and node_modules is there anyway).
import { build } from 'esbuild';
import { rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
// Build beside dist/ and swap it in by rename: a hedge process starting meanwhile never sees a
// half-written bundle. Same depth as dist/, so the source URLs below stay right.
const outdir = join(root, `dist.tmp-${process.pid}`);

// Source files find their data (OpenAPI definitions, guest scripts) relative to
// `import.meta.url`; in a bundle that URL is the chunk's, so point it back at the source file.
const keepSourceUrls = {
  name: 'keep-source-import-meta-url',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, async (args) => {
      const { readFile } = await import('node:fs/promises');
      let contents = await readFile(args.path, 'utf8');
      if (contents.includes('import.meta.url')) {
        const rel = relative(outdir, args.path).split('\\').join('/');
        contents = contents.replaceAll('import.meta.url', `new URL(${JSON.stringify(rel)}, import.meta.url).href`);
      }
      return { contents, loader: 'ts' };
    });
  },
};

await rm(outdir, { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: { main: 'src/cli/main.ts' },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
  plugins: [keepSourceUrls],
});
// bin/hedge.js compares this stamp with the sources' mtimes to decide whether dist/ is current
await writeFile(join(outdir, 'BUILD_STAMP'), `${new Date().toISOString()}\n`);
const old = join(root, `dist.old-${process.pid}`);
await rename(dist, old).catch((err) => {
  if (err.code !== 'ENOENT') throw err;
});
await rename(outdir, dist);
await rm(old, { recursive: true, force: true });
