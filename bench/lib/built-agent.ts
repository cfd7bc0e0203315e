/**
 * Running `hedge node` from the built bundle (dist/) the way bin/hedge.js does, for benches that
 * measure the node itself (memory, start latency): the e2e harness starts `node bin/hedge.js`,
 * which skips the launcher line's V8 flags (some of which NODE_OPTIONS refuses), so benches have
 * the harness put them on node's command line (HEDGE_E2E_NODE_FLAGS).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../test/e2e/harness.ts';
import type { HedgeNode } from '../../test/e2e/node-harness.ts';
import { distIsCurrent } from '../../bin/dist-current.js';

const launcherLine = (root: string): string => readFileSync(join(root, 'bin', 'hedge.js'), 'utf8').split('\n')[1] ?? '';

/** the V8 flags bin/hedge.js's launcher line gives `hedge node` */
export function launcherNodeFlags(root = REPO_ROOT): string {
  const m = /node\) f='([^']*)'/.exec(launcherLine(root));
  if (!m) throw new Error("bin/hedge.js line 2 has no `node) f='...'` case");
  return m[1]!;
}

/** the environment (`VAR=value` words) bin/hedge.js's launcher line exports for `hedge node` */
export function launcherNodeEnv(root = REPO_ROOT): string[] {
  const m = /node\) f='[^']*'; export ([^;]*);;/.exec(launcherLine(root));
  return m ? m[1]!.trim().split(/\s+/) : [];
}

/**
 * nodes the e2e harness (re)starts from now on get the launcher's flags, on node's command line as
 * bin/hedge.js gives them, and its environment. HEDGE_BENCH_NODE_FLAGS, when set, replaces the
 * flags (to measure others beside the shipped ones; the bench's table names what ran).
 */
export function launchAsShipped(): void {
  process.env.HEDGE_E2E_NODE_FLAGS = process.env.HEDGE_BENCH_NODE_FLAGS ?? launcherNodeFlags();
  for (const kv of launcherNodeEnv()) process.env[kv.slice(0, kv.indexOf('='))] = kv.slice(kv.indexOf('=') + 1);
}

/**
 * (Re)builds dist/ (when `rebuild`) and restarts the node until it provably ran the bundle: the
 * bundle still current (bin/dist-current.js, the launcher's own test) after it was ready.
 * Returns what ran, for the bench's table.
 */
export async function runBuiltAgent(node: HedgeNode, rebuild = true): Promise<string> {
  for (let attempt = 0; attempt < 5; attempt++) {
    if (rebuild || attempt > 0) execFileSync('npm', ['run', 'build'], { cwd: REPO_ROOT, stdio: 'ignore' });
    await node.stop();
    await node.start();
    if (distIsCurrent(REPO_ROOT)) return 'dist bundle';
  }
  return 'UNSURE (sources kept changing; may be tsx)';
}
