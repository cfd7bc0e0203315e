/** The V8 flags bin/hedge.js's shell line gives `hedge server` (every role but `node`): what a user's server runs with, which the harness's `node bin/hedge.js` skips. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export function launcherServerFlags(): string {
  const launcher = readFileSync(fileURLToPath(new URL('../../bin/hedge.js', import.meta.url)), 'utf8');
  const m = /\*\) f='([^']*)'/.exec(launcher);
  if (!m) throw new Error("bin/hedge.js: no `*) f='...'` case for the server's flags");
  return m[1];
}
