/** Mounting a snapshot's mounts onto a rootfs directory, and asking whether a path is a mount point. */
import { join } from 'node:path';
import type { Mount } from '../snapshot/types.ts';
import { pathExists } from './atomic-fs.ts';
import { runChecked, runCommand } from './run-command.ts';

export async function mountOne(m: Mount, target: string, signal: AbortSignal): Promise<void> {
  const dest = m.target ? join(target, m.target) : target;
  if (m.type === 'bind' || m.type === 'rbind') {
    const opts = new Set(m.options.filter((o) => o !== 'bind' && o !== 'rbind'));
    opts.add(m.type === 'rbind' || m.options.includes('rbind') ? 'rbind' : 'bind');
    await runChecked('mount', ['-o', [...opts].join(','), m.source, dest], { signal });
    return;
  }
  await runChecked('mount', ['-t', m.type, ...(m.options.length ? ['-o', m.options.join(',')] : []), m.source, dest], { signal });
}

export async function isMountpoint(p: string, signal: AbortSignal): Promise<boolean> {
  if (!(await pathExists(p))) return false;
  const res = await runCommand('mountpoint', ['-q', p], { signal, timeoutMs: 5000 });
  return res.code === 0;
}
