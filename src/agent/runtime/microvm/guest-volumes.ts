/**
 * Which pod volumes a microVM container may have, and where the guest takes each from. A sandbox
 * must not see host paths, so only the pod's own volume directory reaches the guest:
 *
 *   configmap, secret, downward-api, projected   one read-only 9p share of <pod>/volumes, made at
 *                                               VM creation (microvm has no 9p hotplug); the
 *                                               host's atomic `..data` swaps show through live
 *   empty-dir (disk)                            a directory on the sandbox disk, shared by the
 *                                               pod's containers, gone with the sandbox
 *   empty-dir (medium Memory)                   a guest tmpfs with the volume's sizeLimit
 *
 * Anything else (hostPath, or a volume type this runtime does not know) is refused with an error
 * naming the mount. The volume kind is read from kubelet's layout under the pod's volume
 * directory (`<plugin>/<name>[/subPath]`, src/agent/volumes/paths.ts).
 */
import { statfs } from 'node:fs/promises';
import { isAbsolute, join, relative, sep } from 'node:path';
import { HedgeError } from '../../../lib/errors.ts';
import type { ContainerMount } from '../types.ts';

export type GuestVolume =
  /** `source` is relative to the pod volume share */
  | { kind: 'share'; source: string; target: string; readOnly: boolean }
  /** `source` is `<emptyDir name>[/subPath]` on the sandbox disk */
  | { kind: 'disk'; source: string; target: string; readOnly: boolean }
  /** `source` is `<emptyDir name>[/subPath]` in a guest tmpfs of `sizeBytes` (0 = the guest's default) */
  | { kind: 'memory'; source: string; target: string; readOnly: boolean; sizeBytes: number };

const SHARED_PLUGINS = new Set(['configmap', 'secret', 'downward-api', 'projected']);
const TMPFS_MAGIC = 0x01021994;

/** the host directory a sandbox's 9p share exports: kubelet's <dataDir>/pods/<uid>/volumes beside <uid>/sandbox */
export function podVolumesDirOf(sandboxStateDir: string): string {
  return join(sandboxStateDir, '..', 'volumes');
}

/** Memory emptyDir: the agent mounted a tmpfs on the host dir (its size is the sizeLimit) */
async function hostTmpfsSize(dir: string): Promise<number | undefined> {
  const s = await statfs(dir).catch(() => undefined);
  if (!s || s.type !== TMPFS_MAGIC) return undefined;
  return s.blocks * s.bsize;
}

export async function planGuestVolumes(o: { mounts: ContainerMount[]; volumesDir: string; containerName: string }): Promise<GuestVolume[]> {
  const out: GuestVolume[] = [];
  for (const m of o.mounts) {
    const where = `container "${o.containerName}" volume mounted at ${m.containerPath}`;
    if (!m.containerPath.startsWith('/') || hasControlChars(m.containerPath)) {
      throw new HedgeError('Invalid', `${where}: mountPath must be absolute without control characters`);
    }
    const rel = relative(o.volumesDir, m.hostPath);
    const parts = rel.split(sep);
    const [plugin, name] = parts;
    if (rel === '' || isAbsolute(rel) || parts.includes('..') || !plugin || !name) {
      throw new HedgeError(
        'Invalid',
        `${where}: ${m.hostPath} is a host path; microvm pods only take configMap, secret, downwardAPI, projected and emptyDir volumes (a sandbox must not see host paths: hostPath and persistentVolumeClaim volumes need runc or gvisor)`,
      );
    }
    if (hasControlChars(rel)) throw new HedgeError('Invalid', `${where}: volume path has control characters`);
    const sub = parts.slice(1).join('/');
    if (SHARED_PLUGINS.has(plugin)) {
      out.push({ kind: 'share', source: parts.join('/'), target: m.containerPath, readOnly: true });
      continue;
    }
    if (plugin !== 'empty-dir') throw new HedgeError('Invalid', `${where}: volume type ${plugin} is not supported by the microvm runtime`);
    const memSize = m.type === 'tmpfs' ? (m.sizeBytes ?? 0) : await hostTmpfsSize(join(o.volumesDir, plugin, name));
    if (memSize !== undefined) out.push({ kind: 'memory', source: sub, target: m.containerPath, readOnly: m.readOnly, sizeBytes: memSize });
    else out.push({ kind: 'disk', source: sub, target: m.containerPath, readOnly: m.readOnly });
  }
  // parents before children, as runc and containerd order mounts
  return out.sort((a, b) => depth(a.target) - depth(b.target));
}

/** the agent's entries are NUL-terminated and split on \x1f */
const hasControlChars = (p: string): boolean => [...p].some((ch) => ch.charCodeAt(0) < 0x20);

const depth = (p: string): number => p.split('/').filter(Boolean).length;

/** the guest agent's `V` entry: `<kind><r|w><size>\x1f<source>\x1f<target>` */
export function encodeGuestVolume(v: GuestVolume): string {
  const kind = v.kind === 'share' ? 's' : v.kind === 'disk' ? 'd' : 'm';
  const size = v.kind === 'memory' ? v.sizeBytes : 0;
  return `${kind}${v.readOnly ? 'r' : 'w'}${size}\x1f${v.source}\x1f${v.target}`;
}
