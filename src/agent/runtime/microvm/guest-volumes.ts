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
 *   persistentVolumeClaim, ephemeral            the claim's own directory, one writable (unless
 *                                               read-only) 9p share per claim (`pvc<i>`), made at
 *                                               VM creation from SandboxConfig.persistentVolumes
 *
 * Anything else (hostPath, or a volume type this runtime does not know) is refused with an error
 * naming the mount. The volume kind is read from kubelet's layout under the pod's volume
 * directory (`<plugin>/<name>[/subPath]`, src/agent/volumes/paths.ts).
 */
import { statfs } from 'node:fs/promises';
import { isAbsolute, join, relative, sep } from 'node:path';
import { HedgeError } from '../../../lib/errors.ts';
import type { ContainerMount, SandboxPersistentVolume } from '../types.ts';

export type GuestVolume =
  /** `source` is relative to the pod volume share */
  | { kind: 'share'; source: string; target: string; readOnly: boolean }
  /** `source` is `<emptyDir name>[/subPath]` on the sandbox disk */
  | { kind: 'disk'; source: string; target: string; readOnly: boolean }
  /** `source` is `<emptyDir name>[/subPath]` in a guest tmpfs of `sizeBytes` (0 = the guest's default) */
  | { kind: 'memory'; source: string; target: string; readOnly: boolean; sizeBytes: number }
  /** `source` is `<claim share tag>[/subPath]` */
  | { kind: 'claim'; source: string; target: string; readOnly: boolean };

/** one PVC volume's 9p share: the mount tag is `pvc<index>`, never the (user-chosen) volume name */
export interface ClaimShare {
  name: string;
  tag: string;
  hostPath: string;
  readOnly: boolean;
}

/** the most PVC volumes a microVM pod takes (each costs a virtio-mmio transport; see pod-network.ts) */
export const MAX_CLAIM_SHARES = 16;

/**
 * The shares of a sandbox's PVC volumes, checked: absolute host directories without control
 * characters or `..` (the path goes through qemu's option parser, which optPath escapes), never `/`.
 */
export function claimShares(pvs: SandboxPersistentVolume[]): ClaimShare[] {
  if (pvs.length > MAX_CLAIM_SHARES) throw new HedgeError('Invalid', `a microvm pod takes at most ${MAX_CLAIM_SHARES} persistentVolumeClaim volumes (got ${pvs.length})`);
  return pvs.map((pv, i) => {
    const where = `persistentVolumeClaim volume "${pv.name}"`;
    if (!isAbsolute(pv.hostPath) || hasControlChars(pv.hostPath) || pv.hostPath.split('/').includes('..')) {
      throw new HedgeError('Invalid', `${where}: host directory ${JSON.stringify(pv.hostPath)} must be an absolute path without control characters or ..`);
    }
    if (pv.hostPath.replace(/\/+$/, '') === '') throw new HedgeError('Invalid', `${where}: a microvm pod cannot share the host's root directory`);
    return { name: pv.name, tag: `pvc${i}`, hostPath: pv.hostPath, readOnly: pv.readOnly };
  });
}

/** the claim share a mount's host path lies in (the claim directory itself or below it), and the path inside it */
function claimOf(claims: ClaimShare[], hostPath: string): { claim: ClaimShare; sub: string } | undefined {
  for (const claim of claims) {
    const rel = relative(claim.hostPath, hostPath);
    if (rel === '') return { claim, sub: '' };
    if (!isAbsolute(rel) && !rel.split(sep).includes('..')) return { claim, sub: rel.split(sep).join('/') };
  }
  return undefined;
}

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

export async function planGuestVolumes(o: { mounts: ContainerMount[]; volumesDir: string; containerName: string; claims?: ClaimShare[] }): Promise<GuestVolume[]> {
  const out: GuestVolume[] = [];
  for (const m of o.mounts) {
    const where = `container "${o.containerName}" volume mounted at ${m.containerPath}`;
    if (!m.containerPath.startsWith('/') || hasControlChars(m.containerPath)) {
      throw new HedgeError('Invalid', `${where}: mountPath must be absolute without control characters`);
    }
    const claim = claimOf(o.claims ?? [], m.hostPath);
    if (claim) {
      if (hasControlChars(claim.sub)) throw new HedgeError('Invalid', `${where}: volume path has control characters`);
      const source = claim.sub ? `${claim.claim.tag}/${claim.sub}` : claim.claim.tag;
      out.push({ kind: 'claim', source, target: m.containerPath, readOnly: m.readOnly || claim.claim.readOnly });
      continue;
    }
    const rel = relative(o.volumesDir, m.hostPath);
    const parts = rel.split(sep);
    const [plugin, name] = parts;
    if (rel === '' || isAbsolute(rel) || parts.includes('..') || !plugin || !name) {
      throw new HedgeError(
        'Invalid',
        `${where}: ${m.hostPath} is a host path; microvm pods only take configMap, secret, downwardAPI, projected and emptyDir volumes (a sandbox must not see host paths: hostPath volumes need runc or gvisor; a persistentVolumeClaim is shared only when the sandbox was created with it)`,
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

const KIND_CODES = { share: 's', disk: 'd', memory: 'm', claim: 'p' } as const;

/** the guest agent's `V` entry: `<kind><r|w><size>\x1f<source>\x1f<target>` */
export function encodeGuestVolume(v: GuestVolume): string {
  const kind = KIND_CODES[v.kind];
  const size = v.kind === 'memory' ? v.sizeBytes : 0;
  return `${kind}${v.readOnly ? 'r' : 'w'}${size}\x1f${v.source}\x1f${v.target}`;
}
