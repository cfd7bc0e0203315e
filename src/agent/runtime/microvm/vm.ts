/**
 * Launching one qemu microVM per sandbox. qemu `-daemonize` returns once its sockets listen and
 * then lives on its own (reparented to init), so VMs survive an agent restart; the pidfile and
 * the sockets under the VM's directory are all a restarted agent needs to reattach.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HedgeError } from '../../../lib/errors.ts';
import { guestNetKernelArgs, guestNetQemuArgs, type GuestNetwork } from './pod-network.ts';

export type Accelerator = 'kvm' | 'tcg';

/** which guest kernel scripts/build-guest.sh used (src/guest/README.md, "Guest kernel") */
export type GuestKernel = 'debian' | 'tailored';

export interface GuestArtifacts {
  vmlinux: string;
  initrd: string;
  kernelVersion: string;
  /** absent in builds from before the choice existed: those are Debian's */
  kernel?: GuestKernel;
}

export interface VmLaunchOptions {
  qemuBinary: string;
  name: string;
  /** directory for pidfile, console log; sockets go to `socketDir` (unix path length limit) */
  dir: string;
  qmpSocket: string;
  agentSocket: string;
  accelerator: Accelerator;
  memoryMiB: number;
  cpus: number;
  guest: GuestArtifacts;
  /** qemu -sandbox (seccomp): on unless the build lacks it */
  seccomp: boolean;
  /** run qemu inside this netns (nsenter): it opens the pod's tap there */
  netnsPath?: string;
  /** the pod's interfaces (eth0 first), handed to the guest through their taps in `netnsPath` */
  nics?: GuestNetwork[];
  /**
   * cgroup v1 `cgroup.procs` files qemu joins before it execs, so guest RAM is charged to the pod
   * from the first page (v1 does not move charges of a process that migrates later)
   */
  cgroupProcs?: string[];
  /** host directories exported over 9p (virtio-9p-device), mount tag → path; benchmarks only */
  shares?: { tag: string; path: string }[];
  /** the pod's volume directory, exported read-only over 9p as `hedgevol` (configMap, secret, …) */
  volumeShare?: string;
  /** the sandbox's writable disk (sparse ext4 file), the guest's virtio-blk /dev/vda */
  disk?: string;
  /** the pod's PVC directories, one 9p share each (mount tag `pvc<i>`) */
  claims?: { tag: string; hostPath: string; readOnly: boolean }[];
  extraKernelArgs?: string[];
  tuning?: VmTuning;
}

/** qemu memory knobs; each default is the measured best (bench/microvm-boot.ts) */
export interface VmTuning {
  /** TCG translation cache in MiB (default TCG_TB_SIZE_MIB, TCG_TB_SIZE_MIB_TAILORED for the tailored kernel) */
  tcgTbSizeMiB?: number;
  /** virtio-balloon with free page reporting (default true) */
  freePageReporting?: boolean;
  /** smallest free block the guest reports, as a page order (default PAGE_REPORTING_ORDER) */
  pageReportingOrder?: number;
  /** virtio-serial ports (default SERIAL_MAX_PORTS; qemu's own default is 31) */
  serialMaxPorts?: number;
  /**
   * largest virtqueue the tailored kernel sets up (default VIRTQUEUE_SIZE_TAILORED; 0: the 1024
   * entries qemu's virtio-mmio offers). Debian's kernel has no such knob.
   */
  virtqueueSize?: number;
  /** the tailored kernel's initial SCSI bus scan (default off: the agent scans the one address it mounts) */
  scsiInitialScan?: boolean;
  /** more guest kernel command line (bench/microvm-boot.ts candidates) */
  kernelArgs?: string[];
}

export interface VmPaths {
  pidFile: string;
  consoleLog: string;
}

export function vmPaths(dir: string): VmPaths {
  return { pidFile: join(dir, 'qemu.pid'), consoleLog: join(dir, 'console.log') };
}

/**
 * Under TCG the guest's TSC is the host's, but the kernel's PIT calibration of it fails when the
 * host is busy and the boot then hangs (seen in ~1 of 3 boots on a loaded 2-core machine). Telling
 * the guest the frequency skips the calibration.
 */
