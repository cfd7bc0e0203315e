/**
 * What each pod uses, as the kubelet's stats summary gives it to the eviction manager: each
 * container's memory working set and the pod's processes (its cgroups, through the runtime, read
 * on each call) and the disk figures of stats/pod-storage.ts (writable layers, logs, volumes, hosts file),
 * the cache the `/stats/summary` route reads too, walked afresh when the manager asks for it.
 */
import type { Pod } from 'kubernetes-types/core/v1.js';
import type { Logger } from '../../lib/log.ts';
import type { ContainerLocator, ContainerStorage, PodStorageSource } from '../stats/pod-storage.ts';
import type { ContainerUsage, PodUsage, PodUsageSource } from './types.ts';

export interface RuntimePodUsageOptions {
  pods: ContainerLocator;
  storage: PodStorageSource;
  logger: Logger;
}

export function runtimePodUsage(o: RuntimePodUsageOptions): PodUsageSource {
  const log = o.logger.child({ component: 'eviction' });
  const one = async (pod: Pod, disk: Map<string, ContainerStorage>, signal: AbortSignal): Promise<{ containers: ContainerUsage[]; processes?: number }> => {
    const ns = pod.metadata?.namespace ?? 'default';
    const name = pod.metadata?.name ?? '';
    const containers: ContainerUsage[] = [];
    let processes: number | undefined;
    for (const c of [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])]) {
      const loc = o.pods.locate(ns, name, c.name);
      if (!loc?.id || !loc.handler) continue;
      const u: ContainerUsage = { name: c.name, ...disk.get(c.name) };
      const stats = await loc.handler.stats(loc.id, signal, 'usage').catch(() => undefined);
      if (stats) {
        u.memoryWorkingSetBytes = stats.memory.workingSetBytes;
        if (stats.processes !== undefined) processes = (processes ?? 0) + stats.processes;
      }
      containers.push(u);
    }
    return { containers, ...(processes !== undefined ? { processes } : {}) };
  };
  return {
    async usage(pods, signal, opt = {}) {
      const storage = await o.storage.get(pods, signal, { maxAgeMs: opt.maxStorageAgeMs ?? 0 });
      const out = new Map<string, PodUsage>();
      for (const p of pods) {
        const uid = p.metadata?.uid ?? '';
        try {
          const st = storage.get(uid);
          const { containers, processes } = await one(p, new Map((st?.containers ?? []).map((c) => [c.name, c])), signal);
          if (containers.length === 0) continue;
          out.set(uid, { containers, volumes: st?.volumes ?? {}, ...(st?.etcHosts ? { etcHosts: st.etcHosts } : {}), ...(processes !== undefined ? { processes } : {}) });
        } catch (err) {
          log.debug({ err, pod: `${p.metadata?.namespace}/${p.metadata?.name}` }, 'pod usage unavailable');
        }
      }
      return out;
    },
  };
}
