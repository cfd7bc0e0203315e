/** Parses the guest agent's stats reply: raw /proc files, each after a `==/proc/...==` line. */
import { parseNetDev } from '../../stats/net-dev.ts';
import type { BlockIoStats, MemoryStats, NetworkStats } from '../types.ts';

export interface GuestStats {
  /** cumulative CPU time of all guest vCPUs, ns (USER_HZ 100) */
  cpuNanos: number;
  memory: MemoryStats & { totalBytes: number };
  blkio: BlockIoStats;
  network: NetworkStats;
}

const USER_HZ_NS = 10_000_000;

export function splitProcFiles(text: string): Map<string, string> {
  const out = new Map<string, string>();
  const re = /^==(\/proc\/[^=]+)==$/gm;
  const marks = [...text.matchAll(re)];
  marks.forEach((m, i) => {
    const start = (m.index ?? 0) + m[0].length + 1;
    const end = i + 1 < marks.length ? (marks[i + 1]?.index ?? text.length) : text.length;
    out.set(m[1] ?? '', text.slice(start, end));
  });
  return out;
}

export function parseGuestStats(text: string): GuestStats {
  const files = splitProcFiles(text);
  // cpu  user nice system idle iowait irq softirq steal guest guest_nice
  const cpuLine = (files.get('/proc/stat') ?? '').split('\n').find((l) => l.startsWith('cpu ')) ?? '';
  const f = cpuLine.trim().split(/\s+/).slice(1).map(Number);
  const busy = [0, 1, 2, 5, 6, 7].reduce((s, i) => s + (f[i] ?? 0), 0);
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
  return {
    cpuNanos: busy * USER_HZ_NS,
    memory: {
      totalBytes: total,
      usageBytes: total - (mem.get('MemFree') ?? 0),
      workingSetBytes: total - (mem.get('MemAvailable') ?? 0),
      rssBytes: mem.get('AnonPages') ?? 0,
    },
    blkio,
    network: parseNetDev(files.get('/proc/net/dev') ?? ''),
  };
}
