import type { Container } from 'kubernetes-types/core/v1.js';
import { chmod, mkdir, realpath, stat } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import { HedgeError } from '../../lib/errors.ts';
import type { PreparedVolume } from './types.ts';

/**
 * The kubelet makes a missing `subPath` of a writable volume before the bind mount (a fresh PVC
 * with `subPath: data`, as StatefulSets use), and refuses a subPath that resolves outside its
 * volume: a container can plant a symlink in its volume, and the bind mount would follow it
 * (CVE-2017-1002101).
 */
export async function prepareSubPaths(c: Container, volumes: Map<string, PreparedVolume>): Promise<void> {
  for (const vm of c.volumeMounts ?? []) {
    const v = volumes.get(vm.name);
    if (!v || !vm.subPath || vm.subPath.startsWith('/') || vm.subPath.split('/').includes('..')) continue; // container-config names these
    const target = join(v.hostPath, vm.subPath);
    if (!v.readOnly) await makeLikeVolume(v.hostPath, target);
    const [base, real] = await Promise.all([realpath(v.hostPath).catch(() => v.hostPath), realpath(target).catch(() => undefined)]);
    if (real === undefined) continue; // missing in a read-only volume: the runtime's bind mount names it
    if (real !== base && !real.startsWith(base.endsWith(sep) ? base : base + sep)) {
      throw new HedgeError('Invalid', `volumeMount "${vm.name}": subPath "${vm.subPath}" resolves outside the volume`);
    }
  }
}

/** new subPath directories take the volume's own mode (a 0777 local-path volume stays writable for non-root containers) */
async function makeLikeVolume(volume: string, target: string): Promise<void> {
  const first = await mkdir(target, { recursive: true }).catch(() => undefined);
  if (first === undefined) return;
  const mode = ((await stat(volume).catch(() => undefined))?.mode ?? 0o755) & 0o7777;
  for (let d = target; d.length >= first.length; d = dirname(d)) await chmod(d, mode).catch(() => undefined);
}
