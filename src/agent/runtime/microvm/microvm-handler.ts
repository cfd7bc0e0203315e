/**
 * RuntimeHandler `microvm`: one qemu microVM per pod sandbox, containers run inside it under our
 * guest agent (src/guest). All state is files under `stateDir`, so a restarted agent re-adopts
 * running VMs:
 *
 *   accel.json                    detected accelerator (per host kernel)
 *   sandboxes/<sid>/vm.json       SandboxConfig + VM facts (pid, sockets, accelerator, sizes)
 *   sandboxes/<sid>/qemu.pid, console.log
 *   sandboxes/<sid>/disk.ext4     the sandbox's writable disk (sparse): container layers, emptyDirs
 *   s/<hash>.qmp, s/<hash>.agent  unix sockets (short: sun_path is 108 bytes)
 *   containers/<cid>/meta.json    ContainerConfig + guest process id, SCSI slot, guest root
 *   containers/<cid>/exit.json    exit code + time, written when the guest reports the exit
 *   containers/<cid>/log-offsets  bytes of each output stream in the CRI log (where the guest resumes)
 *   images/<key>.ext4             read-only rootfs images shared by all VMs
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { HedgeError } from '../../../lib/errors.ts';
import type { Logger } from '../../../lib/log.ts';
import { linkedSignal, timeoutSignal } from '../../../lib/signals.ts';
import type { AttachRequest, ContainerConfig, ContainerId, ContainerState, ContainerStats, ContainerStatus, ExecRequest, RuntimeHandler, SandboxConfig, SandboxId, SandboxInfo, SandboxStats, TerminalSize } from '../types.ts';
import { refuseHostNamespaces } from '../isolation.ts';
import { probeAccelerator } from './accelerator.ts';
import type { GuestAgentClient, GuestCgroupSpec, GuestMountSpec, GuestProcessSpec } from './agent-client.ts';
import { CPU_PERIOD_US, milliCpuToQuota } from '../oci/spec.ts';
import { GuestRouter } from './guest-routes.ts';
import { AttachSessions } from './attach.ts';
import { execInGuest, requireTerminal } from './exec.ts';
import { parseGuestStats, type GuestStats } from './guest-stats.ts';
import { claimShares, planGuestVolumes, podVolumesDirOf } from './guest-volumes.ts';
import { createPodCgroup, podCgroupProcs, removePodCgroup } from '../../host/cgroup.ts';
import { killAndWait, pidExists, processGone, waitProcessGone } from '../../host/process.ts';
import { plugPodNics, unplugPodNics, type GuestNetwork } from './pod-network.ts';
import { QmpClient } from './qmp.ts';
import { ensureRootfsImage } from './rootfs-image.ts';
import { MicroVmStateFiles, type ContainerMeta, type ExitRecord, type VmState } from './state-files.ts';
import { createSandboxDisk, SANDBOX_DISK_GUEST_DEVICE, sandboxDiskBytes } from './sandbox-disk.ts';
import { VmCpuRates } from './vm-stats.ts';
import { launchVm, qemuArgs, virtioSlots, virtioSlotsUsed, type Accelerator, type GuestArtifacts, type GuestKernel, type VmLaunchOptions, type VmTuning } from './vm.ts';

export interface MicroVmRuntimeHandlerOptions {
  /** RuntimeClass handler name, default `microvm` */
  name?: string;
  stateDir: string;
  guest: GuestArtifacts;
  logger: Logger;
  qemuBinary?: string;
  /** 'auto' probes KVM by booting a VM and waiting for the agent's hello; else TCG */
  accelerator?: Accelerator | 'auto';
  /** guest kernel + agent + page cache headroom added to `defaultMemoryMiB` when the pod sets no memory limit */
  memoryOverheadMiB?: number;
  /** VM memory when the pod sets no limit */
  defaultMemoryMiB?: number;
  /**
   * Host memory qemu needs beyond guest RAM (binary, TCG translation cache, device state). With a
   * pod memory limit L (containers + RuntimeClass overhead), qemu runs in the pod cgroup capped at L,
   * so the guest gets L − this: guest RAM plus qemu itself stay inside the pod's limit.
   */
  vmmOverheadMiB?: number;
  /** cgroup root, v1 or v2 (default /sys/fs/cgroup): qemu runs in the pod's cgroup below it (v2: its pod-procs leaf) */
  cgroupRoot?: string;
  /** host directories every VM gets over 9p (tag → path); for the block-vs-9p benchmark only */
  shares?: { tag: string; path: string }[];
  /**
   * Give each sandbox a writable disk (default): container layers and disk emptyDirs live there.
   * false: the writable layer is a guest tmpfs (counted against VM memory) and emptyDirs on disk are refused.
   */
  sandboxDisk?: boolean;
  /** size of each sandbox's writable disk when the pod sets no ephemeral-storage limit (default 1 GiB; sparse) */
  sandboxDiskBytes?: number;
  /** share the pod's volume directory with the guest (default); false: configMap/secret/… volumes are refused */
  volumeShare?: boolean;
  /** boot-to-hello limit; TCG boots in ~3 s on an idle 2-core machine */
  bootTimeoutMs?: number;
  seccomp?: boolean;
  /** qemu memory knobs (vm.ts); the defaults are the measured best, other values are for bench/microvm-boot.ts */
  tuning?: VmTuning;
}

