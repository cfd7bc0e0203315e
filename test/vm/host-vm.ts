/**
 * A cgroup v2 machine for tests (test/vm/README.md): a TCG qemu microVM booting Debian's kernel
 * (the microVM guest's, scripts/build-guest.sh) with this host's own `/` as its root, read-only over
 * virtio-9p under a tmpfs overlay, cgroup2 alone at /sys/fs/cgroup, slirp networking (the host's
 * loopback is 10.0.2.2), no systemd. `runInHostVm` boots it, runs one command, returns its output
 * and exit code, and powers it off; the VM runs under the machine's bench lock.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildGuest } from '../../src/agent/runtime/microvm/guest-artifacts.ts';
import { tcgKernelArgs, type GuestArtifacts } from '../../src/agent/runtime/microvm/vm.ts';
import { buildInitramfs } from '../../src/guest/initramfs/build-initramfs.ts';
import { shellQuote } from '../../src/agent/host/run-command.ts';

export const QEMU = '/usr/bin/qemu-system-x86_64';
/** the machine's benchmark lock (flock(2)): another session measures on these 2 cores */
export const BENCH_LOCK = '/tmp/hedge-bench.lock';
const INIT_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'host-vm-init.sh');
/** what mounting the root takes (virtio-mmio transport, 9p, overlay) and slirp's NIC; the rest is modprobe'd from the host's /usr/lib/modules */
const MODULES = ['virtio_mmio', '9p', '9pnet_virtio', 'overlay', 'virtio_net'];
const START_MARKER = 'HVM-START';
const FAIL_MARKER = 'HVM-FAIL ';

export interface HostVmOptions {
  command: string[];
  /** the VM's whole life, boot included (not the wait for the bench lock) */
  timeoutMs: number;
  memMiB?: number;
  cpus?: number;
  /** added to PATH=…, HOME=/root, LANG=C.UTF-8 */
  env?: Record<string, string>;
  /** working directory in the guest (default: this process's; the host tree is the guest's) */
  cwd?: string;
  /**
   * TCG threading: `single` (the default: the vCPUs take turns on one host thread) or `multi`
   * (qemu's default for x86, one host thread per vCPU: node died with SIGSEGV twice in ~24 runs
   * under it, never under `single`; README)
   */
  tcgThread?: 'multi' | 'single';
  /** longest wait for the bench lock (default 20 min) */
  lockTimeoutMs?: number;
  /** the flock(2) file held while qemu runs (default BENCH_LOCK) */
  benchLock?: string;
  /** aborting kills qemu (as a timeout does) */
  signal?: AbortSignal;
  /** slirp port forwards, TCP: 127.0.0.1:host on this host → guest on the guest's eth0 */
  forwards?: { host: number; guest: number }[];
  /** called with the host work directory before boot: files put there are in the guest at the same path (HVM_DIR) */
  prepare?: (dir: string) => Promise<void> | void;
}

export interface HostVmResult {
  /** the command's exit code; null when it never finished (timeout, failed boot) */
  code: number | null;
  stdout: string;
  stderr: string;
  /** qemu start → the guest about to exec the command */
  bootMs: number;
  /** qemu start → qemu gone */
  totalMs: number;
  lockWaitMs: number;
  /** the serial console (kernel messages, init's complaints) */
  console: string;
  timedOut: boolean;
  /** qemu's pid (gone by the time the result is returned) */
  pid: number | undefined;
}

/** why the host VM cannot run here, or undefined */
export function hostVmUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (9p passthrough of /, runc in the guest)';
  if (!existsSync(QEMU)) return `needs ${QEMU} (qemu-system-x86)`;
  if (!existsSync('/usr/bin/flock')) return 'needs flock (util-linux)';
  if (!readdirSafe('/boot').some((f) => /^vmlinuz-.*-amd64$/.test(f) && !/-(cloud|rt)-/.test(f)))
    return "needs Debian's linux-image-amd64 in /boot (the microVM guest kernel)";
  return undefined;
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

let kernelP: Promise<GuestArtifacts> | undefined;
/** Debian's kernel, extracted by build-guest.sh into the tests' guest cache (a cache hit after the first) */
function debianKernel(): Promise<GuestArtifacts> {
  kernelP ??= buildGuest({ outRoot: join(tmpdir(), 'hedge-guest-cache'), kernel: 'debian', signal: AbortSignal.timeout(300_000) }).catch((e: unknown) => {
    kernelP = undefined; // the next call tries again
    throw e;
  });
  return kernelP;
}

