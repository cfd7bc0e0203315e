/**
 * cgroup v1 stat readers (this host: cpu and cpuacct mounted separately, blkio with throttle.*
 * only), the counterparts of cgroup-v2.ts; cgroup.ts picks one by the root's hierarchy. The cgroup
 * root is a parameter so tests can point at fixture trees.
 */
import { flatKeyedValue, parseFlatKeyed, readIntSync, readTextSync, type CgroupCounters, type CgroupRef } from './cgroup-files.ts';
import type { BlockIoStats, CpuStats, MemoryStats, StatsScope } from './types.ts';

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

export function readCpuV1Sync(ref: CgroupRef, scope: StatsScope, counters?: CgroupCounters): CpuStats | undefined {
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
export function readMemoryV1Sync(ref: CgroupRef, scope: StatsScope, unchanged?: MemoryStats, counters?: CgroupCounters): MemoryStats | undefined {
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

export function readBlkioV1Sync(ref: CgroupRef): BlockIoStats | undefined {
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

export function readPidsV1Sync(ref: CgroupRef): number | undefined {
  return readIntSync(cgroupFile(ref, 'pids', 'pids.current'));
}

/** memory.oom_control's `oom_kill` counter (kernel ≥ 4.13) or `under_oom` */
export function readOomKilledV1Sync(ref: CgroupRef): boolean {
  const text = readTextSync(cgroupFile(ref, 'memory', 'memory.oom_control'));
  if (text === undefined) return false;
  const m = parseFlatKeyed(text);
  return (m.get('oom_kill') ?? 0) > 0 || (m.get('under_oom') ?? 0) > 0;
}
