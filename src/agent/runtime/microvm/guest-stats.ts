/**
 * Parses the guest agent's stats reply: raw files, each after a `==path==` line. First the VM's
 * /proc files (the pod: every vCPU, all guest memory, every guest disk, the guest's interfaces),
 * then per container the files of its cgroup v2 in the guest, `/sys/fs/cgroup/c/<key>/...`
 * (src/guest/agent/hedge-agent.c). A guest without cgroups (an older image, or a kernel built
 * without them) sends no container sections: `containers` is then empty.
 */
import { parseFlatKeyed } from '../../stats/cgroup.ts';
import { parseNetDev } from '../../stats/net-dev.ts';
import type { BlockIoStats, CpuStats, MemoryStats, NetworkStats } from '../types.ts';

/** One container's cgroup in the guest. */
export interface GuestContainerStats {
  cpu: CpuStats;
  memory: MemoryStats;
  blkio: BlockIoStats;
  processes?: number;
}

export interface GuestStats {
  /**
   * cumulative CPU time of all guest vCPUs, ns: the scheduler's run time of every task
   * (/proc/schedstat), else /proc/stat's busy ticks (USER_HZ 100), which under TCG on a loaded host
   * count half or less of it (a tick is lost while qemu's vCPU thread waits for a host core)
   */
  cpuNanos: number;
  memory: MemoryStats & { totalBytes: number };
  blkio: BlockIoStats;
  network: NetworkStats;
  /** by the container's guest cgroup name (the host's mount key) */
  containers: Map<string, GuestContainerStats>;
}

const USER_HZ_NS = 10_000_000;
const CGROUP_DIR = '/sys/fs/cgroup/c/';

export function splitProcFiles(text: string): Map<string, string> {
  const out = new Map<string, string>();
  const re = /^==(\/(?:proc|sys\/fs\/cgroup)\/[^=]+)==$/gm;
  const marks = [...text.matchAll(re)];
  marks.forEach((m, i) => {
    const start = (m.index ?? 0) + m[0].length + 1;
    const end = i + 1 < marks.length ? (marks[i + 1]?.index ?? text.length) : text.length;
    out.set(m[1] ?? '', text.slice(start, end));
  });
  return out;
}

/** io.stat: `MAJ:MIN rbytes=N wbytes=N rios=N wios=N dbytes=N dios=N` per device, summed */
export function parseIoStat(text: string): Required<BlockIoStats> {
  const out: Required<BlockIoStats> = { readBytes: 0, writeBytes: 0, readOps: 0, writeOps: 0 };
  for (const m of text.matchAll(/\b(rbytes|wbytes|rios|wios)=(\d+)/g)) {
    const v = Number(m[2]);
    if (m[1] === 'rbytes') out.readBytes += v;
    else if (m[1] === 'wbytes') out.writeBytes += v;
    else if (m[1] === 'rios') out.readOps += v;
    else out.writeOps += v;
  }
  return out;
}

/** One guest cgroup v2, as cAdvisor reads a v2 container: working set = current − inactive_file, RSS = anon. */
export function parseGuestCgroup(file: (name: string) => string | undefined): GuestContainerStats | undefined {
  const cpuStat = file('cpu.stat');
  const current = file('memory.current');
  if (cpuStat === undefined || current === undefined) return undefined;
  const cs = parseFlatKeyed(cpuStat);
  const ms = parseFlatKeyed(file('memory.stat') ?? '');
  const usage = Number(current.trim());
  const cpu: CpuStats = { usageCoreNanoSeconds: (cs.get('usage_usec') ?? 0) * 1000 };
  // a quota is set (cpu.max is "QUOTA PERIOD", not "max PERIOD"): the throttling counters mean something
  if (/^\d+\s/.test(file('cpu.max') ?? '') && cs.has('nr_periods')) {
    cpu.throttling = { periods: cs.get('nr_periods') ?? 0, throttledPeriods: cs.get('nr_throttled') ?? 0, throttledNanoSeconds: (cs.get('throttled_usec') ?? 0) * 1000 };
  }
  const memory: MemoryStats = {
    usageBytes: usage,
    workingSetBytes: Math.max(0, usage - (ms.get('inactive_file') ?? 0)),
    rssBytes: ms.get('anon') ?? 0,
    oomKills: parseFlatKeyed(file('memory.events') ?? '').get('oom_kill') ?? 0,
  };
  if (ms.has('pgfault')) memory.pageFaults = ms.get('pgfault');
  if (ms.has('pgmajfault')) memory.majorPageFaults = ms.get('pgmajfault');
  const out: GuestContainerStats = { cpu, memory, blkio: parseIoStat(file('io.stat') ?? '') };
  const pids = Number((file('pids.current') ?? '').trim() || NaN);
  if (Number.isFinite(pids)) out.processes = pids;
  return out;
}

