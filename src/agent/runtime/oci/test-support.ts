/** Fixtures for the real runtime tests and the bench: busybox rootfs, throwaway netns, configs. */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, rmdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { isUnifiedCgroup } from '../../host/cgroup.ts';
import type { ContainerConfig, ContainerId, SandboxConfig, SandboxId } from '../types.ts';

const APPLETS = ['sh', 'echo', 'sleep', 'cat', 'true', 'false', 'ls', 'id', 'hostname', 'dd', 'head', 'grep', 'unshare', 'mount', 'mknod', 'insmod', 'seq', 'wc', 'stty'];

export function makeBusyboxRootfs(dir: string): string {
  mkdirSync(join(dir, 'bin'), { recursive: true });
  for (const d of ['proc', 'dev', 'sys', 'etc', 'tmp']) mkdirSync(join(dir, d), { recursive: true });
  copyFileSync('/bin/busybox', join(dir, 'bin', 'busybox'));
  for (const a of APPLETS) symlinkSync('busybox', join(dir, 'bin', a));
  return dir;
}

export function missingTools(tools: string[]): string[] {
  return tools.filter((t) => {
    try {
      execFileSync('sh', ['-c', `command -v ${t}`], { stdio: 'ignore' });
      return false;
    } catch {
      return true;
    }
  });
}

export function canRunContainers(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root';
  if (!existsSync('/bin/busybox')) return 'needs /bin/busybox (busybox-static)';
  const miss = missingTools(['conmon', 'nsenter', 'ip', 'unshare', 'mountpoint']);
  if (miss.length) return `missing ${miss.join(', ')}`;
  return undefined;
}

export function addNetns(name: string): string {
  execFileSync('ip', ['netns', 'add', name]);
  execFileSync('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return `/var/run/netns/${name}`;
}

export function delNetns(name: string): void {
  try {
    execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
  } catch {
    /* already gone */
  }
}

/** the cgroup parent the real runtime tests put their pods under (`hedge-test/<pod>`) */
const TEST_CGROUP_PARENT = 'hedge-test';
const V1_CONTROLLERS = ['memory', 'cpu', 'pids', 'cpuacct', 'blkio', 'freezer', 'devices', 'cpuset', 'systemd', 'unified'];

/**
 * Removes the shared test cgroup parent in every hierarchy once it is empty. Several suites share
 * it, so each tries after its own teardown: whichever finishes last removes it, the others find a
 * child still there and leave it.
 */
export function removeTestCgroupParent(root = '/sys/fs/cgroup'): void {
  for (const dir of isUnifiedCgroup(root) ? [join(root, TEST_CGROUP_PARENT)] : V1_CONTROLLERS.map((c) => join(root, c, TEST_CGROUP_PARENT))) {
    try {
      rmdirSync(dir);
    } catch {
      /* not empty (another suite's pods), or already gone */
    }
  }
}

export function sandboxConfig(o: { id: string; stateDir: string; netnsPath?: string; cgroupParent: string }): SandboxConfig {
  const cfg: SandboxConfig = {
    id: o.id as SandboxId,
    pod: { uid: `uid-${o.id}`, namespace: 'default', name: `pod-${o.id}` },
    hostname: `pod-${o.id}`,
    shareIpc: false,
    cgroupParent: o.cgroupParent,
    resources: { memoryBytes: 256 * 1024 * 1024, cpuMilli: 1000 },
    hostsFile: '127.0.0.1 localhost\n',
    resolvConf: 'nameserver 127.0.0.1\n',
    stateDir: o.stateDir,
    labels: {},
    annotations: {},
  };
  if (o.netnsPath) cfg.netnsPath = o.netnsPath;
  return cfg;
}

export function containerConfig(o: { id: string; sandboxId: string; rootfs: string; command: string[]; logPath: string }): ContainerConfig {
  return {
    id: o.id as ContainerId,
    sandboxId: o.sandboxId as SandboxId,
    name: `c-${o.id}`,
    image: { ref: 'busybox:test', digest: 'sha256:0' },
    rootfs: [{ type: 'bind', source: o.rootfs, options: ['rbind', 'rw'] }],
    command: o.command,
    env: [{ name: 'FOO', value: 'bar' }],
    workingDir: '/',
    user: { uid: 0, gid: 0, additionalGids: [] },
    mounts: [],
    resources: { cpuRequestMilli: 100, cpuLimitMilli: 500, memoryLimitBytes: 64 * 1024 * 1024, pidsLimit: 100 },
    security: { privileged: false, readOnlyRootFilesystem: false, capabilitiesAdd: [], capabilitiesDrop: [], noNewPrivileges: true },
    tty: false,
    logPath: o.logPath,
    labels: {},
    annotations: {},
  };
}