/** a sandbox's VM as the handler sees it (`vmInfo`) */
export interface MicroVmInfo {
  pid: number;
  accelerator: Accelerator;
  memoryMiB: number;
  cpus: number;
  guestKernel?: string;
  /** the pod IP the guest's eth0 holds */
  podIP?: string;
  cgroupParent?: string;
  qmpSocket: string;
  agentSocket: string;
}

/** qemu's own anonymous memory (heap + TCG translation cache, tb-size=16): 35.4 MiB idle (bench/microvm-boot.ts), plus a margin */
const DEFAULT_VMM_OVERHEAD_MIB = 48;
/**
 * Smallest guest RAM per kernel: Debian's generic image alone takes ~58 MiB of guest RAM and below
 * 128 MiB its initramfs does not unpack; the tailored kernel (~15 MiB, no modules) boots in 64.
 */
const MIN_GUEST_MIB: Record<GuestKernel, number> = { debian: 128, tailored: 64 };
const KILL_WAIT_MS = 10_000;
const SIGTERM = 15;
const SIGKILL = 9;

export class MicroVmRuntimeHandler implements RuntimeHandler {
  readonly name: string;
  /** PVC volumes are 9p shares made at VM start: podsync resolves them before createSandbox */
  readonly persistentVolumesAtCreate = true;
  readonly #o: MicroVmRuntimeHandlerOptions;
  readonly #log: Logger;
  readonly #files: MicroVmStateFiles;
  readonly #guests: GuestRouter;
  readonly #cpuRates = new VmCpuRates();
  readonly #attach = new AttachSessions();
  readonly #statsInFlight = new Map<SandboxId, Promise<GuestStats>>();
  /** sandboxes whose guest reported no container cgroups (logged once) */
  readonly #vmWideStats = new Set<SandboxId>();
  #accel: Accelerator | undefined;
  #accelProbe: Promise<Accelerator> | undefined;
  #guest: GuestArtifacts;

  constructor(opts: MicroVmRuntimeHandlerOptions) {
    this.name = opts.name ?? 'microvm';
    this.#o = opts;
    this.#guest = opts.guest;
    this.#log = opts.logger.child({ component: 'microvm-runtime', handler: this.name });
    this.#files = new MicroVmStateFiles(opts.stateDir);
    this.#guests = new GuestRouter(this.#files, this.#log);
    if (opts.accelerator && opts.accelerator !== 'auto') this.#accel = opts.accelerator;
  }

  /** the accelerator VMs run with; undefined until detected (first sandbox or detectAccelerator) */
  get accelerator(): Accelerator | undefined {
    return this.#accel;
  }

  /** the guest kernel + initramfs new sandboxes boot */
  get guest(): GuestArtifacts {
    return this.#guest;
  }

  /**
   * Boots new sandboxes with `guest` from now on (a tailored kernel finished building in the
   * background); running VMs keep the kernel they booted.
   */
  useGuest(guest: GuestArtifacts): void {
    this.#guest = guest;
  }

  /** drops guest connections (VMs keep running), as an agent exit would */
  async close(): Promise<void> {
    await this.#guests.close();
  }

  // ---- accelerator ---------------------------------------------------------------------------

