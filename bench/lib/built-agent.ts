/**
 * Running `hedge node` from the built bundle (dist/) the way bin/hedge.js does, for benches that
 * measure the node itself (memory, start latency): the e2e harness starts it from sources
 * under tsx and without the shebang's V8 flags.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../test/e2e/harness.ts';
import type { HedgeNode } from '../../test/e2e/node-harness.ts';

/** the V8 flags bin/hedge.js's shebang gives `hedge node` (the harness starts it without them) */
export function shebangFlags(): string {
  const first = readFileSync(join(REPO_ROOT, 'bin', 'hedge.js'), 'utf8').split('\n')[0];
  return first.split(/\s+/).filter((a) => a.startsWith('--')).join(' ');
}

/**
 * (Re)builds dist/ and restarts the node until it provably ran the bundle: no source newer than
 * the stamp after it was ready. Returns what ran, for the bench's table.
 */
export async function runBuiltAgent(node: HedgeNode): Promise<string> {
  for (let attempt = 0; attempt < 5; attempt++) {
    execFileSync('npm', ['run', 'build'], { cwd: REPO_ROOT, stdio: 'ignore' });
    await node.stop();
    await node.start();
    const newer = execFileSync('find', ['src', '-name', '*.ts', '-newer', 'dist/BUILD_STAMP'], { cwd: REPO_ROOT }).toString().trim();
    if (newer === '') return 'dist bundle';
  }
  return 'UNSURE (sources kept changing; may be tsx)';
}
