// Whether the dist/ bundle (`npm run build`) is current: scripts/build.mjs lists in dist/INPUTS
// every source file it bundled and dates dist/BUILD_STAMP to when it started reading them, so
// the bundle is current when each of those files still exists and is not newer than the stamp.
// Only the bundle's own inputs are looked at (about 430 stats, no directory walk): a test or a
// source the CLI does not import never makes it stale, and a new file only matters once a
// bundled one imports it, which then is newer. Shared by bin/hedge.js and the benches.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** @param {string} root the repository (the directory holding dist/ and src/) */
export function distIsCurrent(root) {
  try {
    const stamp = statSync(join(root, 'dist', 'BUILD_STAMP')).mtimeMs;
    const inputs = readFileSync(join(root, 'dist', 'INPUTS'), 'utf8').split('\n').filter(Boolean);
    if (inputs.length === 0) return false;
    for (const f of inputs) if (statSync(join(root, f)).mtimeMs > stamp) return false;
    return true;
  } catch {
    // no bundle, an older bundle without INPUTS, or a bundled source gone: run the sources
    return false;
  }
}
