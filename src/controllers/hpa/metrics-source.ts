import type { KubeObject } from '../../api/object.ts';
import { parseQuantity } from '../../api/meta/quantity.ts';
import type { KubeClient, ResourceRef } from '../../client/types.ts';

export type ResourceName = 'cpu' | 'memory';

export interface PodUsage {
  /** cpu in milli-cores, memory in bytes: the sum over the pod's containers */
  value: number;
  /** when the figures were read, ms */
  timestamp: number;
}

/** Where the HPA controller reads resource usage: metrics.k8s.io in production, a fake in tests. */
export interface ResourceMetricsSource {
  podUsage(opts: { namespace: string; selector: string; resource: ResourceName; signal: AbortSignal }): Promise<Map<string, PodUsage>>;
}

export const podMetricsRef: ResourceRef = { group: 'metrics.k8s.io', version: 'v1beta1', plural: 'pods', namespaced: true, kind: 'PodMetrics' };

interface PodMetrics extends KubeObject {
  timestamp?: string;
  containers?: { name: string; usage?: Record<string, string> }[];
}

/** metrics.k8s.io PodMetrics through the API, as upstream's resource metrics client. */
export function metricsApiSource(client: KubeClient): ResourceMetricsSource {
  return {
    async podUsage({ namespace, selector, resource, signal }) {
      const list = await client.list<PodMetrics>(podMetricsRef, { namespace, labelSelector: selector, signal });
      const out = new Map<string, PodUsage>();
      for (const pm of list.items) {
        let sum = 0;
        let complete = (pm.containers ?? []).length > 0;
        for (const c of pm.containers ?? []) {
          const q = c.usage?.[resource];
          if (q === undefined) {
            complete = false;
            break;
          }
          const v = parseQuantity(q);
          sum += resource === 'cpu' ? v.milliValue() : v.value();
        }
        // a pod missing a container's figure counts as missing, not as using less
        if (complete) out.set(pm.metadata.name ?? '', { value: sum, timestamp: Date.parse(pm.timestamp ?? '') || 0 });
      }
      return out;
    },
  };
}
