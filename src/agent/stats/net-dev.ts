import { readFileSync } from 'node:fs';
import type { NetworkStats } from './types.ts';

/** /proc/<pid>/net/dev of any process inside the pod's netns; `lo` is left out like cAdvisor. */
export function parseNetDev(text: string): NetworkStats {
  const interfaces: NetworkStats['interfaces'] = [];
  for (const line of text.split('\n').slice(2)) {
    const idx = line.indexOf(':');
    if (idx < 0) continue;
    const name = line.slice(0, idx).trim();
    if (name === 'lo') continue;
    const f = line.slice(idx + 1).trim().split(/\s+/).map(Number);
    // receive: bytes packets errs drop fifo frame compressed multicast | transmit: bytes packets errs ...
    interfaces.push({ name, rxBytes: f[0] ?? 0, rxErrors: f[2] ?? 0, txBytes: f[8] ?? 0, txErrors: f[10] ?? 0 });
  }
  return { interfaces };
}

/** procfs makes the text up on read: a synchronous read spares the promise API's thread-pool round trips (as cgroup-v1.ts) */
export async function readNetDev(procRoot: string, pid: number): Promise<NetworkStats | undefined> {
  try {
    return parseNetDev(readFileSync(`${procRoot}/${pid}/net/dev`, 'utf8'));
  } catch {
    return undefined;
  }
}
