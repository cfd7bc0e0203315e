/**
 * The microVM handler's state, all in files under `stateDir` so a restarted agent re-adopts
 * running VMs (layout in microvm-handler.ts). Reads of a missing or torn file are "absent".
 */
import { createHash } from 'node:crypto';
import { closeSync, constants, openSync, readFileSync, writeSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { notFound } from '../../../lib/errors.ts';
import { writeFileAtomic } from '../../host/atomic-fs.ts';
import type { ContainerConfig, ContainerId, SandboxConfig } from '../types.ts';
import type { ClaimShare } from './guest-volumes.ts';
import type { GuestNetwork } from './pod-network.ts';
import type { Accelerator } from './vm.ts';

export interface VmState {
  config: SandboxConfig;
  pid: number;
  qmpSocket: string;
  agentSocket: string;
  accelerator: Accelerator;
  memoryMiB: number;
  cpus: number;
  guestKernel?: string;
  /** the pod's primary interface (eth0) handed to the guest (tap + tc redirect or bridge in the pod netns) */
  network?: GuestNetwork;
  /** its other interfaces (net1, …: NetworkAttachmentDefinitions), one guest NIC each */
  extraNetworks?: GuestNetwork[];
  /** the pod cgroup qemu runs in ('' = none) */
  cgroupParent?: string;
  /** the sandbox's writable disk file (absent on VMs started before there was one: tmpfs upper) */
  disk?: string;
  /** the host's pod volume directory the guest sees as the 9p share `hedgevol` */
  volumeShare?: string;
  /** the pod's PVC volumes shared at VM start (9p, tag `pvc<i>`); absent: none, or started before there were any */
  claims?: ClaimShare[];
  nextScsiId: number;
  createdAt: string;
}

export interface ContainerMeta {
  config: ContainerConfig;
  createdAt: string;
  scsiId: number;
  guestRoot: string;
  procId?: number;
  pid?: number;
  startedAt?: string;
}

export interface ExitRecord {
  exitCode: number;
  signal?: number;
  finishedAt: string;
  reason?: string;
  /** the end of the container's termination message file, as the guest read it at the exit */
  message?: string;
}

/** bytes of each guest output stream that are in the container's CRI log */
export interface LogOffsets {
  stdout: number;
  stderr: number;
}

/** log-offsets is one fixed-size record rewritten in place: no truncation, so a reader never sees it empty */
const OFFSETS_RECORD = 64;

export class MicroVmStateFiles {
  constructor(readonly stateDir: string) {}

  vmDir(sid: string): string {
    return join(this.stateDir, 'sandboxes', sid);
  }
  containerDir(cid: string): string {
    return join(this.stateDir, 'containers', cid);
  }
  /** short paths: sun_path is 108 bytes */
  sockets(sid: string): { dir: string; qmp: string; agent: string } {
    const h = createHash('sha256').update(sid).digest('hex').slice(0, 12);
    const dir = join(this.stateDir, 's');
    return { dir, qmp: join(dir, `${h}.qmp`), agent: join(dir, `${h}.agent`) };
  }

  async sandboxIds(): Promise<string[]> {
    return readdir(join(this.stateDir, 'sandboxes')).catch(() => [] as string[]);
  }
  readVm(sid: string): Promise<VmState | undefined> {
    return readJson<VmState>(join(this.vmDir(sid), 'vm.json'));
  }
  async vm(sid: string): Promise<VmState> {
    const v = await this.readVm(sid);
    if (!v) throw notFound('sandbox', sid);
    return v;
  }
  async writeVm(v: VmState): Promise<void> {
    await writeFileAtomic(join(this.vmDir(v.config.id), 'vm.json'), JSON.stringify(v));
  }

  readMeta(cid: string): Promise<ContainerMeta | undefined> {
    return readJson<ContainerMeta>(join(this.containerDir(cid), 'meta.json'));
  }
  async meta(cid: string): Promise<ContainerMeta> {
    const m = await this.readMeta(cid);
    if (!m) throw notFound('container', cid);
    return m;
  }
  async writeMeta(m: ContainerMeta): Promise<void> {
    await writeFileAtomic(join(this.containerDir(m.config.id), 'meta.json'), JSON.stringify(m));
  }
  async metas(): Promise<ContainerMeta[]> {
    const ids = await readdir(join(this.stateDir, 'containers')).catch(() => [] as string[]);
    const out: ContainerMeta[] = [];
    for (const id of ids) {
      const m = await this.readMeta(id);
      if (m) out.push(m);
    }
    return out;
  }

  /** how far the container's log got (absent: nothing written yet, or a container of an older agent) */
  readLogOffsets(cid: ContainerId): LogOffsets | undefined {
    try {
      const [stdout, stderr] = readFileSync(join(this.containerDir(cid), 'log-offsets'), 'utf8').trim().split(' ').map(Number);
      return Number.isSafeInteger(stdout) && Number.isSafeInteger(stderr) ? { stdout: stdout!, stderr: stderr! } : undefined;
    } catch {
      return undefined;
    }
  }
  /**
   * Synchronous, right after the log append it describes: the log and its offsets differ only if
   * the process dies between the two (then the guest resends that batch once more).
   */
  writeLogOffsets(cid: ContainerId, o: LogOffsets): void {
    const fd = openSync(join(this.containerDir(cid), 'log-offsets'), constants.O_WRONLY | constants.O_CREAT, 0o644);
    try {
      writeSync(fd, `${o.stdout} ${o.stderr}`.padEnd(OFFSETS_RECORD - 1) + '\n', 0);
    } finally {
      closeSync(fd);
    }
  }

  readExit(cid: ContainerId): Promise<ExitRecord | undefined> {
    return readJson<ExitRecord>(join(this.containerDir(cid), 'exit.json'));
  }
  async writeExit(cid: ContainerId, rec: ExitRecord): Promise<void> {
    await writeFileAtomic(join(this.containerDir(cid), 'exit.json'), JSON.stringify(rec));
  }
}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}