export function tcgKernelArgs(): string[] {
  let khz = 0;
  try {
    const m = /^cpu MHz\s*:\s*([\d.]+)/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    khz = m?.[1] ? Math.round(Number(m[1]) * 1000) : 0;
  } catch {
    /* leave calibration to the guest */
  }
  return [...(khz > 0 ? [`tsc_early_khz=${khz}`] : []), 'tsc=reliable', 'no_timer_check'];
}

/**
 * TCG translation cache (MiB). qemu's code buffer becomes resident as it fills, and a booting
 * kernel fills it: 32 MiB (the old value) was all resident in every idle VM. Smaller is not free:
 * the cache is flushed when full and retranslated, so boot slows (bench/microvm-boot.ts). Debian's
 * kernel (it loads modules, probes more) keeps 16; 8 thrashed there.
 */
export const TCG_TB_SIZE_MIB = 16;

/**
 * The same for the tailored kernel. With the fifth pass's smaller kernel (src/guest/README.md, two
 * interleaved runs on a quiet machine): 16 → first output 1157 / 1161 ms p50 at 63.0 / 62.8 MiB
 * qemu PSS; 14 → 1240 ms, 60.5 MiB; 12 (the third pass's choice) → 1264 / 1240 ms, 58.0 MiB; 10 →
 * 8 % slower still. Below 16 the container's first exec meets a full cache.
 */
export const TCG_TB_SIZE_MIB_TAILORED = 16;

/**
 * Free page reporting hands back free blocks of at least 2^order pages. The kernel's default (the
 * balloon driver's: 2 MiB) skips what a guest frees after boot (the initrd, init sections, the
 * unpacked modules), which is scattered; 0 hands back every free page (src/guest/README.md).
 */
export const PAGE_REPORTING_ORDER = 0;

/**
 * virtio-serial ports: port 0 is the console's (unused), 1 the agent's. qemu's default of 31 costs
 * the guest a virtqueue pair and its buffers per port (measured with 3 idle VMs of the tailored
 * kernel: guest slab −1.9 MiB, guest RAM resident on the host −3.6 MiB per VM)
 */
export const SERIAL_MAX_PORTS = 2;

/**
 * Virtqueue size for the tailored kernel (its virtio_mmio.queue_num_max, a patch of ours:
 * src/guest/kernel/patches/). qemu's virtio-mmio offers every queue 1024 entries, and drivers that
 * pre-post receive buffers fill them all: virtio_console put 2 × 1024 4 KiB buffers (8 MiB, most
 * of the guest's slab) on the agent port's and the control receive queues, virtio-net puts 1024
 * rx buffers per NIC, virtio-scsi and virtio-blk size their request pools by it. virtio-pci
 * devices offer 128–256 (src/guest/README.md, fourth pass).
 */
export const VIRTQUEUE_SIZE_TAILORED = 256;

/**
 * The local APIC timer's frequency: QEMU's emulated APIC (TCG) and KVM's count at 1 GHz. The
 * tailored kernel takes it as `lapic_timer_frequency=` (a patch of ours) instead of calibrating the
 * timer against 100 ms of PIT ticks at every boot; a CPU with a TSC deadline timer (KVM's
 * `-cpu host`) does not calibrate anyway.
 */
export const APIC_TIMER_HZ = 1_000_000_000;

/** kernel command line only the tailored kernel understands (or is given) */
export function tailoredKernelArgs(t: VmTuning | undefined): string[] {
  const vq = t?.virtqueueSize ?? VIRTQUEUE_SIZE_TAILORED;
  return [
    `lapic_timer_frequency=${APIC_TIMER_HZ}`,
    ...(vq > 0 ? [`virtio_mmio.queue_num_max=${vq}`] : []),
    // no initial scan of the (empty) virtio-scsi bus: 152 ms of boot under TCG; the agent scans
    // the address of each disk it is asked to mount (hedge-agent.c, scsi_scan)
    ...(t?.scsiInitialScan ? [] : ['scsi_mod.scan=manual']),
  ];
}

