import { readFileSync, statfsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { arch, cpus, hostname, release } from 'node:os';
import { readRlimit } from '../stats/rlimit.ts';

export interface HostIdentity {
  hostname: string;
  machineID: string;
  bootID: string;
  kernelVersion: string;
  osImage: string;
  architecture: string;
}

export interface HostUsage {
  memory: { totalBytes: number; availableBytes: number };
  disk: { totalBytes: number; availableBytes: number };
  pids: { used: number; max: number };
}

/** What the node agent reads from the host; injected so registration and conditions are testable. */
export interface HostProbe {
  cpus(): number;
  identity(): Promise<HostIdentity>;
  usage(dataDir: string): Promise<HostUsage>;
}

const goArch = (a: string): string => ({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x' })[a] ?? a;

export function parseMeminfo(text: string): { totalBytes: number; availableBytes: number } {
  const kb = (key: string): number => {
    const m = new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(text);
    return m ? Number(m[1]) * 1024 : 0;
  };
  return { totalBytes: kb('MemTotal'), availableBytes: kb('MemAvailable') };
}

export function parseOsRelease(text: string): string {
  const m = /^PRETTY_NAME=(.*)$/m.exec(text);
  if (!m) return 'Linux';
  return m[1].replace(/^"(.*)"$/, '$1');
}

export { parseLoadavgTasks } from '../stats/rlimit.ts';

/**
 * /proc, /etc and statfs of the real host. Read every node status pass (10 s), so kept to what
 * changes: the identity (machine and boot id, kernel, OS image) is read once per process, as the
 * kubelet reads its machine info at start; the tasks in use come from /proc/loadavg (the kubelet
 * counts sysinfo's procs, the same figure: threads use pids too), not a listing of /proc, whose
 * hundreds of entries with 100 pods made the listing most of the status pass.
 */
export function systemHostProbe(opts: { procRoot?: string; etcRoot?: string } = {}): HostProbe {
  const proc = opts.procRoot ?? '/proc';
  const etc = opts.etcRoot ?? '/etc';
  const read = (p: string): Promise<string> => readFile(p, 'utf8').catch(() => '');
  const readSync = (p: string): string => {
    try {
      return readFileSync(p, 'utf8');
    } catch {
      return '';
    }
  };
  let fixed: Promise<Omit<HostIdentity, 'hostname'>> | undefined;
  const readFixed = async (): Promise<Omit<HostIdentity, 'hostname'>> => ({
    machineID: (await read(`${etc}/machine-id`)).trim(),
    bootID: (await read(`${proc}/sys/kernel/random/boot_id`)).trim(),
    kernelVersion: release(),
    osImage: parseOsRelease(await read(`${etc}/os-release`)),
    architecture: goArch(arch()),
  });
  const ncpu = cpus().length;
  return {
    cpus: () => ncpu,
    async identity() {
      fixed ??= readFixed();
      return { hostname: hostname().toLowerCase(), ...(await fixed) };
    },
    async usage(dataDir) {
      // Synchronous: /proc files are made up by the kernel on read and statfs asks the mounted
      // filesystem's superblock, each a few microseconds, where the promise API sent every open,
      // read and close to the thread pool and woke the event loop for each answer (~70 thread-pool
      // syscalls and their wake-ups per pass, every 10 s).
      const fs = statfsSync(dataDir);
      const meminfo = readSync(`${proc}/meminfo`);
      // the summary's rlimit figures (maxpid = min(pid_max, threads-max)), what pid.available is read against
      const rl = readRlimit(proc);
      const max = rl.maxpid ?? 32768;
      const used = rl.curproc ?? (await readdir(proc).catch(() => [] as string[])).filter((n) => /^\d+$/.test(n)).length;
      return {
        memory: parseMeminfo(meminfo),
        disk: { totalBytes: fs.blocks * fs.bsize, availableBytes: fs.bavail * fs.bsize },
        pids: { used, max },
      };
    },
  };
}
