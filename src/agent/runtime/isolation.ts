/**
 * What separates a sandbox from the host, per runtime handler, as the node reports it: labels
 * `isolation.hedge.io/<handler>` on its Node (a scheduler or a person can select on them, e.g.
 * only `microvm.kvm` nodes for the least trusted work) and the `hedge node` / `hedge up` ready line.
 *   runc/crun  Linux namespaces, cgroups, seccomp and dropped capabilities: the host kernel is shared
 *   gVisor     a user-space kernel (the Sentry) between the workload and the host kernel; its
 *              platform (ptrace, systrap, kvm) is how it intercepts system calls
 *   microVM    a guest kernel in a virtual machine; KVM hardware virtualization or TCG emulation
 */
import { HedgeError } from '../../lib/errors.ts';
import type { SandboxConfig } from './types.ts';

export type SandboxIsolation =
  | { kind: 'namespaces' }
  | { kind: 'user-space-kernel'; platform: 'ptrace' | 'systrap' | 'kvm' }
  | { kind: 'vm'; accelerator: 'kvm' | 'tcg' };

export const ISOLATION_LABEL_PREFIX = 'isolation.hedge.io/';

/** the label value: `namespaces`, `user-space-kernel.ptrace`, `microvm.kvm`, ... */
export function isolationLabelValue(i: SandboxIsolation): string {
  switch (i.kind) {
    case 'namespaces':
      return 'namespaces';
    case 'user-space-kernel':
      return `user-space-kernel.${i.platform}`;
    case 'vm':
      return `microvm.${i.accelerator}`;
    default: {
      const never: never = i;
      throw new Error(`unknown isolation ${JSON.stringify(never)}`);
    }
  }
}

/** for people: what the boundary is */
export function describeIsolation(i: SandboxIsolation): string {
  switch (i.kind) {
    case 'namespaces':
      return 'Linux namespaces + seccomp, shared host kernel';
    case 'user-space-kernel':
      return `gVisor user-space kernel, ${i.platform} platform`;
    case 'vm':
      return i.accelerator === 'kvm' ? 'microVM, KVM' : 'microVM, TCG emulation';
    default: {
      const never: never = i;
      throw new Error(`unknown isolation ${JSON.stringify(never)}`);
    }
  }
}

/** the boundary of an OCI runtime from its kind and global flags (runsc's `--platform`, ptrace by default as in gVisor releases of 2022) */
export function ociIsolation(kind: 'runc' | 'crun' | 'runsc', globalArgs: readonly string[]): SandboxIsolation {
  if (kind !== 'runsc') return { kind: 'namespaces' };
  const flag = [...globalArgs].reverse().find((a) => a.startsWith('--platform='));
  const platform = flag?.slice('--platform='.length);
  return { kind: 'user-space-kernel', platform: platform === 'systrap' || platform === 'kvm' ? platform : 'ptrace' };
}

/** the labels a node carries for its handlers */
export function isolationLabels(handlers: ReadonlyMap<string, SandboxIsolation>): Record<string, string> {
  return Object.fromEntries([...handlers].map(([h, i]) => [`${ISOLATION_LABEL_PREFIX}${h}`, isolationLabelValue(i)]));
}

/** reads them back (from a Node's labels); values that are not ours are left out */
export function parseIsolationLabels(labels: Record<string, string> | undefined): Map<string, SandboxIsolation> {
  const out = new Map<string, SandboxIsolation>();
  for (const [k, v] of Object.entries(labels ?? {})) {
    if (!k.startsWith(ISOLATION_LABEL_PREFIX)) continue;
    const handler = k.slice(ISOLATION_LABEL_PREFIX.length);
    const m = /^(namespaces)$|^user-space-kernel\.(ptrace|systrap|kvm)$|^microvm\.(kvm|tcg)$/.exec(v);
    if (!m) continue;
    if (m[1]) out.set(handler, { kind: 'namespaces' });
    else if (m[2]) out.set(handler, { kind: 'user-space-kernel', platform: m[2] as 'ptrace' | 'systrap' | 'kvm' });
    else if (m[3]) out.set(handler, { kind: 'vm', accelerator: m[3] as 'kvm' | 'tcg' });
  }
  return out;
}

/**
 * hostPID / hostIPC ask for the host's own namespaces: a sandbox with its own kernel (gVisor,
 * microVM) has none to give, and sharing them would defeat it. Refused with the field named, as
 * the sandbox's create error (the pod shows FailedCreatePodSandBox).
 */
export function refuseHostNamespaces(cfg: Pick<SandboxConfig, 'hostPid' | 'hostIpc' | 'pod'>, handler: string): void {
  const asked = [cfg.hostPid && 'spec.hostPID', cfg.hostIpc && 'spec.hostIPC'].filter((x): x is string => !!x);
  if (asked.length === 0) return;
  throw new HedgeError('Invalid', `pod ${cfg.pod.namespace}/${cfg.pod.name}: ${asked.join(' and ')} cannot be honoured by the ${handler} runtime: its sandbox has its own kernel, not the host's namespaces (use a runc RuntimeClass)`);
}