export function qemuArgs(o: VmLaunchOptions): string[] {
  const p = vmPaths(o.dir);
  const timing = o.accelerator === 'tcg' ? tcgKernelArgs() : [];
  const accel = o.accelerator === 'kvm' ? 'kvm' : `tcg,tb-size=${o.tuning?.tcgTbSizeMiB ?? (o.guest.kernel === 'tailored' ? TCG_TB_SIZE_MIB_TAILORED : TCG_TB_SIZE_MIB)}`;
  const reporting = o.tuning?.freePageReporting !== false;
  // init.sh applies it after the balloon driver registered (6.1 overwrites the boot-time value then)
  const reportingArgs = reporting ? [`page_reporting.page_reporting_order=${o.tuning?.pageReportingOrder ?? PAGE_REPORTING_ORDER}`] : [];
  const args = [
    '-name', o.name,
    // guest RAM on a memfd, not anonymous memory: qemu madvises anonymous guest RAM for THP, and
    // with 2 MiB pages the scattered pages a booting kernel touches made the whole RAM resident
    // (measured: 112 MiB guest → 70 MiB resident on anon+THP, 65 MiB of it the kernel image, vs all
    // 112 MiB and an OOM kill in the pod cgroup)
    // acpi=off for the tailored kernel: its ACPI fails to load microvm's DSDT (AE_BAD_PARAMETER),
    // so it would find no virtio-mmio devices; without ACPI, qemu lists them on the kernel command
    // line (virtio_mmio.device=) and describes the CPUs in an MP table (src/guest/README.md)
    '-M', o.guest.kernel === 'tailored' ? 'microvm,memory-backend=mem,acpi=off' : 'microvm,memory-backend=mem',
    '-object', `memory-backend-memfd,id=mem,size=${o.memoryMiB}M`,
    '-accel', accel,
    '-cpu', o.accelerator === 'kvm' ? 'host' : 'max',
    '-smp', String(o.cpus),
    '-m', `${o.memoryMiB}M`,
    '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
    '-daemonize', '-pidfile', p.pidFile,
    '-serial', `file:${p.consoleLog}`,
    '-qmp', `unix:${o.qmpSocket},server=on,wait=off`,
    '-kernel', o.guest.vmlinux,
    '-initrd', o.guest.initrd,
    // init_on_alloc (Debian's default) zeroes every page the guest allocates, so page cache that
    // came and went stays resident on the host; the guest is single-tenant, user pages are still zeroed
    '-append', ['console=ttyS0', 'quiet', 'panic=-1', 'loglevel=3', 'init_on_alloc=0', ...timing, ...reportingArgs, ...(o.guest.kernel === 'tailored' ? tailoredKernelArgs(o.tuning) : []), ...(o.nics?.length ? guestNetKernelArgs(o.nics) : []), ...(o.extraKernelArgs ?? []), ...(o.tuning?.kernelArgs ?? [])].join(' '),
    '-device', `virtio-serial-device,max_ports=${o.tuning?.serialMaxPorts ?? SERIAL_MAX_PORTS}`,
    '-chardev', `socket,id=agent,path=${o.agentSocket},server=on,wait=off`,
    '-device', 'virtserialport,chardev=agent,name=hedge.agent',
    // container rootfs disks are hot-plugged onto this bus: microvm has no PCI/mmio hotplug
    '-device', 'virtio-scsi-device,id=scsi0',
    // free page reporting: the guest hands pages it frees (boot-time memory, the initrd, a
    // container's memory after it exits) back, and qemu punches them out of the memfd, so an idle
    // VM does not keep its peak on the host. Never inflated: the balloon size stays 0.
    ...(reporting ? ['-device', 'virtio-balloon-device,free-page-reporting=on'] : []),
    ...(o.nics?.length ? guestNetQemuArgs(o.nics) : []),
  ];
  if (o.disk) {
    // discard=unmap: space the guest frees (a removed container's layer) goes back to the sparse file
    args.push('-drive', `if=none,id=sbxdisk,format=raw,discard=unmap,file=${optPath(o.disk)}`, '-device', 'virtio-blk-device,drive=sbxdisk');
  }
  if (o.volumeShare) {
    // readonly: the guest cannot write the host's volume files; security_model=none shows their real
    // modes; multidevs=remap: a Memory emptyDir's host tmpfs inside the dir must not collide inode numbers
    args.push('-fsdev', `local,id=vols,path=${optPath(o.volumeShare)},security_model=none,readonly=on,multidevs=remap`, '-device', 'virtio-9p-device,fsdev=vols,mount_tag=hedgevol');
  }
  for (const c of o.claims ?? []) {
    // the claim's directory only, for an untrusted guest: mapped-xattr keeps the guest's owners,
    // modes, device nodes and symlinks in user.virtfs.* xattrs (host files are plain files and
    // directories owned by qemu's user, fmode/dmode: no setuid file, device node or symlink the
    // guest made appears on the host); qemu resolves every path inside the export without
    // following symlinks; multidevs=remap: a mount below the claim dir cannot collide inode numbers
    const ro = c.readOnly ? ',readonly=on' : '';
    args.push('-fsdev', `local,id=${c.tag},path=${optPath(c.hostPath)},security_model=mapped-xattr,fmode=0666,dmode=0777,multidevs=remap${ro}`, '-device', `virtio-9p-device,fsdev=${c.tag},mount_tag=${c.tag}`);
  }
  for (const [i, sh] of (o.shares ?? []).entries()) {
    args.push('-fsdev', `local,id=fs${i},path=${optPath(sh.path)},security_model=none`, '-device', `virtio-9p-device,fsdev=fs${i},mount_tag=${sh.tag}`);
  }
  // spawn=deny and elevateprivileges=deny would forbid -daemonize's fork and setsid (the filter goes on first)
  if (o.seccomp) args.push('-sandbox', 'on,obsolete=deny,resourcecontrol=deny');
  return args;
}

