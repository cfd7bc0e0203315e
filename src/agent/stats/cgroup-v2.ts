/**
 * cgroup v2 (unified) stat readers, giving what the v1 readers give: one directory per cgroup,
 * `<root>/<path>/<file>`. CPU from cpu.stat (µs), memory from memory.current and memory.stat (its
 * figures are hierarchical: no total_* keys), OOM kills from memory.events, I/O from io.stat. The
 * root cgroup has no memory.current: its usage comes from /proc/meminfo, as runc's and cAdvisor's.
 */
import { flatKeyedValue, readIntSync, readTextSync, type CgroupCounters, type CgroupRef } from './cgroup-files.ts';
import type { BlockIoStats, CpuStats, MemoryStats, StatsScope } from './types.ts';

/** `<root>/<path>/<file>`, plain concatenation as v1's cgroupFile */
const fileV2 = (ref: CgroupRef, file: string): string => `${ref.root}/${ref.path}/${file}`;

const isRootPath = (path: string): boolean => path.replace(/\/+/g, '') === '';

export function readCpuV2Sync(ref: CgroupRef, scope: StatsScope): CpuStats | undefined {
  const text = readTextSync(fileV2(ref, 'cpu.stat'));
  if (text === undefined) return undefined;
  const usec = flatKeyedValue(text, 'usage_usec');
  if (usec === undefined) return undefined;
  const out: CpuStats = { usageCoreNanoSeconds: usec * 1000 };
  if (scope === 'usage') return out;
  // bandwidth counters mean something only under a quota (cpu.max `max …` = none; the root has no cpu.max)
  const max = readTextSync(fileV2(ref, 'cpu.max'));
  if (max !== undefined && !max.startsWith('max')) {
    out.throttling = {
      periods: flatKeyedValue(text, 'nr_periods') ?? 0,
      throttledPeriods: flatKeyedValue(text, 'nr_throttled') ?? 0,
      throttledNanoSeconds: (flatKeyedValue(text, 'throttled_usec') ?? 0) * 1000,
    };
  }
  return out;
}

/** the root cgroup's usage (no memory.current there): MemTotal − MemFree, as runc's rootStatsFromMeminfo */
function rootUsageFromMeminfo(meminfo: string): { usage: number; inactiveFile?: number; anon?: number } | undefined {
  const text = readTextSync(meminfo);
  if (text === undefined) return undefined;
  const kib = (key: string): number | undefined => {
    const m = new RegExp(`^${key.replace(/[()]/g, '\\$&')}:\\s+(\\d+)`, 'm').exec(text);
    return m ? Number(m[1]) * 1024 : undefined;
  };
  const total = kib('MemTotal');
  const free = kib('MemFree');
  if (total === undefined || free === undefined) return undefined;
  const inactiveFile = kib('Inactive(file)');
  const anon = kib('AnonPages');
  return { usage: total - free, ...(inactiveFile !== undefined ? { inactiveFile } : {}), ...(anon !== undefined ? { anon } : {}) };
}

/** as v1's readMemory; `meminfo` is for the root cgroup (default /proc/meminfo) */
export function readMemoryV2Sync(ref: CgroupRef, scope: StatsScope, unchanged?: MemoryStats, counters?: CgroupCounters, meminfo = '/proc/meminfo'): MemoryStats | undefined {
  const file = fileV2(ref, 'memory.current');
  let usage = counters ? counters.read(file) : readIntSync(file);
  let fromMeminfo: ReturnType<typeof rootUsageFromMeminfo>;
  if (usage === undefined && isRootPath(ref.path)) {
    fromMeminfo = rootUsageFromMeminfo(meminfo);
    usage = fromMeminfo?.usage;
  }
  if (usage === undefined) return undefined;
  if (unchanged?.usageBytes === usage) return unchanged;
  const text = readTextSync(fileV2(ref, 'memory.stat')) ?? '';
  // cAdvisor: working set = usage − inactive_file (never below 0); rss = anon
  const inactiveFile = flatKeyedValue(text, 'inactive_file') ?? fromMeminfo?.inactiveFile ?? 0;
  const out: MemoryStats = {
    usageBytes: usage,
    workingSetBytes: Math.max(0, usage - inactiveFile),
    rssBytes: flatKeyedValue(text, 'anon') ?? fromMeminfo?.anon ?? 0,
  };
  const pf = flatKeyedValue(text, 'pgfault');
  const mpf = flatKeyedValue(text, 'pgmajfault');
  if (pf !== undefined) out.pageFaults = pf;
  if (mpf !== undefined) out.majorPageFaults = mpf;
  if (scope === 'usage') return out;
  const oom = flatKeyedValue(readTextSync(fileV2(ref, 'memory.events')) ?? '', 'oom_kill');
  if (oom !== undefined) out.oomKills = oom;
  return out;
}

/** io.stat: `MAJ:MIN rbytes=… wbytes=… rios=… wios=… dbytes=… dios=…` per device, summed over devices */
export function parseIoStat(text: string): BlockIoStats {
  const out: BlockIoStats = { readBytes: 0, writeBytes: 0, readOps: 0, writeOps: 0 };
  const keys: Record<string, keyof BlockIoStats> = { rbytes: 'readBytes', wbytes: 'writeBytes', rios: 'readOps', wios: 'writeOps' };
  for (const line of text.split('\n')) {
    const [dev, ...fields] = line.trim().split(/\s+/);
    if (!dev || !/^\d+:\d+$/.test(dev)) continue;
    for (const f of fields) {
      const eq = f.indexOf('=');
      const k = keys[f.slice(0, eq)];
      const v = Number(f.slice(eq + 1));
      if (k && Number.isFinite(v)) out[k] += v;
    }
  }
  return out;
}

/** io.stat is hierarchical and counted without any rule (unlike v1's throttle files: blkio-accounting.ts) */
export function readIoV2Sync(ref: CgroupRef): BlockIoStats | undefined {
  const text = readTextSync(fileV2(ref, 'io.stat'));
  return text === undefined ? undefined : parseIoStat(text);
}

export function readPidsV2Sync(ref: CgroupRef): number | undefined {
  return readIntSync(fileV2(ref, 'pids.current'));
}

/** memory.events' `oom_kill` counter (the cgroup and its descendants) */
export function readOomKilledV2Sync(ref: CgroupRef): boolean {
  const text = readTextSync(fileV2(ref, 'memory.events'));
  return text !== undefined && (flatKeyedValue(text, 'oom_kill') ?? 0) > 0;
}
