/**
 * Sandbox stats of a microVM from the guest's report: the CPU rate (nano-cores) is the
 * difference between two successive reports, so the last sample is kept per sandbox.
 */
import type { SandboxStats } from '../types.ts';
import type { parseGuestStats } from './guest-stats.ts';

type GuestStats = ReturnType<typeof parseGuestStats>;

export class VmCpuRates {
  readonly #prev = new Map<string, { at: number; nanos: number }>();

  sandboxStats(sid: string, s: GuestStats, now = Date.now()): SandboxStats {
    const prev = this.#prev.get(sid);
    this.#prev.set(sid, { at: now, nanos: s.cpuNanos });
    const cpu: SandboxStats['cpu'] = { usageCoreNanoSeconds: s.cpuNanos };
    if (prev && now > prev.at) cpu.usageNanoCores = Math.max(0, Math.round(((s.cpuNanos - prev.nanos) / (now - prev.at)) * 1e6));
    return {
      timestamp: new Date(now),
      cpu,
      memory: { usageBytes: s.memory.usageBytes, workingSetBytes: s.memory.workingSetBytes, rssBytes: s.memory.rssBytes },
      blkio: s.blkio,
      network: s.network,
    };
  }

  forget(sid: string): void {
    this.#prev.delete(sid);
  }
}
