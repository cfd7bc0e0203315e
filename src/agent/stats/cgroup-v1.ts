/**
 * cgroup v1 stat readers (this host: cpu and cpuacct mounted separately, blkio with throttle.*
 * only). The cgroup root is a parameter so tests can point at fixture trees. Each exported
 * reader reads the v2 files instead (cgroup-v2.ts) when the root is the unified hierarchy
 * (host/cgroup.ts isUnifiedCgroup).
 */
import { flatKeyedValue, parseFlatKeyed, readIntSync, readTextSync, type CgroupCounters, type CgroupRef } from './cgroup-files.ts';
import { isUnifiedCgroup } from '../host/cgroup.ts';
import { readCpuV2Sync, readIoV2Sync, readMemoryV2Sync, readOomKilledV2Sync, readPidsV2Sync } from './cgroup-v2.ts';
import type { BlockIoStats, ContainerStats, CpuStats, MemoryStats, StatsScope } from './types.ts';

export { CgroupCounters, flatKeyedValue, parseFlatKeyed, type CgroupRef } from './cgroup-files.ts';


/**
 * `<root>/<controller>/<path>/<file>`. Plain concatenation, not path.join: the scrape builds two
 * such names per cgroup and join's normalizing was a tenth of its time (CPU profile, 100 pods). An
 * empty or `/` path (the root cgroup) leaves a doubled slash, which the kernel reads as one.
 */
const cgroupFile = (ref: CgroupRef, controller: string, file: string): string => `${ref.root}/${controller}/${ref.path}/${file}`;

/** blkio.throttle.io_service_bytes / io_serviced: `MAJ:MIN Op value` lines plus a `Total` line. */
export function parseBlkio(text: string): { read: number; write: number } {
  let read = 0;
  let write = 0;
  for (const line of text.split('\n')) {
    const parts = line.trim().split(/\s+/);
    if (parts.length !== 3) continue;
    const [, op, v] = parts;
    if (op === 'Read') read += Number(v);
    else if (op === 'Write') write += Number(v);
  }
  return { read, write };
}

export async function readCpu(ref: CgroupRef, scope: StatsScope = 'full'): Promise<CpuStats | undefined> {
  return readCpuSync(ref, scope);
}

function readCpuSync(ref: CgroupRef, scope: StatsScope, counters?: CgroupCounters): CpuStats | undefined {
  if (isUnifiedCgroup(ref.root)) return readCpuV2Sync(ref, scope);
  const file = cgroupFile(ref, 'cpuacct', 'cpuacct.usage');
  const usage = counters ? counters.read(file) : readIntSync(file);
  if (usage === undefined) return undefined;
  const out: CpuStats = { usageCoreNanoSeconds: usage };
  if (scope === 'usage') return out;
  // CFS bandwidth counters mean something only under a quota (-1 = none)
  const quota = readIntSync(cgroupFile(ref, 'cpu', 'cpu.cfs_quota_us'));
  const stat = quota !== undefined && quota > 0 ? readTextSync(cgroupFile(ref, 'cpu', 'cpu.stat')) : undefined;
  if (stat !== undefined) {
    const m = parseFlatKeyed(stat);
    out.throttling = { periods: m.get('nr_periods') ?? 0, throttledPeriods: m.get('nr_throttled') ?? 0, throttledNanoSeconds: m.get('throttled_time') ?? 0 };
  }
  return out;
}

/** `unchanged`: figures to return as they are if the usage is still theirs (see readCgroupStats) */
export async function readMemory(ref: CgroupRef, scope: StatsScope = 'full', unchanged?: MemoryStats): Promise<MemoryStats | undefined> {
  return readMemorySync(ref, scope, unchanged);
}

function readMemorySync(ref: CgroupRef, scope: StatsScope, unchanged?: MemoryStats, counters?: CgroupCounters): MemoryStats | undefined {
  if (isUnifiedCgroup(ref.root)) return readMemoryV2Sync(ref, scope, unchanged, counters);
  const file = cgroupFile(ref, 'memory', 'memory.usage_in_bytes');
  const usage = counters ? counters.read(file) : readIntSync(file);
  if (usage === undefined) return undefined;
  if (unchanged?.usageBytes === usage) return unchanged;
  const text = readTextSync(cgroupFile(ref, 'memory', 'memory.stat')) ?? '';
  // the hierarchical total_* figure, else the cgroup's own (a flat hierarchy has no total_*)
  const stat = (key: string): number | undefined => flatKeyedValue(text, `total_${key}`) ?? flatKeyedValue(text, key);
  // cAdvisor: working set = usage - inactive file (never below 0)
  const inactiveFile = stat('inactive_file') ?? 0;
  const workingSet = Math.max(0, usage - inactiveFile);
  const out: MemoryStats = {
    usageBytes: usage,
    workingSetBytes: workingSet,
    rssBytes: stat('rss') ?? 0,
  };
  const pf = stat('pgfault');
  const mpf = stat('pgmajfault');
  if (pf !== undefined) out.pageFaults = pf;
  if (mpf !== undefined) out.majorPageFaults = mpf;
  if (scope === 'usage') return out;
  const oom = parseFlatKeyed(readTextSync(cgroupFile(ref, 'memory', 'memory.oom_control')) ?? '').get('oom_kill');
  if (oom !== undefined) out.oomKills = oom;
  return out;
}

export async function readBlkio(ref: CgroupRef): Promise<BlockIoStats | undefined> {
  if (isUnifiedCgroup(ref.root)) return readIoV2Sync(ref);
  // v1 here only has throttle.*; CFQ kernels have the plain files. Read what exists; the
  // _recursive files first (as cAdvisor does): a pod cgroup's own file counts none of its containers' I/O
  const first = (names: string[]): string | undefined => {
    for (const n of names) {
      const t = readTextSync(cgroupFile(ref, 'blkio', n));
      if (t !== undefined) return t;
    }
    return undefined;
  };
  const bytes = first(['blkio.throttle.io_service_bytes_recursive', 'blkio.throttle.io_service_bytes', 'blkio.io_service_bytes_recursive', 'blkio.io_service_bytes']);
  const ops = first(['blkio.throttle.io_serviced_recursive', 'blkio.throttle.io_serviced', 'blkio.io_serviced_recursive', 'blkio.io_serviced']);
  if (bytes === undefined && ops === undefined) return undefined;
  const b = parseBlkio(bytes ?? '');
  const o = parseBlkio(ops ?? '');
  return { readBytes: b.read, writeBytes: b.write, readOps: o.read, writeOps: o.write };
}

export async function readPids(ref: CgroupRef): Promise<number | undefined> {
  if (isUnifiedCgroup(ref.root)) return readPidsV2Sync(ref);
  return readIntSync(cgroupFile(ref, 'pids', 'pids.current'));
}

/** memory.oom_control's `oom_kill` counter (kernel ≥ 4.13) or `under_oom` (v2: memory.events' `oom_kill`). */
export async function readOomKilled(ref: CgroupRef): Promise<boolean> {
  if (isUnifiedCgroup(ref.root)) return readOomKilledV2Sync(ref);
  const text = readTextSync(cgroupFile(ref, 'memory', 'memory.oom_control'));
  if (text === undefined) return false;
  const m = parseFlatKeyed(text);
  return (m.get('oom_kill') ?? 0) > 0 || (m.get('under_oom') ?? 0) > 0;
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
  const [blkio, pids] = await Promise.all([readBlkio(ref), readPids(ref)]);
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
