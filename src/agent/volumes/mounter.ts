import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import type { Mounter } from './types.ts';

const run = promisify(execFile);

/** Mounter over mount(8)/umount(8); needs CAP_SYS_ADMIN, as the agent runs as root. */
export function systemMounter(): Mounter {
  return {
    async mountTmpfs(target, opts) {
      const o = ['mode=0777', ...(opts.sizeBytes ? [`size=${opts.sizeBytes}`] : [])].join(',');
      await run('mount', ['-t', 'tmpfs', '-o', o, 'tmpfs', target], { signal: opts.signal });
    },
    async unmount(target, signal) {
      await run('umount', [target], { signal });
    },
    async isMountPoint(target) {
      const mi = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
      const t = resolve(target);
      return mi.split('\n').some((l) => l.split(' ')[4] === t);
    },
  };
}

/** For tests: remembers tmpfs mounts instead of making them. */
export class FakeMounter implements Mounter {
  readonly mounted = new Map<string, number | undefined>();
  async mountTmpfs(target: string, opts: { sizeBytes?: number }): Promise<void> {
    this.mounted.set(resolve(target), opts.sizeBytes);
  }
  async unmount(target: string): Promise<void> {
    this.mounted.delete(resolve(target));
  }
  async isMountPoint(target: string): Promise<boolean> {
    return this.mounted.has(resolve(target));
  }
}