export function parseGuestStats(text: string): GuestStats {
  const files = splitProcFiles(text);
  // cpu  user nice system idle iowait irq softirq steal guest guest_nice
  const cpuLine = (files.get('/proc/stat') ?? '').split('\n').find((l) => l.startsWith('cpu ')) ?? '';
  const f = cpuLine.trim().split(/\s+/).slice(1).map(Number);
  const busy = [0, 1, 2, 5, 6, 7].reduce((s, i) => s + (f[i] ?? 0), 0);
  // /proc/schedstat (version 15): `cpuN yld_count 0 sched_count sched_goidle ttwu_count ttwu_local rq_cpu_time ...`
  const runNs = (files.get('/proc/schedstat') ?? '').split('\n').filter((l) => /^cpu\d+ /.test(l)).map((l) => Number(l.trim().split(/\s+/)[7]));
  const schedNs = runNs.length && runNs.every(Number.isFinite) ? runNs.reduce((a, b) => a + b, 0) : undefined;
  const mem = new Map<string, number>();
  for (const l of (files.get('/proc/meminfo') ?? '').split('\n')) {
    const m = /^(\w+):\s+(\d+)/.exec(l);
    if (m?.[1] && m[2]) mem.set(m[1], Number(m[2]) * 1024);
  }
  const total = mem.get('MemTotal') ?? 0;
  const blkio: Required<BlockIoStats> = { readBytes: 0, writeBytes: 0, readOps: 0, writeOps: 0 };
  for (const l of (files.get('/proc/diskstats') ?? '').split('\n')) {
    const d = l.trim().split(/\s+/);
    // whole disks only, partitions would count twice
    if (!/^(sd[a-z]+|vd[a-z]+)$/.test(d[2] ?? '')) continue;
    blkio.readOps += Number(d[3] ?? 0);
    blkio.readBytes += Number(d[5] ?? 0) * 512;
    blkio.writeOps += Number(d[7] ?? 0);
    blkio.writeBytes += Number(d[9] ?? 0) * 512;
  }
  const containers = new Map<string, GuestContainerStats>();
  const keys = new Set([...files.keys()].filter((k) => k.startsWith(CGROUP_DIR)).map((k) => k.slice(CGROUP_DIR.length).split('/')[0] ?? ''));
  for (const key of keys) {
    // an empty section is a file the guest could not read (a controller the kernel lacks)
    const c = parseGuestCgroup((name) => files.get(`${CGROUP_DIR}${key}/${name}`) || undefined);
    if (key && c) containers.set(key, c);
  }
  return {
    cpuNanos: schedNs ?? busy * USER_HZ_NS,
    memory: {
      totalBytes: total,
      usageBytes: total - (mem.get('MemFree') ?? 0),
      workingSetBytes: total - (mem.get('MemAvailable') ?? 0),
      rssBytes: mem.get('AnonPages') ?? 0,
    },
    blkio,
    network: parseNetDev(files.get('/proc/net/dev') ?? ''),
    containers,
  };
}
