#!/usr/bin/env node
// Bundle the CLI to dist/ so `hedge` runs plain JS: transpiling with tsx at run time costs
// start-up time and tens of MB of resident memory in every long-running server and agent.
// npm packages stay external (native better-sqlite3, and node_modules is there anyway), except
// zod: pure ESM and tree-shakable, bundled it keeps only the validators the CLI uses instead of
// all of zod with its 40 locales (~1 MiB less V8 heap in every process). Only if the sources import
// it as `import * as z from 'zod'`: esbuild does not see through zod's `z` re-export, and
// `import { z }` kept all of it (main.js 639 KB instead of 180 KB, source V8 keeps resident). Comments and
// indentation are dropped (minifyWhitespace): V8 keeps each module's source text for lazy
// compilation, and one non-Latin-1 character in a comment doubles it (two-byte string), ~1.5 MiB
// in `hedge node`. Names stay (stack traces name functions); dist/*.map maps columns back
// (`node --enable-source-maps`).
import { build } from 'esbuild';
import { readFile, rename, rm, utimes, writeFile } from 'node:fs/promises';
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

/** every npm package the sources may import, but zod (see above); a package's subpaths go with it */
async function externalPackages() {
  const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'));
  return Object.keys({ ...pkg.dependencies, ...pkg.devDependencies }).filter((name) => name !== 'zod');
}

await rm(outdir, { recursive: true, force: true });
// the stamp is dated before any source is read: one edited during the build is newer than it
const started = new Date();
const { metafile } = await build({
  absWorkingDir: root,
  entryPoints: { main: 'src/cli/main.ts' },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: await externalPackages(),
  minifyWhitespace: true,
  sourcemap: true,
  logLevel: 'warning',
  plugins: [keepSourceUrls],
  metafile: true,
});
// bin/dist-current.js: dist/ is current while none of these sources is newer than the stamp
await writeFile(join(outdir, 'INPUTS'), `${Object.keys(metafile.inputs).join('\n')}\n`);
await writeFile(join(outdir, 'BUILD_STAMP'), `${started.toISOString()}\n`);
await utimes(join(outdir, 'BUILD_STAMP'), started, started);
const old = join(root, `dist.old-${process.pid}`);
await rename(dist, old).catch((err) => {
  if (err.code !== 'ENOENT') throw err;
});
await rename(outdir, dist);
await rm(old, { recursive: true, force: true });
