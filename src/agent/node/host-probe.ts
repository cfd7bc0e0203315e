import { readdir, readFile, statfs } from 'node:fs/promises';
import { arch, cpus, hostname, release } from 'node:os';

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

/** /proc, /etc and statfs of the real host */
export function systemHostProbe(opts: { procRoot?: string; etcRoot?: string } = {}): HostProbe {
  const proc = opts.procRoot ?? '/proc';
  const etc = opts.etcRoot ?? '/etc';
  const read = (p: string): Promise<string> => readFile(p, 'utf8').catch(() => '');
  return {
    cpus: () => cpus().length,
    async identity() {
      return {
        hostname: hostname().toLowerCase(),
        machineID: (await read(`${etc}/machine-id`)).trim(),
        bootID: (await read(`${proc}/sys/kernel/random/boot_id`)).trim(),
        kernelVersion: release(),
        osImage: parseOsRelease(await read(`${etc}/os-release`)),
        architecture: goArch(arch()),
      };
    },
    async usage(dataDir) {
      const memory = parseMeminfo(await read(`${proc}/meminfo`));
      const fs = await statfs(dataDir);
      const max = Number((await read(`${proc}/sys/kernel/pid_max`)).trim()) || 32768;
      const used = (await readdir(proc).catch(() => [] as string[])).filter((n) => /^\d+$/.test(n)).length;
      return {
        memory,
        disk: { totalBytes: fs.blocks * fs.bsize, availableBytes: fs.bavail * fs.bsize },
        pids: { used, max },
      };
    },
  };
}
