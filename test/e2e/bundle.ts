/**
 * `npm run build`: bin/hedge.js runs the dist/ bundle only when it is newer than every source
 * file, else the sources through tsx, which transpiles (or reads its cache for) hundreds of
 * modules at every start: seconds on a loaded host. Tests and benches that time `hedge node`
 * starting (the reboot-offline bound) build the bundle first, so they time the node as shipped.
 * The build swaps dist/ in by rename: processes starting meanwhile never see half a bundle.
 */
import { join } from 'node:path';
import { REPO_ROOT, run } from './harness.ts';

export async function buildBundle(): Promise<void> {
  const r = await run(process.execPath, [join(REPO_ROOT, 'scripts', 'build.mjs')], { timeoutMs: 180_000 });
  if (r.code !== 0) throw new Error(`scripts/build.mjs: ${r.stderr}`);
}
