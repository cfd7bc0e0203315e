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
 * microvm: `bench/microvm-boot.ts 5 3 --only previous,debian,tailored` (3 idle sandboxes side by
 * side, a `sleep` container each, qemu 7.2 under TCG, guest RAM 208 MiB on a memfd, tb-size 16,
 * free page reporting down to single pages), 2026-12-03, load average ~2: with the tailored guest
 * kernel (built once per machine: scripts/up.sh in the background, src/guest/README.md),
 * qemu PSS 82.0 MiB per VM (43.6 guest RAM the guest touched, 33.0 qemu anon incl. the 16 MiB TCG
 * cache, 2.9 its share of the kernel file), container RSS ~0, so a tailored-kernel sandbox would
 * need 96Mi. Debian's kernel (every node until its build lands; the test command and CI never build
 * it) costs 153.0 MiB (163.8 before single-page reporting) in the same run: the declared overhead
 * stays 176Mi so no node overcommits, whichever kernel it boots.
 * Re-measured 2026-12-04 with virtio-serial max_ports=2 and tb-size 12 for the tailored kernel
 * (`bench/microvm-boot.ts 4 3 --only previous,debian,tailored-previous,tailored`, load ~25):
 * tailored 76.9 MiB (would need 88Mi), Debian's 151.0 MiB. Debian's kernel still boots every node
 * whose tailored build is missing or stale (this machine's cache predates the SCHEDSTATS fragment),
 * so 176Mi stays; it can drop to ~88Mi once every node is known to boot the tailored kernel.
 * Re-measured 2026-12-04 after the fifth pass of src/guest/README.md (a kernel image half the size,
 * busybox unlinked after boot; `bench/microvm-boot.ts 10 3`, load 4.2 → 1.6, and `… 10 3 --only
 * tailored,tailored-tb14,tailored-tb16`, load ~2): tailored 62.8–63.0 MiB with its default TCG
 * cache of 16 MiB (23.2 guest RAM, 32.7 qemu anon, 2.7 kernel file; would need 72Mi), Debian's
 * 148.1 MiB. 176Mi still covers Debian's kernel with a margin of 19 %, so it stays while nodes fall
 * back to it.
 * Idle qemu CPU 12m over 20 s -> 20m. The handler sizes guest RAM as (pod limit incl. this overhead)
 * - 48 MiB for qemu itself, at least 64 MiB with the tailored kernel (128 with Debian's).
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
