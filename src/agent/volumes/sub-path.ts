import type { Container } from 'kubernetes-types/core/v1.js';
import { mkdir, realpath } from 'node:fs/promises';
import { join, sep } from 'node:path';
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
    if (!v.readOnly) await mkdir(target, { recursive: true, mode: 0o777 }).catch(() => undefined);
    const [base, real] = await Promise.all([realpath(v.hostPath).catch(() => v.hostPath), realpath(target).catch(() => undefined)]);
    if (real === undefined) continue; // missing in a read-only volume: the runtime's bind mount names it
    if (real !== base && !real.startsWith(base.endsWith(sep) ? base : base + sep)) {
      throw new HedgeError('Invalid', `volumeMount "${vm.name}": subPath "${vm.subPath}" resolves outside the volume`);
    }
  }
}
