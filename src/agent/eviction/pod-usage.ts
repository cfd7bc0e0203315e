/**
 * What each pod uses, as the kubelet's stats summary gives it to the eviction manager: each
 * container's memory working set (its cgroup, through the runtime), its writable layer and log
 * files on disk, and the pod's disk-backed emptyDirs. Disk figures are du's: allocated blocks
 * (what the filesystem lost), hard links counted once.
 */
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Pod } from 'kubernetes-types/core/v1.js';
import type { Logger } from '../../lib/log.ts';
import type { ContainerId, RuntimeHandler } from '../runtime/types.ts';
import type { Snapshotter } from '../snapshot/types.ts';
import { volumeDir } from '../volumes/paths.ts';
import type { ContainerUsage, FsUsage, PodUsage, PodUsageSource } from './types.ts';

export interface PodUsageLocator {
  locate(namespace: string, name: string, container?: string): { handler?: RuntimeHandler; id?: ContainerId; logDir: string } | undefined;
}

export interface RuntimePodUsageOptions {
  pods: PodUsageLocator;
  snapshotter: Snapshotter;
  dataDir: string;
  logger: Logger;
}

/** blocks and inodes under `dir` (0 when it does not exist) */
export async function diskUsage(dir: string): Promise<FsUsage> {
  const out: FsUsage = { bytes: 0, inodes: 0 };
  const seen = new Set<string>();
  const visit = async (p: string): Promise<void> => {
    const st = await lstat(p).catch(() => undefined);
    if (!st) return;
    const id = `${st.dev}:${st.ino}`;
    if (seen.has(id)) return;
    seen.add(id);
    out.bytes += st.blocks * 512;
    out.inodes += 1;
    if (st.isDirectory()) for (const e of await readdir(p).catch(() => [] as string[])) await visit(join(p, e));
  };
  await visit(dir);
  return out;
}

/** the directory holding a container's writes: an overlay's upperdir, or a writable bind's source */
async function writableLayerDir(snapshotter: Snapshotter, id: string): Promise<string | undefined> {
  const mounts = await snapshotter.mounts(id).catch(() => undefined);
  for (const m of mounts ?? []) {
    if (m.type === 'overlay') {
      const upper = m.options.find((o) => o.startsWith('upperdir='));
      if (upper) return upper.slice('upperdir='.length);
    }
    if (m.type === 'bind' && m.options.includes('rw')) return m.source;
  }
  return undefined;
}

export function runtimePodUsage(o: RuntimePodUsageOptions): PodUsageSource {
  const log = o.logger.child({ component: 'eviction' });
  const one = async (pod: Pod, signal: AbortSignal): Promise<PodUsage | undefined> => {
    const ns = pod.metadata?.namespace ?? 'default';
    const name = pod.metadata?.name ?? '';
    const uid = pod.metadata?.uid ?? '';
    const containers: ContainerUsage[] = [];
    let processes: number | undefined;
    for (const c of [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])]) {
      const loc = o.pods.locate(ns, name, c.name);
      if (!loc?.id || !loc.handler) continue;
      const u: ContainerUsage = { name: c.name };
      const stats = await loc.handler.stats(loc.id, signal, 'usage').catch(() => undefined);
      if (stats) {
        u.memoryWorkingSetBytes = stats.memory.workingSetBytes;
        if (stats.processes !== undefined) processes = (processes ?? 0) + stats.processes;
      }
      const layer = await writableLayerDir(o.snapshotter, loc.id);
      if (layer) u.rootfs = await diskUsage(layer);
      u.logs = await diskUsage(loc.logDir);
      containers.push(u);
    }
    const volumes: Record<string, FsUsage> = {};
    for (const v of pod.spec?.volumes ?? []) {
      if (v.emptyDir && v.emptyDir.medium !== 'Memory') volumes[v.name] = await diskUsage(volumeDir(o.dataDir, uid, 'empty-dir', v.name));
    }
    if (containers.length === 0) return undefined;
    return { containers, volumes, ...(processes !== undefined ? { processes } : {}) };
  };
  return {
    async usage(pods, signal) {
      const out = new Map<string, PodUsage>();
      for (const p of pods) {
        try {
          const u = await one(p, signal);
          if (u) out.set(p.metadata?.uid ?? '', u);
        } catch (err) {
          log.debug({ err, pod: `${p.metadata?.namespace}/${p.metadata?.name}` }, 'pod usage unavailable');
        }
      }
      return out;
    },
  };
}