  /** KVM only if a real guest boots with it: a PVM /dev/kvm opens fine but cannot run a stock kernel. */
  async detectAccelerator(signal: AbortSignal): Promise<Accelerator> {
    if (this.#accel) return this.#accel;
    this.#accelProbe ??= probeAccelerator({ stateDir: this.#o.stateDir, launch: this.#launchBase(), logger: this.#log, signal }).finally(() => (this.#accelProbe = undefined));
    const a = await this.#accelProbe;
    this.#accel = a;
    return a;
  }

  #launchBase(): { qemuBinary: string; guest: GuestArtifacts; seccomp: boolean; tuning?: VmTuning } {
    return { qemuBinary: this.#o.qemuBinary ?? 'qemu-system-x86_64', guest: this.#guest, seccomp: this.#o.seccomp ?? true, ...(this.#o.tuning ? { tuning: this.#o.tuning } : {}) };
  }

  async #qmp<T>(v: VmState, signal: AbortSignal, fn: (q: QmpClient) => Promise<T>): Promise<T> {
    const q = await QmpClient.connect(v.qmpSocket, signal);
    try {
      return await fn(q);
    } finally {
      q.close();
    }
  }

  // ---- sandboxes -----------------------------------------------------------------------------

  #sizeVm(cfg: SandboxConfig): { memoryMiB: number; cpus: number } {
    const memoryMiB = cfg.resources.memoryBytes
      ? Math.floor(cfg.resources.memoryBytes / (1024 * 1024)) - (this.#o.vmmOverheadMiB ?? DEFAULT_VMM_OVERHEAD_MIB)
      : (this.#o.defaultMemoryMiB ?? 256) + (this.#o.memoryOverheadMiB ?? 64);
    const cpus = Math.max(1, Math.ceil((cfg.resources.cpuMilli ?? 1000) / 1000));
    return { memoryMiB: Math.max(this.#minGuestMiB(), memoryMiB), cpus: Math.min(cpus, 8) };
  }

  #minGuestMiB(): number {
    return MIN_GUEST_MIB[this.#guest.kernel ?? 'debian'];
  }

  /** a just-killed qemu can keep the cgroup busy for a moment (EBUSY) until the kernel has released it */
  async #removeCgroup(cgroupParent: string, sid: string): Promise<void> {
    for (let i = 0; ; i++) {
      try {
        await removePodCgroup({ cgroupRoot: this.#cgroupRoot(), cgroupParent });
        return;
      } catch (err) {
        if (i >= 50) {
          this.#log.warn({ err, sandbox: sid }, 'removing the pod cgroup failed');
          return;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  #cgroupRoot(): string {
    return this.#o.cgroupRoot ?? '/sys/fs/cgroup';
  }

  async createSandbox(cfg: SandboxConfig, signal: AbortSignal): Promise<SandboxInfo> {
    refuseHostNamespaces(cfg, this.name);
    const existing = await this.#files.readVm(cfg.id);
    if (existing && pidExists(existing.pid)) return this.#info(existing);
    const accelerator = await this.detectAccelerator(signal);
    const dir = this.#files.vmDir(cfg.id);
    const socks = this.#files.sockets(cfg.id);
    await mkdir(dir, { recursive: true });
    await mkdir(join(this.#o.stateDir, 's'), { recursive: true });
    await mkdir(cfg.stateDir, { recursive: true });
    await rm(socks.qmp, { force: true });
    await rm(socks.agent, { force: true });
    const size = this.#sizeVm(cfg);
    const vmm = this.#o.vmmOverheadMiB ?? DEFAULT_VMM_OVERHEAD_MIB;
    if (cfg.cgroupParent && cfg.resources.memoryBytes && cfg.resources.memoryBytes < (size.memoryMiB + vmm) * 1024 * 1024) {
      // qemu would be OOM-killed in the pod cgroup before the guest finished booting
      throw new HedgeError(
        'Invalid',
        `pod memory limit ${Math.floor(cfg.resources.memoryBytes / 1048576)} MiB (incl. RuntimeClass overhead) is below the ${this.#minGuestMiB() + vmm} MiB a microVM needs (${this.#minGuestMiB()} MiB guest + ${vmm} MiB qemu)`,
      );
    }
    let pid: number | undefined;
    let nics: GuestNetwork[] = [];
    let plugging = false;
    const disk = this.#o.sandboxDisk === false ? undefined : join(dir, 'disk.ext4');
    const volumeShare = this.#o.volumeShare === false ? undefined : podVolumesDirOf(cfg.stateDir);
    try {
      const claims = claimShares(cfg.persistentVolumes ?? []);
      for (const c of claims) {
        const st = await stat(c.hostPath).catch(() => undefined);
        if (!st?.isDirectory()) throw new HedgeError('Invalid', `persistentVolumeClaim volume "${c.name}": ${c.hostPath} is not a directory (a microvm pod shares the claim's directory)`);
      }
      // qemu opens both at start: microvm cannot hot-plug a virtio-blk or 9p device later
      if (disk) await createSandboxDisk({ path: disk, sizeBytes: sandboxDiskBytes(cfg, this.#o.sandboxDiskBytes), signal });
      if (volumeShare) await mkdir(volumeShare, { recursive: true });
      if (cfg.cgroupParent) await createPodCgroup({ cgroupRoot: this.#cgroupRoot(), cgroupParent: cfg.cgroupParent, resources: cfg.resources });
      const launch: VmLaunchOptions = {
        ...this.#launchBase(),
        name: `hedge-${cfg.id.slice(0, 32)}`,
        dir,
        qmpSocket: socks.qmp,
        agentSocket: socks.agent,
        accelerator,
        ...size,
      };
      if (disk) launch.disk = disk;
      if (volumeShare) launch.volumeShare = volumeShare;
      if (claims.length) launch.claims = claims;
      if (this.#o.shares?.length) launch.shares = this.#o.shares;
      if (cfg.netnsPath) {
        launch.netnsPath = cfg.netnsPath;
        // every pod interface becomes a NIC, in the virtio-mmio transports the other devices leave
        plugging = true;
        nics = await plugPodNics(cfg.netnsPath, virtioSlots(launch.guest) - virtioSlotsUsed(qemuArgs(launch)), signal);
        if (nics.length) launch.nics = nics;
      }
      if (cfg.cgroupParent) launch.cgroupProcs = await podCgroupProcs({ cgroupRoot: this.#cgroupRoot(), cgroupParent: cfg.cgroupParent });
      pid = await launchVm(launch, signal);
      const v: VmState = {
        config: cfg,
        pid,
        qmpSocket: socks.qmp,
        agentSocket: socks.agent,
        accelerator,
        ...size,
        cgroupParent: cfg.cgroupParent,
        // SCSI id 0 stays free: ids count the hot-plugged rootfs disks from 1
        nextScsiId: 1,
        createdAt: new Date().toISOString(),
      };
      if (nics[0]) v.network = nics[0];
      if (nics.length > 1) v.extraNetworks = nics.slice(1);
      if (disk) v.disk = disk;
      if (volumeShare) v.volumeShare = volumeShare;
      if (claims.length) v.claims = claims;
      await this.#files.writeVm(v);
      // a guest that panics makes qemu exit (-no-reboot): stop waiting for its hello then
      const vmGone = new AbortController();
      const watch = setInterval(() => void processGone(v.pid).then((gone) => gone && vmGone.abort(new Error('qemu exited during boot'))), 200);
      let c: GuestAgentClient;
      const booting = linkedSignal([signal, vmGone.signal]);
      try {
        c = await this.#guests.client(v, booting, this.#o.bootTimeoutMs ?? 60_000);
      } catch (err) {
        throw vmGone.signal.aborted ? new HedgeError('Internal', 'qemu exited during boot (guest panic?)', { cause: err }) : err;
      } finally {
        booting.clear();
        clearInterval(watch);
      }
      if (c.kernel) v.guestKernel = c.kernel.release;
      await this.#files.writeVm(v);
      this.#log.info({ sandbox: cfg.id, pid, accelerator, memoryMiB: size.memoryMiB, guestKernel: v.guestKernel }, 'microVM up');
      return this.#info(v);
    } catch (err) {
      void this.#guests.drop(cfg.id);
      if (pid) await killAndWait(pid, signal).catch(() => undefined);
      const consoleTail = await readFile(join(dir, 'console.log'), 'utf8').then((t) => t.slice(-2000), () => '');
      // a plug that failed half-way left taps or bridges we have no list of: unplug sweeps them
      if (cfg.netnsPath && plugging) await unplugPodNics(cfg.netnsPath, nics.length ? nics : undefined, signal).catch(() => undefined);
      if (cfg.cgroupParent) await this.#removeCgroup(cfg.cgroupParent, cfg.id);
      await rm(dir, { recursive: true, force: true });
      await rm(socks.qmp, { force: true });
      await rm(socks.agent, { force: true });
      throw new HedgeError('Internal', `microVM for sandbox ${cfg.id} did not come up: ${(err as Error).message}${consoleTail ? `\nconsole:\n${consoleTail}` : ''}`, {
        cause: err,
      });
    }
  }

  #info(v: VmState): SandboxInfo {
    const info: SandboxInfo = { id: v.config.id, handler: this.name, pid: v.pid };
    if (v.config.netnsPath) info.netnsPath = v.config.netnsPath;
    return info;
  }

  /** the VM behind a sandbox: for node status, the e2e's hygiene checks and benchmarks */
  async vmInfo(id: SandboxId): Promise<MicroVmInfo | undefined> {
    const v = await this.#files.readVm(id);
    if (!v) return undefined;
    const out: MicroVmInfo = {
      pid: v.pid,
      accelerator: v.accelerator,
      memoryMiB: v.memoryMiB,
      cpus: v.cpus,
      qmpSocket: v.qmpSocket,
      agentSocket: v.agentSocket,
    };
    if (v.guestKernel) out.guestKernel = v.guestKernel;
    if (v.network?.address) out.podIP = v.network.address;
    if (v.cgroupParent) out.cgroupParent = v.cgroupParent;
    return out;
  }

  async removeSandbox(id: SandboxId, signal: AbortSignal): Promise<void> {
    const v = await this.#files.readVm(id);
    const metas = (await this.#files.metas()).filter((m) => m.config.sandboxId === id);
    for (const m of metas) this.#guests.releaseWaiters(m.config.id);
    // no more guest events (an exit record landing in a container dir being removed: ENOTEMPTY)
    await this.#guests.drop(id);
    for (const m of metas) {
      // the VM goes away with everything in it: only the host-side records need removing
      await rm(this.#files.containerDir(m.config.id), { recursive: true, force: true, maxRetries: 3 });
    }
    if (v) {
      if (pidExists(v.pid)) {
        const quitting = timeoutSignal(signal, 5000);
        await this.#qmp(v, quitting, (q) => q.execute('quit', {}, signal))
          .catch(() => undefined)
          .finally(() => quitting.clear());
        if (!(await waitProcessGone(v.pid, 5000, signal))) await killAndWait(v.pid, signal);
      }
      await rm(v.qmpSocket, { force: true });
      await rm(v.agentSocket, { force: true });
      await rm(v.config.stateDir, { recursive: true, force: true });
      // the netns (and with it taps and bridges) is the network plugin's to delete; a kept netns must not keep the redirect
      if (v.network && v.config.netnsPath) await unplugPodNics(v.config.netnsPath, [v.network, ...(v.extraNetworks ?? [])], signal);
      if (v.cgroupParent) await this.#removeCgroup(v.cgroupParent, id);
    }
    await rm(this.#files.vmDir(id), { recursive: true, force: true });
    this.#cpuRates.forget(id);
    this.#vmWideStats.delete(id);
    this.#log.info({ sandbox: id }, 'microVM removed');
  }

  // ---- containers ----------------------------------------------------------------------------

  async createContainer(cfg: ContainerConfig, signal: AbortSignal): Promise<void> {
    if (await this.#files.readMeta(cfg.id)) throw new HedgeError('AlreadyExists', `container ${cfg.id} exists`);
    const v = await this.#files.vm(cfg.sandboxId);
    // refused before anything is plugged in: a hostPath volume must not reach the guest
    const volumes = await planGuestVolumes({ mounts: cfg.mounts, volumesDir: v.volumeShare ?? podVolumesDirOf(v.config.stateDir), containerName: cfg.name, claims: v.claims ?? [] });
    if (!v.volumeShare && volumes.some((x) => x.kind === 'share')) {
      throw new HedgeError('Invalid', `container "${cfg.name}": sandbox ${v.config.id} has no volume share (an older agent started it, or the node disables it), so it cannot take configMap/secret/downwardAPI/projected volumes`);
    }
    if (!v.disk && volumes.some((x) => x.kind === 'disk')) {
      throw new HedgeError('Invalid', `container "${cfg.name}": sandbox ${v.config.id} has no sandbox disk (an older agent started it, or the node disables it), so it cannot take disk emptyDir volumes`);
    }
    const image = await ensureRootfsImage({ imagesDir: join(this.#o.stateDir, 'images'), digest: cfg.image.digest, rootfs: cfg.rootfs, signal });
    const scsiId = v.nextScsiId;
    v.nextScsiId += 1;
    await this.#files.writeVm(v);
    // microvm has no PCI/mmio hotplug; a SCSI bus takes disks at any time
    await this.#qmp(v, signal, async (q) => {
      await q.execute(
        'blockdev-add',
        { driver: 'raw', 'node-name': `rootfs${scsiId}`, 'read-only': true, file: { driver: 'file', filename: image.path, 'read-only': true } },
        signal,
      );
      await q.execute('device_add', { driver: 'scsi-hd', id: `sd${scsiId}`, bus: 'scsi0.0', drive: `rootfs${scsiId}`, channel: 0, 'scsi-id': scsiId, lun: 0 }, signal);
    });
    const c = await this.#guests.client(v, signal);
    const files = [
      { path: '/etc/hosts', content: v.config.hostsFile },
      { path: '/etc/resolv.conf', content: v.config.resolvConf },
      { path: '/etc/hostname', content: `${v.config.hostname}\n` },
    ];
    const spec: GuestMountSpec = { key: guestKey(cfg.id), scsiTarget: `0:${scsiId}:0`, fstype: image.fstype, files, hostname: v.config.hostname, volumes };
    if (v.disk) spec.writableDisk = SANDBOX_DISK_GUEST_DEVICE;
    if (cfg.terminationMessagePath) spec.terminationLog = cfg.terminationMessagePath;
    let guestRoot: string;
    try {
      guestRoot = await c.mount(spec, signal);
    } catch (err) {
      // no record is written for a failed create, so nothing else would unplug the disk
      await this.#detachRootfs(v, c, cfg.id, scsiId, signal);
      throw new HedgeError('Internal', `container ${cfg.name}: ${(err as Error).message}`, { cause: err });
    }
    await mkdir(this.#files.containerDir(cfg.id), { recursive: true });
    await this.#files.writeMeta({ config: cfg, createdAt: new Date().toISOString(), scsiId, guestRoot });
    this.#log.info({ container: cfg.id, sandbox: cfg.sandboxId, image: image.path }, 'container created');
  }

  async start(id: ContainerId, signal: AbortSignal): Promise<void> {
    const m = await this.#files.meta(id);
    if (m.procId !== undefined) throw new HedgeError('Conflict', `container ${id} already started`);
    const v = await this.#files.vm(m.config.sandboxId);
    const c = await this.#guests.client(v, signal);
    const procId = c.newId();
    m.procId = procId;
    // the process id is on disk before the guest knows it, so a restarted agent can route its output
    await this.#files.writeMeta(m);
    this.#guests.routeContainer(v.config.id, procId, id, m.config.logPath);
    try {
      // the container's own stdin (kept open for attach sessions) and terminal
      const p = this.#processSpec(m, m.config.command, !!m.config.stdin);
      if (m.config.tty) {
        requireTerminal(c, `container ${m.config.name}`);
        p.tty = { width: 0, height: 0 };
      }
      if (m.config.stdin && c.agent.stdinWindow === undefined) {
        throw new HedgeError('BadRequest', `container ${m.config.name}: the pod's guest agent is version ${c.agent.version}, which cannot keep a container's stdin open (needs guest agent version 2); recreate the pod to boot the current guest`);
      }
      if (m.config.terminationMessagePath) p.terminationLogOf = guestKey(id);
      m.pid = await c.start(procId, p, signal);
    } catch (err) {
      this.#guests.unroute(v.config.id, procId);
      await this.#files.writeExit(id, { exitCode: 128, finishedAt: new Date().toISOString(), reason: 'StartError' } satisfies ExitRecord);
      throw new HedgeError('Internal', `start container ${id}: ${(err as Error).message}`, { cause: err });
    }
    m.startedAt = new Date().toISOString();
    await this.#files.writeMeta(m);
  }

  #processSpec(m: ContainerMeta, argv: string[], stdin: boolean): GuestProcessSpec {
    const cfg = m.config;
    if (argv.length === 0) throw new HedgeError('Invalid', `container ${cfg.id} has no command`);
    return {
      argv,
      env: cfg.env,
      cwd: cfg.workingDir || '/',
      uid: cfg.user.uid,
      gid: cfg.user.gid,
      groups: cfg.user.additionalGids,
      root: m.guestRoot,
      stdin,
      rlimits: [{ name: 'NOFILE', soft: 1048576, hard: 1048576 }],
      cgroup: guestCgroup(cfg),
    };
  }

  async stop(id: ContainerId, opts: { timeoutSeconds: number; signal: AbortSignal }): Promise<void> {
    const m = await this.#files.meta(id);
    if (m.procId === undefined || (await this.#files.readExit(id))) return;
    const v = await this.#files.vm(m.config.sandboxId);
    if (!pidExists(v.pid)) {
      await this.#recordVmGone(id);
      return;
    }
    const c = await this.#guests.client(v, opts.signal);
    if (opts.timeoutSeconds > 0) {
      c.kill(m.procId, SIGTERM);
      if (await this.#guests.waitExit(id, opts.timeoutSeconds * 1000, opts.signal)) return;
    }
    c.kill(m.procId, SIGKILL);
    if (!(await this.#guests.waitExit(id, KILL_WAIT_MS, opts.signal))) {
      throw new HedgeError('Timeout', `container ${id} did not exit after SIGKILL`);
    }
  }

  async #recordVmGone(id: ContainerId): Promise<void> {
    if (await this.#files.readExit(id)) return;
    await this.#files.writeExit(id, { exitCode: 137, finishedAt: new Date().toISOString(), reason: 'VmExited' } satisfies ExitRecord);
  }

  async remove(id: ContainerId, signal: AbortSignal): Promise<void> {
    const m = await this.#files.readMeta(id);
    if (!m) return;
    const v = await this.#files.readVm(m.config.sandboxId);
    if (v && pidExists(v.pid)) {
      if (m.procId !== undefined && !(await this.#files.readExit(id))) await this.stop(id, { timeoutSeconds: 0, signal });
      await this.#detachRootfs(v, await this.#guests.client(v, signal), id, m.scsiId, signal);
    }
    if (v && m.procId !== undefined) this.#guests.unroute(v.config.id, m.procId);
    await rm(this.#files.containerDir(id), { recursive: true, force: true });
  }

  /** guest umount (which also drops the container's layer from the sandbox disk), then unplug the rootfs disk */
  async #detachRootfs(v: VmState, c: GuestAgentClient, id: ContainerId, scsiId: number, signal: AbortSignal): Promise<void> {
    await c.umount(guestKey(id), signal).catch((err: unknown) => this.#log.warn({ err, container: id }, 'guest umount failed'));
    await this.#qmp(v, signal, async (q) => {
      await q.execute('device_del', { id: `sd${scsiId}` }, signal).catch(() => undefined);
      // the drive node can go once the guest has released the device
      for (let i = 0; i < 50; i++) {
        const ok = await q.execute('blockdev-del', { 'node-name': `rootfs${scsiId}` }, signal).then(
          () => true,
          () => false,
        );
        if (ok) break;
        await new Promise((r) => setTimeout(r, 100));
      }
    }).catch((err: unknown) => this.#log.warn({ err, container: id }, 'detaching rootfs disk failed'));
  }

  async #state(m: ContainerMeta): Promise<ContainerState> {
    const e = await this.#files.readExit(m.config.id);
    if (e) {
      const out: ContainerState = {
        state: 'exited',
        finishedAt: new Date(e.finishedAt),
        exitCode: e.exitCode,
        reason: e.reason ?? (e.exitCode === 0 ? 'Completed' : 'Error'),
      };
      if (m.startedAt) out.startedAt = new Date(m.startedAt);
      if (e.message) out.message = e.message;
      return out;
    }
    if (m.procId === undefined) return { state: 'created', createdAt: new Date(m.createdAt) };
    const v = await this.#files.readVm(m.config.sandboxId);
    if (!v || !pidExists(v.pid)) {
      await this.#recordVmGone(m.config.id);
      return this.#state(m);
    }
    return { state: 'running', startedAt: new Date(m.startedAt ?? m.createdAt), pid: m.pid ?? 0 };
  }

  async #statusOf(m: ContainerMeta): Promise<ContainerStatus> {
    return {
      id: m.config.id,
      sandboxId: m.config.sandboxId,
      name: m.config.name,
      labels: m.config.labels,
      annotations: m.config.annotations,
      status: await this.#state(m),
    };
  }

  async status(id: ContainerId, _signal: AbortSignal): Promise<ContainerStatus> {
    return this.#statusOf(await this.#files.meta(id));
  }

  /** Also reattaches to every live VM, so exits that happened while the agent was down get recorded. */
  async list(signal: AbortSignal): Promise<ContainerStatus[]> {
    const sids = await this.#files.sandboxIds();
    for (const sid of sids) {
      const v = await this.#files.readVm(sid);
      if (v && pidExists(v.pid)) await this.#guests.client(v, signal).catch((err: unknown) => this.#log.warn({ err, sandbox: sid }, 'reattach failed'));
    }
    const out: ContainerStatus[] = [];
    for (const m of await this.#files.metas()) out.push(await this.#statusOf(m));
    return out;
  }

  /**
   * Log rotation: the host-side CriLogWriter appends by path on every record, so once rotation
   * renamed the file the next record starts a fresh one; only the container must exist.
   */
  async reopenContainerLog(id: ContainerId, _signal: AbortSignal): Promise<void> {
    await this.#files.meta(id);
  }

  // ---- stats ---------------------------------------------------------------------------------

  async sandboxStats(id: SandboxId, signal: AbortSignal): Promise<SandboxStats> {
    return this.#cpuRates.sandboxStats(id, await this.#guestStats(id, signal));
  }

  /**
   * The container's own cgroup in the guest. A guest without per-container cgroups (an image
   * built before them, or a kernel without cgroup v2) has none: the container then reports its
   * VM's figures, as it always did, and the node logs that once per sandbox.
   */
  async stats(id: ContainerId, signal: AbortSignal): Promise<ContainerStats> {
    const m = await this.#files.meta(id);
    const sid = m.config.sandboxId;
    const g = await this.#guestStats(sid, signal);
    const c = g.containers.get(guestKey(id));
    if (c) {
      const out: ContainerStats = { timestamp: new Date(), cpu: c.cpu, memory: c.memory, blkio: c.blkio };
      if (c.processes !== undefined) out.processes = c.processes;
      return out;
    }
    if (!this.#vmWideStats.has(sid)) {
      this.#vmWideStats.add(sid);
      this.#log.warn({ sandbox: sid, container: id }, 'the guest has no per-container cgroups (older guest image or kernel without cgroup v2): containers report the whole VM');
    }
    const s = this.#cpuRates.sandboxStats(sid, g);
    const out: ContainerStats = { timestamp: s.timestamp, cpu: s.cpu, memory: s.memory };
    if (s.blkio) out.blkio = s.blkio;
    return out;
  }

  /** one guest request serves every concurrent reader of the same VM (a scrape asks for each container) */
  #guestStats(sid: SandboxId, signal: AbortSignal): Promise<GuestStats> {
    let p = this.#statsInFlight.get(sid);
    if (!p) {
      p = (async () => {
        const c = await this.#guests.client(await this.#files.vm(sid), signal);
        return parseGuestStats(await c.stats(signal));
      })().finally(() => this.#statsInFlight.delete(sid));
      this.#statsInFlight.set(sid, p);
    }
    return p;
  }

  // ---- exec ----------------------------------------------------------------------------------

  async exec(id: ContainerId, req: ExecRequest): Promise<number> {
    const m = await this.#files.meta(id);
    const st = await this.#state(m);
    if (st.state !== 'running') throw new HedgeError('Conflict', `container ${id} is not running`);
    const v = await this.#files.vm(m.config.sandboxId);
    const c = await this.#guests.client(v, req.signal);
    return execInGuest({ client: c, routes: this.#guests.routesOf(v.config.id), spec: this.#processSpec(m, req.command, !!req.stdin), req, what: id });
  }

  // ---- attach ----------------------------------------------------------------------------------

  /** the container's own process (ContainerConfig.stdin, .tty): its output from now on, stdin into it (attach.ts) */
  async attach(id: ContainerId, req: AttachRequest): Promise<void> {
    const m = await this.#files.meta(id);
    if ((await this.#state(m)).state !== 'running' || m.procId === undefined) throw new HedgeError('Conflict', `container ${m.config.name} is not running`);
    const v = await this.#files.vm(m.config.sandboxId);
    const c = await this.#guests.client(v, req.signal);
    await this.#attach.attach({ client: c, router: this.#guests, sandboxId: v.config.id, procId: m.procId, config: m.config, req });
  }

  /** the terminal of a `tty` container (a guest pty: TIOCSWINSZ, the process gets SIGWINCH); a container without one has nothing to resize */
  async resizeTerminal(id: ContainerId, size: TerminalSize, signal: AbortSignal): Promise<void> {
    const m = await this.#files.meta(id);
    if (!m.config.tty || m.procId === undefined) return;
    const c = await this.#guests.client(await this.#files.vm(m.config.sandboxId), signal);
    if (c.agent.tty) c.resize(m.procId, size);
  }
}

/** the container's cgroup in the guest (named by its mount key) with the limits runc would set on the host */
function guestCgroup(cfg: ContainerConfig): GuestCgroupSpec {
  const r = cfg.resources;
  const g: GuestCgroupSpec = { name: guestKey(cfg.id) };
  if (r.memoryLimitBytes !== undefined) g.memoryMaxBytes = r.memoryLimitBytes;
  if (r.cpuLimitMilli !== undefined) g.cpuMax = { quotaUs: milliCpuToQuota(r.cpuLimitMilli), periodUs: CPU_PERIOD_US };
  if (r.pidsLimit !== undefined) g.pidsMax = r.pidsLimit;
  return g;
}

/** guest mount key: the container id, shortened to keep guest paths small */
function guestKey(id: string): string {
  return createHash('sha256').update(id).digest('hex').slice(0, 16);
}
