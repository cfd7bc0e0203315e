/**
 * The cgroup stat readers the agent uses: each reads the v1 files (cgroup-v1.ts) or, when the root
 * is the unified hierarchy (host/cgroup.ts isUnifiedCgroup), the v2 files (cgroup-v2.ts), and gives
 * the same figures either way; and a sample of a cgroup, with its CPU rate over two samples.
 */
import { isUnifiedCgroup } from '../host/cgroup.ts';
import type { CgroupCounters, CgroupRef } from './cgroup-files.ts';
import { readBlkioV1Sync, readCpuV1Sync, readMemoryV1Sync, readOomKilledV1Sync, readPidsV1Sync } from './cgroup-v1.ts';
import { readCpuV2Sync, readIoV2Sync, readMemoryV2Sync, readOomKilledV2Sync, readPidsV2Sync } from './cgroup-v2.ts';
import type { BlockIoStats, ContainerStats, CpuStats, MemoryStats, StatsScope } from './types.ts';

export { CgroupCounters, flatKeyedValue, parseFlatKeyed, type CgroupRef } from './cgroup-files.ts';
export { parseBlkio } from './cgroup-v1.ts';

function readCpuSync(ref: CgroupRef, scope: StatsScope, counters?: CgroupCounters): CpuStats | undefined {
  return isUnifiedCgroup(ref.root) ? readCpuV2Sync(ref, scope) : readCpuV1Sync(ref, scope, counters);
}

function readMemorySync(ref: CgroupRef, scope: StatsScope, unchanged?: MemoryStats, counters?: CgroupCounters): MemoryStats | undefined {
  return isUnifiedCgroup(ref.root) ? readMemoryV2Sync(ref, scope, unchanged, counters) : readMemoryV1Sync(ref, scope, unchanged, counters);
}

export async function readCpu(ref: CgroupRef, scope: StatsScope = 'full'): Promise<CpuStats | undefined> {
  return readCpuSync(ref, scope);
}

/** `unchanged`: figures to return as they are if the usage is still theirs (see readCgroupStats) */
export async function readMemory(ref: CgroupRef, scope: StatsScope = 'full', unchanged?: MemoryStats): Promise<MemoryStats | undefined> {
  return readMemorySync(ref, scope, unchanged);
}

function readBlkioSync(ref: CgroupRef): BlockIoStats | undefined {
  return isUnifiedCgroup(ref.root) ? readIoV2Sync(ref) : readBlkioV1Sync(ref);
}

function readPidsSync(ref: CgroupRef): number | undefined {
  return isUnifiedCgroup(ref.root) ? readPidsV2Sync(ref) : readPidsV1Sync(ref);
}

export async function readBlkio(ref: CgroupRef): Promise<BlockIoStats | undefined> {
  return readBlkioSync(ref);
}

export async function readPids(ref: CgroupRef): Promise<number | undefined> {
  return readPidsSync(ref);
}

/** whether the cgroup saw an OOM kill: v1 memory.oom_control's `oom_kill` (kernel ≥ 4.13) or `under_oom`, v2 memory.events' `oom_kill` */
export async function readOomKilled(ref: CgroupRef): Promise<boolean> {
  return isUnifiedCgroup(ref.root) ? readOomKilledV2Sync(ref) : readOomKilledV1Sync(ref);
}

/**
 * When each sample's CPU counter was read, on the monotonic clock: a rate over two samples must
 * not depend on the wall clock, which has millisecond steps (two reads in the same millisecond
 * gave no rate) and can jump back (NTP, a VM resumed from a snapshot). Only samples read on the
 * real clock have one; a caller that passes its own clock (the collector, tests) keeps its time.
 */
const readAt = new WeakMap<ContainerStats, bigint>();

/** when a sample's memory.stat figures were read (monotonic ns; a sample that took them over keeps the first's time) */
const memoryStatAt = new WeakMap<ContainerStats, bigint>();
/** memory.stat figures are taken over from an earlier sample for at most this long */
const MEMORY_STAT_REUSE_NS = 60_000_000_000n;

/**
 * One sample of a cgroup; usageNanoCores comes from `withNanoCores` and a previous sample.
 * `counters`: the cgroup's counter files kept open between samples (CgroupCounters).
 *
 * `prev` (this cgroup's previous sample; scope 'usage' only): when neither its CPU time nor its
 * memory usage moved since, its memory.stat figures (working set, RSS, page faults) are taken
 * over instead of read again, for up to a minute. A process that did not run faulted no page
 * and charged nothing; only the kernel's LRU aging can shift its working set meanwhile, by a
 * little. memory.stat is the costly file (the kernel formats ~40 hierarchical counters): with
 * 100 idle pods, every scrape read it 200 times for figures that had not changed.
 */
export async function readCgroupStats(ref: CgroupRef, now?: () => Date, scope: StatsScope = 'full', prev?: ContainerStats, counters?: CgroupCounters): Promise<ContainerStats | undefined> {
  const mono = process.hrtime.bigint();
  const at = now ? undefined : mono;
  const cpu = readCpuSync(ref, scope, counters);
  if (!cpu) return undefined;
  const since = prev && scope === 'usage' && prev.cpu.usageCoreNanoSeconds === cpu.usageCoreNanoSeconds ? memoryStatAt.get(prev) : undefined;
  const fresh = since === undefined || mono - since >= MEMORY_STAT_REUSE_NS;
  const memory = readMemorySync(ref, scope, fresh ? undefined : prev!.memory, counters);
  if (!memory) return undefined;
  const out: ContainerStats = { timestamp: now ? now() : new Date(), cpu, memory };
  if (at !== undefined) readAt.set(out, at);
  memoryStatAt.set(out, memory === prev?.memory ? since! : mono);
  if (scope === 'usage') return out;
  // synchronous reads, as the CPU and memory ones: no promise per file on a scrape
  const blkio = readBlkioSync(ref);
  const pids = readPidsSync(ref);
  if (blkio) out.blkio = blkio;
  if (pids !== undefined) out.processes = pids;
  return out;
}

/** usageNanoCores = Δ cpu ns / Δ wall s (what the kubelet summary API reports). */
export function withNanoCores<T extends ContainerStats>(cur: T, prev: ContainerStats | undefined): T {
  if (!prev) return cur;
  const [a, b] = [readAt.get(prev), readAt.get(cur)];
  const dtNs = a !== undefined && b !== undefined ? Number(b - a) : (cur.timestamp.getTime() - prev.timestamp.getTime()) * 1e6;
  const dCpu = cur.cpu.usageCoreNanoSeconds - prev.cpu.usageCoreNanoSeconds;
  if (dtNs <= 0 || dCpu < 0) return cur;
  const out = { ...cur, cpu: { ...cur.cpu, usageNanoCores: Math.round((dCpu / dtNs) * 1e9) } };
  if (b !== undefined) readAt.set(out, b);
  return out;
}
