/**
 * MicroVM boot-to-process and idle memory, beside runc in the same run (same busybox rootfs,
 * same command). Labelled with the accelerator the handler detected (TCG on PVM hosts).
 *   boot→output: VM launch (createSandbox) → createContainer → start → the container's first
 *                line in its CRI log on the host. Two handler set-ups, interleaved in one run:
 *                  disk+share  the default: a sparse ext4 sandbox disk (mkfs at createSandbox,
 *                              virtio-blk) holds the writable layer, the pod volume dir is a 9p share
 *                  tmpfs       neither (the writable layer is a guest tmpfs): what the disk and share cost
 *   memory: IDLE sandboxes (a `sleep` container each) kept up side by side, then per VM:
 *     qemu PSS/RSS   /proc/<qemu>/smaps_rollup (PSS splits the kernel file mapping all VMs share)
 *     guest used     MemTotal − MemAvailable inside the guest (guest kernel + agent + container)
 *     container      the sleep process's RSS inside the guest
 *     VMM overhead   PSS − guest used (what qemu costs beyond the memory the guest uses)
 *     sandbox overhead  PSS − container: what a pod pays beyond its containers, i.e. the figure for
 *                    the RuntimeClass `microvm` overhead.podFixed.memory
 *   --kernel debian,tailored: compare guest kernels instead (src/guest/README.md, "Guest kernel"):
 *                one disk+share handler per kernel, interleaved in the same run, and one set of idle
 *                sandboxes per kernel (measured one set at a time: PSS splits the kernel mapping
 *                only among VMs of the same kernel); also the guest's MemTotal (what the kernel
 *                keeps for itself out of -m) and the vmlinux size. `tailored` needs
 *                scripts/build-guest-kernel.sh to have run.
 * Prints tables, asserts nothing. Needs root, qemu, Debian's linux-image, busybox-static.
 * Run: node --import tsx bench/microvm-boot.ts [iterations=5] [idle sandboxes=3] [--kernel debian,tailored]
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { silentLogger } from '../src/lib/log.ts';
import { runChecked } from '../src/agent/host/run-command.ts';
import { containerConfig, makeBusyboxRootfs, sandboxConfig } from '../src/agent/runtime/oci/test-support.ts';
import type { ContainerId, SandboxId } from '../src/agent/runtime/types.ts';
import { buildGuest } from '../src/agent/runtime/microvm/guest-artifacts.ts';
import { MicroVmRuntimeHandler } from '../src/agent/runtime/microvm/microvm-handler.ts';
import type { GuestArtifacts, GuestKernel } from '../src/agent/runtime/microvm/vm.ts';

const argv = process.argv.slice(2);
const kernelFlag = argv.indexOf('--kernel');
const kernels = kernelFlag >= 0 ? (argv.splice(kernelFlag, 2)[1] ?? '').split(',').filter((k) => k !== '') : [];
for (const k of kernels) if (k !== 'debian' && k !== 'tailored') throw new Error(`--kernel takes debian and/or tailored, not ${k}`);
const iterations = Number(argv[0] ?? 5);
const idleCount = Number(argv[1] ?? 3);
const COMMAND = ['sh', '-c', 'echo hello; uname -r'];

function pct(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
}

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]): string => r.map((c, i) => (c ?? '').padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return `${fmt(head)}\n${rows.map(fmt).join('\n')}\n`;
}

async function until(cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 2));
  }
}

function smapsKb(pid: number): { pss: number; rss: number } {
  const t = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const get = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(t)?.[1] ?? NaN);
  return { pss: get('Pss'), rss: get('Rss') };
}

const f = (ms: number): string => `${ms.toFixed(0)} ms`;
const mb = (kb: number): string => `${(kb / 1024).toFixed(1)} MiB`;

const tmp = mkdtempSync(join(tmpdir(), 'hedge-bench-mvm-'));
const rootfs = makeBusyboxRootfs(join(tmp, 'rootfs'));
try {
  const cache = join(tmpdir(), 'hedge-guest-cache');
  const guests: GuestArtifacts[] = kernels.length
    ? await Promise.all(kernels.map((k) => buildGuest({ outRoot: cache, kernel: k as GuestKernel, signal: AbortSignal.timeout(300_000) })))
    : [await buildGuest({ outRoot: cache, signal: AbortSignal.timeout(300_000) })];
  const guest = guests[0]!;
  const h = new MicroVmRuntimeHandler({ stateDir: join(tmp, 'state'), guest, logger: silentLogger(), accelerator: 'auto' });
  const accel = await h.detectAccelerator(AbortSignal.timeout(60_000));
  const variants = kernels.length
    ? guests.map((g, i) => ({
        label: `microvm ${g.kernel ?? 'debian'} (${g.kernelVersion})`,
        guest: g,
        h: i === 0 ? h : new MicroVmRuntimeHandler({ stateDir: join(tmp, `state-${i}`), guest: g, logger: silentLogger(), accelerator: accel }),
        boot: [] as number[],
        toHello: [] as number[],
        create: [] as number[],
      }))
    : [
        { label: 'microvm disk+share', guest, h, boot: [] as number[], toHello: [] as number[], create: [] as number[] },
        {
          label: 'microvm tmpfs',
          guest,
          h: new MicroVmRuntimeHandler({ stateDir: join(tmp, 'state-tmpfs'), guest, logger: silentLogger(), accelerator: accel, sandboxDisk: false, volumeShare: false }),
          boot: [] as number[],
          toHello: [] as number[],
          create: [] as number[],
        },
      ];
  // idle memory: every kernel's own set (without --kernel, the default handler's)
  const idleSets = (kernels.length ? variants : variants.slice(0, 1)).map((v) => ({
    label: v.label,
    h: v.h,
    vmlinuxBytes: statSync(v.guest.vmlinux).size,
    pss: [] as number[],
    rss: [] as number[],
    guestUsed: [] as number[],
    memTotal: [] as number[],
    containerRss: [] as number[],
  }));
  const runc: number[] = [];
  let vmMiB = 0;

  // runc bundle for the same command
  const bundle = join(tmp, 'bundle');
  mkdirSync(bundle);
  await runChecked('runc', ['spec', '-b', bundle], { signal: AbortSignal.timeout(10_000) });
  const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as { process: { terminal: boolean; args: string[] }; root: { path: string; readonly: boolean } };
  spec.process.terminal = false;
  spec.process.args = COMMAND;
  spec.root = { path: rootfs, readonly: true };
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));

  for (let i = 0; i < iterations; i++) {
    for (const [vi, v] of variants.entries()) {
      const sid = `bench-${i}-${vi}` as SandboxId;
      const sig = AbortSignal.timeout(120_000);
      const logPath = join(tmp, 'logs', `${sid}.log`);
      const t0 = performance.now();
      await v.h.createSandbox({ ...sandboxConfig({ id: sid, stateDir: join(tmp, 'pods', sid, 'sandbox'), cgroupParent: '' }), resources: { memoryBytes: 256 << 20 } }, sig);
      const tHello = performance.now();
      v.toHello.push(tHello - t0);
      const c = containerConfig({ id: `${sid}-c`, sandboxId: sid, rootfs, command: COMMAND, logPath });
      await v.h.createContainer(c, sig);
      v.create.push(performance.now() - tHello);
      await v.h.start(c.id, sig);
      await until(() => existsSync(logPath) && statSync(logPath).size > 0, 30_000);
      v.boot.push(performance.now() - t0);
      await v.h.removeSandbox(sid, sig);
    }

    const id = `hedge-bench-runc-${process.pid}-${i}`;
    const t1 = performance.now();
    await new Promise<void>((resolve, reject) => {
      const p = spawn('runc', ['--root', join(tmp, 'runc-root'), 'run', '-b', bundle, id], { stdio: ['ignore', 'pipe', 'pipe'] });
      let first = false;
      p.stdout.on('data', () => {
        if (!first) runc.push(performance.now() - t1);
        first = true;
      });
      p.on('error', reject);
      p.on('close', () => resolve());
    });
  }

  // idle sandboxes side by side, as on a node: a sleeping container each, memory once they settled
  for (const set of idleSets) {
    const idleIds: SandboxId[] = [];
    for (let i = 0; i < idleCount; i++) {
      const sid = `idle-${idleSets.indexOf(set)}-${i}` as SandboxId;
      const sig = AbortSignal.timeout(120_000);
      await set.h.createSandbox({ ...sandboxConfig({ id: sid, stateDir: join(tmp, 'pods', sid, 'sandbox'), cgroupParent: '' }), resources: { memoryBytes: 256 << 20 } }, sig);
      idleIds.push(sid);
      const idle = containerConfig({ id: `${sid}-c`, sandboxId: sid, rootfs, command: ['sleep', '1000'], logPath: join(tmp, 'logs', `${sid}.log`) });
      await set.h.createContainer(idle, sig);
      await set.h.start(idle.id, sig);
    }
    await new Promise((r) => setTimeout(r, 2000));
    for (const sid of idleIds) {
      const sig = AbortSignal.timeout(60_000);
      const vm = await set.h.vmInfo(sid);
      if (!vm) continue;
      vmMiB = vm.memoryMiB;
      const m = smapsKb(vm.pid);
      set.pss.push(m.pss);
      set.rss.push(m.rss);
      const s = await set.h.sandboxStats(sid, sig);
      set.guestUsed.push(s.memory.workingSetBytes / 1024);
      let out = '';
      const sink = new PassThrough();
      sink.on('data', (d: Buffer) => (out += d.toString()));
      await set.h.exec(`${sid}-c` as ContainerId, { command: ['sh', '-c', 'cat /proc/meminfo; for f in /proc/[0-9]*/status; do cat $f; done'], tty: false, stdout: sink, signal: sig });
      set.memTotal.push(Number(/^MemTotal:\s+(\d+)/m.exec(out)?.[1] ?? NaN));
      const sleepStatus = out.split(/^(?=Name:)/m).find((b) => /^Name:\s+sleep$/m.test(b)) ?? '';
      if (!/^VmRSS:/m.test(sleepStatus)) process.stderr.write(`no sleep process RSS in the guest /proc: ${sleepStatus.slice(0, 600) || out.slice(0, 400)}\n`);
      set.containerRss.push(Number(/^VmRSS:\s+(\d+)/m.exec(sleepStatus)?.[1] ?? 0));
    }
    for (const sid of idleIds) await set.h.removeSandbox(sid, AbortSignal.timeout(60_000));
  }

  const avg = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  process.stdout.write(`\nmicroVM boot → first container output (${iterations} runs, accelerator: ${accel})\n\n`);
  process.stdout.write(
    table(
      ['runtime', 'accel', 'p50', 'p99', 'of which createSandbox→agent hello (p50)', 'createContainer (p50)'],
      [
        ...variants.map((v) => [v.label, accel, f(pct(v.boot, 50)), f(pct(v.boot, 99)), f(pct(v.toHello, 50)), f(pct(v.create, 50))]),
        ['runc', '-', f(pct(runc, 50)), f(pct(runc, 99)), '-', '-'],
      ],
    ),
  );
  process.stdout.write(`\nidle sandbox memory on the host (${idleCount} idle VMs side by side per set, -m ${vmMiB} MiB each, accelerator: ${accel}), mean per VM\n\n`);
  process.stdout.write(
    table(
      ['guest', 'vmlinux', 'guest MemTotal', 'qemu PSS', 'qemu RSS', 'guest used', 'container RSS', 'VMM overhead (PSS − guest used)', 'sandbox overhead (PSS − container)'],
      idleSets.map((set) => [
        set.label,
        mb(set.vmlinuxBytes / 1024),
        mb(avg(set.memTotal)),
        mb(avg(set.pss)),
        mb(avg(set.rss)),
        mb(avg(set.guestUsed)),
        `${avg(set.containerRss).toFixed(0)} KiB`,
        mb(avg(set.pss) - avg(set.guestUsed)),
        mb(avg(set.pss) - avg(set.containerRss)),
      ]),
    ),
  );
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
