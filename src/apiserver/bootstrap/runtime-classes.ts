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
 * 7.2 under TCG, Debian's 6.1 generic guest kernel, guest RAM 144 MiB on a memfd), 2026-11-26:
 * qemu PSS 185.6 MiB per VM (the 58 MiB kernel file mapping split three ways; ~53 MiB anon is qemu
 * and the TCG translation cache, ~110 MiB shmem is guest RAM the guest touched), container RSS ~0,
 * so sandbox overhead = PSS - container = 186 MiB -> 192Mi. Idle qemu CPU 12m over 20 s -> 20m.
 * The handler sizes guest RAM as (pod limit incl. this overhead) - 64 MiB for qemu itself, so a
 * container gets its limit plus ~25 MiB in a guest whose kernel image alone takes ~58 MiB.
 * Under KVM with a tailored guest kernel this would be far smaller; re-measure there.
 */
export const defaultRuntimeClasses: readonly DefaultRuntimeClass[] = [
  { name: 'runc', handler: 'runc', podFixed: { memory: '1Mi' } },
  { name: 'gvisor', handler: 'gvisor', podFixed: { cpu: '10m', memory: '20Mi' } },
  { name: 'microvm', handler: 'microvm', podFixed: { cpu: '20m', memory: '192Mi' } },
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