/**
 * virtio-mmio transports -M microvm offers (measured, qemu 7.2): 24 with ACPI (a second IOAPIC
 * carries transports 9–24), 8 without (acpi=off, the tailored kernel)
 */
export function virtioSlots(guest: GuestArtifacts): number {
  return guest.kernel === 'tailored' ? 8 : 24;
}

/** virtio-mmio transports the devices in `args` take */
export function virtioSlotsUsed(args: string[]): number {
  return args.filter((a, i) => args[i - 1] === '-device' && /^virtio-[a-z0-9]+-device(,|$)/.test(a)).length;
}

/** qemu's option syntax: a comma in a value is written twice */
const optPath = (p: string): string => p.replaceAll(',', ',,');

/** Starts qemu detached; resolves with its pid once the sockets are listening. */
export async function launchVm(o: VmLaunchOptions, signal: AbortSignal): Promise<number> {
  let cmd = o.qemuBinary;
  let args = qemuArgs(o);
  if (o.netnsPath) {
    args = [`--net=${o.netnsPath}`, '--', cmd, ...args];
    cmd = 'nsenter';
  }
  if (o.cgroupProcs?.length) {
    // sh joins the pod cgroups and execs nsenter/qemu: everything qemu allocates is charged to the pod
    args = ['-c', 'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; shift; n=$((n - 1)); done; exec "$@"', 'hedge-qemu', String(o.cgroupProcs.length), ...o.cgroupProcs, cmd, ...args];
    cmd = '/bin/sh';
  }
  const { code, stderr } = await new Promise<{ code: number; stderr: string }>((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], signal });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('close', (c) => resolve({ code: c ?? 1, stderr: err }));
  });
  if (code !== 0) throw new HedgeError('Internal', `qemu failed to start (exit ${code}): ${stderr.trim()}`);
  const pid = Number((await readFile(vmPaths(o.dir).pidFile, 'utf8')).trim());
  if (!Number.isInteger(pid) || pid <= 0) throw new HedgeError('Internal', 'qemu wrote no pidfile');
  return pid;
}
