/**
 * conmon-attach.c built on first use: a static musl binary where musl-gcc is installed (Debian
 * musl-tools, as for the guest agent), else gcc's. Cached by a hash of the source and the compiler's
 * version (`conmon-attach-<hash>` in the given directory), so a changed source or compiler builds anew.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HedgeError } from '../../../../lib/errors.ts';
import { runCommand } from '../../../host/run-command.ts';

const SOURCE = join(dirname(fileURLToPath(import.meta.url)), 'conmon-attach.c');

const COMPILERS: { cc: string; args: string[] }[] = [
  { cc: 'musl-gcc', args: ['-static', '-Os', '-s'] },
  { cc: 'gcc', args: ['-Os', '-s'] },
  { cc: 'cc', args: ['-Os', '-s'] },
];

/** the helper's path, built into `binDir` unless already there (a concurrent build of the same is harmless: tmp file, then rename) */
export async function buildAttachHelper(binDir: string, signal: AbortSignal): Promise<string> {
  const src = await readFile(SOURCE);
  const tried: string[] = [];
  for (const c of COMPILERS) {
    const v = await runCommand(c.cc, ['--version'], { signal, timeoutMs: 10_000 }).catch(() => undefined);
    if (!v || v.code !== 0) {
      tried.push(c.cc);
      continue;
    }
    const id = createHash('sha256').update(src).update(c.cc).update(v.stdout).digest('hex').slice(0, 16);
    const bin = join(binDir, `conmon-attach-${id}`);
    if (await stat(bin).then(() => true, () => false)) return bin;
    await mkdir(binDir, { recursive: true });
    const tmp = `${bin}.tmp-${process.pid}`;
    const r = await runCommand(c.cc, [...c.args, '-Wall', '-o', tmp, SOURCE], { signal, timeoutMs: 60_000 });
    if (r.code !== 0) {
      await rm(tmp, { force: true });
      throw new HedgeError('Internal', `building the conmon attach helper with ${c.cc} failed: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
    }
    await rename(tmp, bin);
    return bin;
  }
  throw new HedgeError('Unavailable', `attach needs a C compiler to build its conmon attach helper once (tried ${tried.join(', ')}): install musl-tools or gcc (scripts/setup.sh does)`);
}