/** the initramfs for `kver`, cached by its inputs under $TMPDIR/hedge-host-vm/ */
function hostVmInitramfs(kver: string): string {
  const modulesDir = `/usr/lib/modules/${kver}`;
  const busybox = '/bin/busybox';
  const hash = createHash('sha256');
  for (const f of [INIT_SCRIPT, busybox, join(modulesDir, 'modules.dep')]) hash.update(readFileSync(f));
  hash.update(`${kver} ${MODULES.join(',')}`);
  const dir = join(tmpdir(), 'hedge-host-vm', `${kver}-${hash.digest('hex').slice(0, 12)}`);
  const out = join(dir, 'initrd.gz');
  if (existsSync(out)) return out;
  mkdirSync(dir, { recursive: true });
  const tmp = `${out}.${process.pid}`;
  try {
    buildInitramfs({ modulesDir, busyboxBinary: busybox, initScript: INIT_SCRIPT, out: tmp, modules: MODULES });
    renameSync(tmp, out);
  } finally {
    rmSync(tmp, { force: true });
  }
  return out;
}

/** PID 1 after switch_root (the host's /bin/sh): run the command with its output in the work share, then power off */
function guestScript(dir: string, o: HostVmOptions): string {
  const env: Record<string, string> = {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: '/root',
    LANG: 'C.UTF-8',
    HVM_DIR: dir,
    ...o.env,
  };
  return [
    '#!/bin/sh',
    ...Object.entries(env).map(([k, v]) => `export ${k}=${shellQuote(v)}`),
    `cd ${shellQuote(o.cwd ?? process.cwd())} || { echo "${FAIL_MARKER}no such directory"; /bin/busybox poweroff -f; }`,
    `echo ${START_MARKER}`,
    `(exec ${o.command.map(shellQuote).join(' ')}) <"/dev/null" >${shellQuote(join(dir, 'stdout'))} 2>${shellQuote(join(dir, 'stderr'))}`,
    `echo $? >${shellQuote(join(dir, 'rc.tmp'))} && mv ${shellQuote(join(dir, 'rc.tmp'))} ${shellQuote(join(dir, 'rc'))}`,
    'sync',
    // reboot(2) POWER_OFF through microvm's ACPI; should it return, PID 1 exits: panic=-1 and -no-reboot end qemu
    '/bin/busybox poweroff -f',
    '',
  ].join('\n');
}

export function hostVmQemuArgs(o: {
  vmlinux: string;
  initrd: string;
  workDir: string;
  memMiB: number;
  cpus: number;
  tcgThread: 'multi' | 'single';
  forwards?: { host: number; guest: number }[];
}): string[] {
  const netdev = ['user,id=n0', ...(o.forwards ?? []).map((f) => `hostfwd=tcp:127.0.0.1:${f.host}-:${f.guest}`)].join(',');
  const append = ['console=ttyS0', 'panic=-1', 'loglevel=4', 'cgroup_no_v1=all', ...tcgKernelArgs(), `hvm.dir=${o.workDir}`];
  return [
    '-M', 'microvm', '-accel', `tcg,thread=${o.tcgThread}`, '-cpu', 'max', '-smp', String(o.cpus), '-m', String(o.memMiB),
    '-nodefaults', '-no-user-config', '-display', 'none', '-serial', 'stdio', '-no-reboot',
    '-kernel', o.vmlinux, '-initrd', o.initrd, '-append', append.join(' '),
    '-fsdev', 'local,id=hostroot,path=/,security_model=passthrough,readonly=on,multidevs=remap',
    '-device', 'virtio-9p-device,fsdev=hostroot,mount_tag=hostroot',
    '-fsdev', `local,id=hvmwork,path=${o.workDir},security_model=passthrough,multidevs=remap`,
    '-device', 'virtio-9p-device,fsdev=hvmwork,mount_tag=hvmwork',
    '-netdev', netdev, '-device', 'virtio-net-device,netdev=n0',
  ];
}

