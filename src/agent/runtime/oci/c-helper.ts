/**
 * A small C helper of the OCI handler's (conmon-attach.c, pty-run.c) built on first use: a static
 * musl binary where musl-gcc is installed (Debian musl-tools, as for the guest agent), else gcc's.
 * Cached by a hash of the source and the compiler's version (`<name>-<hash>` in the given
 * directory), so a changed source or compiler builds anew.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { HedgeError } from '../../../lib/errors.ts';
import { runCommand } from '../../host/run-command.ts';

const COMPILERS: { cc: string; args: string[] }[] = [
  { cc: 'musl-gcc', args: ['-static', '-Os', '-s'] },
  { cc: 'gcc', args: ['-Os', '-s'] },
  { cc: 'cc', args: ['-Os', '-s'] },
];

export interface CHelper {
  /** the binary's name (before its hash) */
  name: string;
  /** the C source's path */
  source: string;
  /** what needs it, for the error when no compiler is there ("attach", "exec --tty") */
  neededBy: string;
}

/** the helper's path, built into `binDir` unless already there (a concurrent build of the same is harmless: tmp file, then rename) */
export async function buildCHelper(h: CHelper, binDir: string, signal: AbortSignal): Promise<string> {
  const src = await readFile(h.source);
  const tried: string[] = [];
  for (const c of COMPILERS) {
    const v = await runCommand(c.cc, ['--version'], { signal, timeoutMs: 10_000 }).catch(() => undefined);
    if (!v || v.code !== 0) {
      tried.push(c.cc);
      continue;
    }
    const id = createHash('sha256').update(src).update(c.cc).update(v.stdout).digest('hex').slice(0, 16);
    const bin = join(binDir, `${h.name}-${id}`);
    if (await stat(bin).then(() => true, () => false)) return bin;
    await mkdir(binDir, { recursive: true });
    const tmp = `${bin}.tmp-${process.pid}`;
    const r = await runCommand(c.cc, [...c.args, '-Wall', '-o', tmp, h.source], { signal, timeoutMs: 60_000 });
    if (r.code !== 0) {
      await rm(tmp, { force: true });
      throw new HedgeError('Internal', `building the ${h.name} helper with ${c.cc} failed: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
    }
    await rename(tmp, bin);
    return bin;
  }
  throw new HedgeError('Unavailable', `${h.neededBy} needs a C compiler to build its ${h.name} helper once (tried ${tried.join(', ')}): install musl-tools or gcc (scripts/setup.sh does)`);
}

/** builds on first use and keeps the result; a failed build (no compiler yet) is tried again on the next call */
export function lazyCHelper(h: CHelper, binDir: () => string): (signal: AbortSignal) => Promise<string> {
  let built: Promise<string> | undefined;
  return (signal) =>
    (built ??= buildCHelper(h, binDir(), signal).catch((err: unknown) => {
      built = undefined;
      throw err;
    }));
}
