import { describeIsolation, type SandboxIsolation } from '../agent/runtime/isolation.ts';

/** `gvisor (gVisor user-space kernel, ptrace platform)` for the ready lines of `hedge node` and `hedge up` */
export function withIsolation(handler: string, isolation: ReadonlyMap<string, SandboxIsolation>): string {
  const i = isolation.get(handler);
  return i ? `${handler} (${describeIsolation(i)})` : handler;
}
