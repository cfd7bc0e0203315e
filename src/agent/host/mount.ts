/** Mounting a snapshot's mounts onto a rootfs directory, and asking whether a path is a mount point. */
import { readFile, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import type { Mount } from '../snapshot/types.ts';
import { pathExists } from './atomic-fs.ts';
import { runChecked } from './run-command.ts';

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

/**
 * Whether `p` is a mount point in this process's mount namespace, read from /proc/self/mountinfo
 * (mountpoint(1) cost a process per check: removing a container asks up to three times, and after
 * a reboot every pod's dead sandbox is removed before the pod starts again).
 */
export async function isMountpoint(p: string, _signal?: AbortSignal): Promise<boolean> {
  if (!(await pathExists(p))) return false;
  const target = await realpath(p);
  return mountPoints(await readFile('/proc/self/mountinfo', 'utf8')).has(target);
}

/** The mount points in a mountinfo text (field 5, with the kernel's octal escapes undone). */
export function mountPoints(mountinfo: string): Set<string> {
  const out = new Set<string>();
  for (const line of mountinfo.split('\n')) {
    const field = line.split(' ')[4];
    if (field) out.add(field.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8))));
  }
  return out;
}