/** flock(1) on an fd this process keeps: the lock lives as long as the fd (or this process) */
async function takeBenchLock(path: string, timeoutMs: number, signal: AbortSignal | undefined): Promise<number> {
  const fd = openSync(path, 'a');
  try {
    await new Promise<void>((res, rej) => {
      const p = spawn('flock', ['-x', '-w', String(Math.ceil(timeoutMs / 1000)), '3'], { stdio: ['ignore', 'ignore', 'pipe', fd], signal });
      let err = '';
      p.stderr?.on('data', (d: Buffer) => (err += d));
      p.on('error', rej);
      p.on('exit', (code) => (code === 0 ? res() : rej(new Error(`could not take ${path} within ${timeoutMs} ms: ${err.trim() || `flock exit ${code}`}`))));
    });
    return fd;
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/** a running host VM (startHostVm) */
export interface HostVm {
  /** qemu's pid */
  pid: number | undefined;
  /** the work directory (HVM_DIR), on the host and in the guest; removed once the VM is gone */
  workDir: string;
  /** resolves with the first serial console text matching `re` (the guest writes there with `>/dev/console`); rejects once qemu is gone */
  waitForConsole(re: RegExp): Promise<string>;
  /** SIGKILL qemu (idempotent); `result` then settles with code null */
  kill(): void;
  /** qemu gone, the work directory removed, the lock released */
  result: Promise<HostVmResult>;
}

/**
 * Boots the VM with the command as its payload and returns once qemu runs (under the bench lock):
 * a test can then reach the guest through `forwards` and watch the console while the command runs.
 */
export async function startHostVm(o: HostVmOptions): Promise<HostVm> {
  if (o.command.length === 0) throw new Error('startHostVm: command is empty');
  for (const k of Object.keys(o.env ?? {})) if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`startHostVm: env name ${JSON.stringify(k)} is not a shell variable name`);
  const kernel = await debianKernel();
  const initrd = hostVmInitramfs(kernel.kernelVersion);
  const workDir = await mkdtemp(join(tmpdir(), 'hedge-hvm-'));
  let lockFd: number | undefined;
  try {
    await writeFile(join(workDir, 'guest.sh'), guestScript(workDir, o), { mode: 0o755 });
    await o.prepare?.(workDir);
    const args = hostVmQemuArgs({ vmlinux: kernel.vmlinux, initrd, workDir, memMiB: o.memMiB ?? 1024, cpus: o.cpus ?? 2, tcgThread: o.tcgThread ?? 'single', forwards: o.forwards });
    const lockStart = performance.now();
    lockFd = await takeBenchLock(o.benchLock ?? BENCH_LOCK, o.lockTimeoutMs ?? 20 * 60_000, o.signal);
    const lockWaitMs = performance.now() - lockStart;
    const t0 = performance.now();
    const q = spawn(QEMU, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let consoleOut = '';
    let bootMs = -1;
    let timedOut = false;
    let gone = false;
    const watchers = new Set<() => void>();
    const kill = (): void => {
      if (q.pid && q.exitCode === null && q.signalCode === null) process.kill(q.pid, 'SIGKILL');
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, o.timeoutMs);
    o.signal?.addEventListener('abort', kill, { once: true });
    if (o.signal?.aborted) kill();
    const onData = (d: Buffer): void => {
      consoleOut += d.toString();
      if (bootMs < 0 && consoleOut.includes(START_MARKER)) bootMs = performance.now() - t0;
      for (const w of watchers) w();
    };
    q.stdout.on('data', onData);
    q.stderr.on('data', onData);
    const held = lockFd;
    const exited = new Promise<void>((res, rej) => {
      q.on('error', rej);
      q.on('close', () => res());
    }).finally(() => {
      gone = true;
      for (const w of watchers) w();
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', kill);
      closeSync(held);
    });
    const result = exited
      .then(async (): Promise<HostVmResult> => {
        const totalMs = performance.now() - t0;
        const read = (f: string): Promise<string> => readFile(join(workDir, f), 'utf8').catch(() => '');
        const rc = (await read('rc')).trim();
        return { code: rc === '' ? null : Number(rc), stdout: await read('stdout'), stderr: await read('stderr'), bootMs, totalMs, lockWaitMs, console: consoleOut, timedOut, pid: q.pid };
      })
      .finally(() => rm(workDir, { recursive: true, force: true }));
    const waitForConsole = (re: RegExp): Promise<string> =>
      new Promise((res, rej) => {
        const check = (): void => {
          const m = re.exec(consoleOut);
          if (m) {
            watchers.delete(check);
            res(m[0]);
          } else if (gone) {
            watchers.delete(check);
            rej(new Error(`the VM ended before its console showed ${re}:\n${consoleOut.slice(-2000)}`));
          }
        };
        watchers.add(check);
        check();
      });
    return { pid: q.pid, workDir, waitForConsole, kill, result };
  } catch (e) {
    if (lockFd !== undefined) closeSync(lockFd);
    await rm(workDir, { recursive: true, force: true });
    throw e;
  }
}

/** boots the VM, runs the command to its end (or the timeout), powers off */
export async function runInHostVm(o: HostVmOptions): Promise<HostVmResult> {
  return (await startHostVm(o)).result;
}

/** `node --import tsx test/vm/host-vm.ts -- CMD...`: run one command in the VM, print what it gave */
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--');
  const command = i >= 0 ? process.argv.slice(i + 1) : process.argv.slice(2);
  const num = (v: string | undefined): number | undefined => (v ? Number(v) : undefined);
  const r = await runInHostVm({ command, timeoutMs: num(process.env.HVM_TIMEOUT_MS) ?? 300_000, cpus: num(process.env.HVM_CPUS), tcgThread: process.env.HVM_TCG_THREAD === 'multi' ? 'multi' : undefined, memMiB: num(process.env.HVM_MEM_MIB) });
  process.stdout.write(r.stdout);
  process.stderr.write(r.stderr);
  process.stderr.write(`[host-vm] code=${r.code} boot=${Math.round(r.bootMs)}ms total=${Math.round(r.totalMs)}ms lockWait=${Math.round(r.lockWaitMs)}ms timedOut=${r.timedOut}\n`);
  if (r.code === null) process.stderr.write(r.console);
  process.exitCode = r.code ?? 1;
}
