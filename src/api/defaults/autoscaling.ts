import type { HorizontalPodAutoscaler } from 'kubernetes-types/autoscaling/v2.js';
import type { KubeObject } from '../object.ts';

/**
 * autoscaling/v2 SetDefaults_HorizontalPodAutoscaler: minReplicas 1, and with no metrics the
 * v1 behaviour of 80% average CPU utilization. `behavior` is left as given: the controller applies
 * upstream's default scale-up/scale-down rules when it is absent (as the v2 defaulting does on
 * read), so stored objects stay as the user wrote them.
 */
export function defaultHorizontalPodAutoscaler(obj: KubeObject): void {
  const hpa = obj as HorizontalPodAutoscaler;
  if (!hpa.spec) return;
  hpa.spec.minReplicas ??= 1;
  if (!hpa.spec.metrics || hpa.spec.metrics.length === 0) {
    hpa.spec.metrics = [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } } }];
  }
}
