import type { KubeObject } from '../../api/object.ts';

/** One RuntimeClass hedge creates at startup when absent. */
export interface DefaultRuntimeClass {
  name: string;
  handler: string;
  /** overhead.podFixed: what one pod sandbox costs beyond its containers' requests */
  podFixed?: Record<string, string>;
}

/**
 * The RuntimeClasses `hedge server` ships. Overheads come from `bench/runtime-overhead.ts`
 * (PSS and idle CPU of everything a pod's sandbox runs on the host — conmon, runc's process,
 * gVisor's Sentry and Gofer — minus the same workload run bare, same run). Measured 2026-11-25
 * on the 2-vCPU dev machine, 3–4 idle pods per handler:
 *   runc    0.66 MiB, 0.0m CPU (conmon)          → 1Mi
 *   gvisor 16.99 MiB, 0.8m CPU (Sentry + Gofer)  → 20Mi (measured + ~15% for page-cache growth), 10m
 * Memory is rounded up with a margin because the scheduler must not overcommit; CPU is a floor
 * for idle sandboxes, busy gVisor pods pay more per syscall (ptrace platform), which their own
 * requests have to cover.
 * microvm: PROVISIONAL until the microVM runtime (issue 5) exists and bench/ measures it.
 */
export const defaultRuntimeClasses: readonly DefaultRuntimeClass[] = [
  { name: 'runc', handler: 'runc', podFixed: { memory: '1Mi' } },
  { name: 'gvisor', handler: 'gvisor', podFixed: { cpu: '10m', memory: '20Mi' } },
  { name: 'microvm', handler: 'microvm', podFixed: { cpu: '100m', memory: '64Mi' } /* PROVISIONAL, not measured */ },
];

export function runtimeClassObject(rc: DefaultRuntimeClass): KubeObject {
  const obj: KubeObject = {
    apiVersion: 'node.k8s.io/v1',
    kind: 'RuntimeClass',
    metadata: { name: rc.name, labels: { 'app.kubernetes.io/managed-by': 'hedge' } },
    handler: rc.handler,
  };
  if (rc.podFixed && Object.keys(rc.podFixed).length > 0) obj.overhead = { podFixed: { ...rc.podFixed } };
  return obj;
}
