import type { Container, Pod } from 'kubernetes-types/core/v1.js';
import { Quantity } from '../../api/meta/quantity.ts';
import type { ContainerConfig } from '../runtime/types.ts';

const q = (v: unknown): Quantity | undefined => (v === undefined || v === null ? undefined : Quantity.parse(String(v)));

export function containerResources(c: Container): ContainerConfig['resources'] {
  const req = c.resources?.requests ?? {};
  const lim = c.resources?.limits ?? {};
  const cpuReq = q(req.cpu) ?? q(lim.cpu);
  const cpuLim = q(lim.cpu);
  const memLim = q(lim.memory);
  return {
    ...(cpuReq ? { cpuRequestMilli: cpuReq.milliValue() } : {}),
    ...(cpuLim ? { cpuLimitMilli: cpuLim.milliValue() } : {}),
    ...(memLim ? { memoryLimitBytes: memLim.value() } : {}),
  };
}

/**
 * Pod cgroup limits like the kubelet's: the sum of app container limits (an init container
 * runs alone, so the max of those counts too) plus spec.overhead. Any container without a
 * limit leaves that resource unlimited.
 */
export function podResources(pod: Pod): { cpuMilli?: number; memoryBytes?: number } {
  const apps = pod.spec?.containers ?? [];
  const inits = pod.spec?.initContainers ?? [];
  const sum = (key: 'cpu' | 'memory'): number | undefined => {
    let total = 0;
    for (const c of apps) {
      const v = q(c.resources?.limits?.[key]);
      if (!v) return undefined;
      total += key === 'cpu' ? v.milliValue() : v.value();
    }
    for (const c of inits) {
      const v = q(c.resources?.limits?.[key]);
      if (!v) return undefined;
      total = Math.max(total, key === 'cpu' ? v.milliValue() : v.value());
    }
    const o = q(pod.spec?.overhead?.[key]);
    if (o) total += key === 'cpu' ? o.milliValue() : o.value();
    return total;
  };
  if (apps.length === 0) return {};
  const cpu = sum('cpu');
  const mem = sum('memory');
  return { ...(cpu !== undefined ? { cpuMilli: cpu } : {}), ...(mem !== undefined ? { memoryBytes: mem } : {}) };
}
