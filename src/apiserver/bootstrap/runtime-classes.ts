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
 * microvm: `bench/microvm-boot.ts` (3 idle sandboxes side by side, a `sleep` container each, qemu
 * 7.2 under TCG, Debian's 6.1 generic guest kernel, tb-size=16, free page reporting, guest RAM
 * 192 MiB on a memfd), 2026-12-03: qemu PSS 160.5 MiB per VM (107.7 MiB guest RAM the guest
 * touched, 35.4 MiB qemu anon incl. the TCG cache, the 58 MiB kernel file mapping shared between
 * VMs), container RSS ~0, so sandbox overhead = 160.5 MiB -> 176Mi (was 186 -> 192Mi with
 * tb-size=32). Idle qemu CPU 12m over 20 s -> 20m. The handler sizes guest RAM as (pod limit incl.
 * this overhead) - 48 MiB for qemu itself, at least 128 MiB, so 176Mi admits any limited pod.
 * A node on the tailored guest kernel (src/guest/README.md) needs less; this holds for the fallback.
 */
export const defaultRuntimeClasses: readonly DefaultRuntimeClass[] = [
  { name: 'runc', handler: 'runc', podFixed: { memory: '1Mi' } },
  { name: 'gvisor', handler: 'gvisor', podFixed: { cpu: '10m', memory: '20Mi' } },
  { name: 'microvm', handler: 'microvm', podFixed: { cpu: '20m', memory: '176Mi' } },
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
