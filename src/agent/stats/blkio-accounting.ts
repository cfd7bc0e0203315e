/**
 * cgroup v1 blkio counts nothing on kernels whose block throttling starts lazily (6.x here):
 * until some cgroup has a throttle rule for a disk, its bios skip blk-throttle and with it the
 * only v1 counters left (blkio.throttle.io_service_bytes/io_serviced; CFQ's are gone). Writing
 * the rule `MAJ:MIN 0` (0 = no limit) switches the accounting on for that disk without limiting
 * anything (measured: a runc container's 64 MiB O_DIRECT write went from Total 0 to exactly
 * 67108864). Done for the disk holding the pod's files when a sandbox is created.
 */
import { existsSync, readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { isUnifiedCgroup } from '../host/cgroup.ts';

/**
 * The whole disk of a filesystem's device (throttle rules are per disk, not per partition).
 * Synchronous underneath, as the rule's write: a stat (and once per device a few sysfs reads) on a
 * pod's start path, where thread-pool round trips each waited for the CPU again (host/cgroup-v1.ts).
 */
export async function diskOf(path: string, sysRoot = '/sys'): Promise<string | undefined> {
  return diskOfSync(path, sysRoot);
}

function diskOfSync(path: string, sysRoot = '/sys'): string | undefined {
  let st;
  try {
    st = statSync(path, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
  if (!st) return undefined;
  const major = Math.floor(st.dev / 256) & 0xfff;
  const minor = (st.dev & 0xff) | ((Math.floor(st.dev / 4096) & 0xfff00) >>> 0);
  // anonymous devices (tmpfs, overlay, proc): major 0, no disk behind them
  if (major === 0) return undefined;
  const dev = `${major}:${minor}`;
  const key = `${sysRoot}\0${dev}`;
  if (diskCache.has(key)) return diskCache.get(key);
  const disk = diskOfDev(dev, sysRoot);
  diskCache.set(key, disk);
  return disk;
}

/** device → its disk, as found once: a partition does not move to another disk while the node runs (each sandbox create asked) */
const diskCache = new Map<string, string | undefined>();

function diskOfDev(dev: string, sysRoot: string): string | undefined {
  const sys = join(sysRoot, 'dev', 'block', dev);
  if (!existsSync(sys)) return undefined;
  // /sys/dev/block/M:m links to .../<disk>/<partition>: the disk's dev is one directory up
  if (existsSync(join(sys, 'partition'))) {
    try {
      return readFileSync(join(dirname(realpathSync(sys)), 'dev'), 'utf8').trim() || undefined;
    } catch {
      return undefined;
    }
  }
  return dev;
}

/** Switches blkio accounting on for the disks under `paths`, with an unlimited rule in cgroup `cgroupPath`. */
export async function activateBlkioAccounting(o: { cgroupRoot: string; cgroupPath: string; paths: string[]; sysRoot?: string }): Promise<string[]> {
  // cgroup v2's io.stat counts every bio without a rule
  if (isUnifiedCgroup(o.cgroupRoot)) return [];
  const disks = new Set<string>();
  for (const p of o.paths) {
    const d = diskOfSync(p, o.sysRoot);
    if (d) disks.add(d);
  }
  const file = join(o.cgroupRoot, 'blkio', o.cgroupPath, 'blkio.throttle.read_bps_device');
  const done: string[] = [];
  for (const d of disks) {
    // best effort: without it blkio figures are 0, which is what they were
    try {
      writeFileSync(file, `${d} 0\n`);
      done.push(d);
    } catch {
      // the cgroup has no blkio hierarchy here
    }
  }
  return done;
}
