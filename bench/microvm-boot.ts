/**
 * MicroVM boot-to-process and idle memory per guest candidate, beside runc in the same run (same
 * busybox rootfs, same command). Labelled with the accelerator the handler detected (TCG on PVM hosts).
 * Candidates (one handler each, interleaved in one run; all with the sandbox disk and the 9p volume share):
 *   before          Debian's kernel with the old qemu knobs (TCG tb-size=32, no balloon)
 *   previous        the previous default: Debian's kernel, tb-size=16, free page reporting of 2 MiB
 *                   blocks (the kernel's own reporting order), qemu's 31 virtio-serial ports
 *   debian          Debian's kernel with the current knobs (the fallback while the tailored one is not built)
 *   tailored-previous  the tailored kernel with the previous default's knobs (the third pass: tb-size 12,
 *                   2 serial ports, but qemu's 1024-entry virtqueues and the initial SCSI bus scan)
 *   tailored        scripts/build-guest-kernel.sh's kernel with the current knobs (the default), when built
 *   tailored-vq128, tailored-tb14, -tb12, -tb10, -tb8  the default with 128-entry virtqueues / a TCG cache of 14 / 12 / 10 / 8 MiB
 *   --only a,b      only these candidates (by the names above; `runc` always runs)
 *   --base NAME     the candidate the ratios compare with (default: the first)
 *   --guest LABEL=DIR[:noshare]  any other guest build dir (manifest.json, vmlinux, initrd.gz), e.g.
 *                   Debian's linux-image-cloud-amd64 (it has no 9p: `:noshare` drops the volume share)
 *   boot→output: VM launch (createSandbox) → createContainer → start → the container's first
 *                line in its CRI log on the host: the runtime's share of pod start.
 *   memory: IDLE sandboxes (a `sleep` container each) kept up side by side, one candidate's set at a
 *   time (PSS splits the kernel file mapping only among VMs of the same kernel), then per VM:
 *     qemu PSS/RSS   /proc/<qemu>/smaps_rollup, and PSS split into guest RAM (the memfd), the
 *                    mapped kernel file (shared by every VM of that kernel) and qemu's anon memory
 *     guest used     MemTotal − MemAvailable inside the guest (guest kernel + agent + container)
 *     container      the sleep process's RSS inside the guest
 *     sandbox overhead  PSS − container: what a pod pays beyond its containers, i.e. the figure for
 *                    the RuntimeClass `microvm` overhead.podFixed.memory
 * Prints tables, asserts nothing. Needs root, qemu, Debian's linux-image, busybox-static.
 * Run: node --import tsx bench/microvm-boot.ts [iterations=5] [idle sandboxes=3] [--only NAMES] [--base NAME] [--guest LABEL=DIR[:noshare]]...
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
import { buildGuest, findGuestArtifacts } from '../src/agent/runtime/microvm/guest-artifacts.ts';
import { MicroVmRuntimeHandler } from '../src/agent/runtime/microvm/microvm-handler.ts';
import type { GuestArtifacts, VmTuning } from '../src/agent/runtime/microvm/vm.ts';

const argv = process.argv.slice(2);
const extra: { label: string; dir: string; share: boolean }[] = [];
for (let i = argv.indexOf('--guest'); i >= 0; i = argv.indexOf('--guest')) {
  const m = /^([^=]+)=([^:]+)(:noshare)?$/.exec(argv.splice(i, 2)[1] ?? '');
  if (!m) throw new Error('--guest takes LABEL=DIR[:noshare]');
  extra.push({ label: m[1]!, dir: m[2]!, share: !m[3] });
}
const onlyAt = argv.indexOf('--only');
const only = onlyAt >= 0 ? new Set(argv.splice(onlyAt, 2)[1]?.split(',')) : undefined;
const baseAt = argv.indexOf('--base');
const baseName = baseAt >= 0 ? argv.splice(baseAt, 2)[1] : undefined;
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

/** PSS/RSS of qemu, and PSS by kind: guest RAM (memfd), the kernel file qemu maps, everything anonymous */
function smapsKb(pid: number, vmlinux: string): { pss: number; rss: number; guestRam: number; kernelFile: number; anon: number } {
  const t = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const get = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(t)?.[1] ?? NaN);
  let guestRam = 0;
  let kernelFile = 0;
  let cur = '';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) cur = line;
    else if (line.startsWith('Pss:')) {
      const kb = Number(/(\d+)/.exec(line)?.[1] ?? 0);
      if (cur.includes('memory-backend-memfd')) guestRam += kb;
      else if (cur.endsWith(vmlinux)) kernelFile += kb;
    }
  }
  return { pss: get('Pss'), rss: get('Rss'), guestRam, kernelFile, anon: get('Pss_Anon') };
}

const f = (ms: number): string => `${ms.toFixed(0)} ms`;
const mb = (kb: number): string => `${(kb / 1024).toFixed(1)} MiB`;

const tmp = mkdtempSync(join(tmpdir(), 'hedge-bench-mvm-'));
const rootfs = makeBusyboxRootfs(join(tmp, 'rootfs'));
try {
  const cache = join(tmpdir(), 'hedge-guest-cache');
  const sig5m = (): AbortSignal => AbortSignal.timeout(300_000);
  const debian = await buildGuest({ outRoot: cache, kernel: 'debian', signal: sig5m() });
  const tailored = await buildGuest({ outRoot: cache, kernel: 'tailored', signal: sig5m() }).catch(() => undefined);
  if (!tailored) process.stderr.write('tailored guest kernel not built (scripts/build-guest-kernel.sh): its row is left out\n');
  const candidates: { name: string; label: string; guest: GuestArtifacts; tuning?: VmTuning; share: boolean }[] = [
    { name: 'before', label: `before: ${debian.kernelVersion}, tb-size 32, no balloon`, guest: debian, tuning: { tcgTbSizeMiB: 32, freePageReporting: false, serialMaxPorts: 31 }, share: true },
    { name: 'previous', label: `previous default: ${debian.kernelVersion}, tb-size 16, reporting ≥ 2 MiB`, guest: debian, tuning: { tcgTbSizeMiB: 16, pageReportingOrder: 9, serialMaxPorts: 31 }, share: true },
    { name: 'debian', label: `debian ${debian.kernelVersion} (fallback)`, guest: debian, share: true },
    ...(tailored ? [{ name: 'tailored-previous', label: `tailored ${tailored.kernelVersion}, 1024-entry virtqueues, initial SCSI scan (previous default)`, guest: tailored, tuning: { virtqueueSize: 0, scsiInitialScan: true }, share: true }] : []),
    ...(tailored ? [{ name: 'tailored', label: `tailored ${tailored.kernelVersion} (default)`, guest: tailored, share: true }] : []),
    ...(tailored ? [{ name: 'tailored-vq128', label: `tailored ${tailored.kernelVersion}, 128-entry virtqueues`, guest: tailored, tuning: { virtqueueSize: 128 }, share: true }] : []),
    ...(tailored ? [{ name: 'tailored-tb12', label: `tailored ${tailored.kernelVersion}, tb-size 12`, guest: tailored, tuning: { tcgTbSizeMiB: 12 }, share: true }] : []),
    ...(tailored ? [{ name: 'tailored-tb14', label: `tailored ${tailored.kernelVersion}, tb-size 14`, guest: tailored, tuning: { tcgTbSizeMiB: 14 }, share: true }] : []),
    ...(tailored ? [{ name: 'tailored-tb10', label: `tailored ${tailored.kernelVersion}, tb-size 10`, guest: tailored, tuning: { tcgTbSizeMiB: 10 }, share: true }] : []),
    ...(tailored ? [{ name: 'tailored-tb8', label: `tailored ${tailored.kernelVersion}, tb-size 8`, guest: tailored, tuning: { tcgTbSizeMiB: 8 }, share: true }] : []),
    ...(await Promise.all(extra.map(async (e) => ({ name: e.label, label: `${e.label} ${(await findGuestArtifacts(e.dir)).kernelVersion}${e.share ? '' : ' (no 9p share)'}`, guest: await findGuestArtifacts(e.dir), share: e.share })))),
  ].filter((c) => !only || only.has(c.name));
  if (candidates.length === 0) throw new Error(`--only matched no candidate`);
  const probe = new MicroVmRuntimeHandler({ stateDir: join(tmp, 'state-probe'), guest: debian, logger: silentLogger(), accelerator: 'auto' });
  const accel = await probe.detectAccelerator(AbortSignal.timeout(120_000));
  const variants = candidates.map((c, i) => ({
    ...c,
    h: new MicroVmRuntimeHandler({
      stateDir: join(tmp, `state-${i}`),
      guest: c.guest,
      logger: silentLogger(),
      accelerator: accel,
      bootTimeoutMs: 300_000,
      volumeShare: c.share,
      ...(c.tuning ? { tuning: c.tuning } : {}),
    }),
    boot: [] as number[],
    toHello: [] as number[],
    create: [] as number[],
    vmlinuxBytes: statSync(c.guest.vmlinux).size,
    initrdBytes: statSync(c.guest.initrd).size,
    mem: [] as ReturnType<typeof smapsKb>[],
    guestUsed: [] as number[],
    memTotal: [] as number[],
    containerRss: [] as number[],
    balloon: [] as boolean[],
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
      const sig = AbortSignal.timeout(600_000);
      const logPath = join(tmp, 'logs', `${sid}.log`);
      const t0 = performance.now();
      await v.h.createSandbox({ ...sandboxConfig({ id: sid, stateDir: join(tmp, 'pods', sid, 'sandbox'), cgroupParent: '' }), resources: { memoryBytes: 256 << 20 } }, sig);
      const tHello = performance.now();
      v.toHello.push(tHello - t0);
      const c = containerConfig({ id: `${sid}-c`, sandboxId: sid, rootfs, command: COMMAND, logPath });
      await v.h.createContainer(c, sig);
      v.create.push(performance.now() - tHello);
      await v.h.start(c.id, sig);
      await until(() => existsSync(logPath) && statSync(logPath).size > 0, 120_000);
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
  for (const [vi, v] of variants.entries()) {
    const idleIds: SandboxId[] = [];
    for (let i = 0; i < idleCount; i++) {
      const sid = `idle-${vi}-${i}` as SandboxId;
      const sig = AbortSignal.timeout(600_000);
      await v.h.createSandbox({ ...sandboxConfig({ id: sid, stateDir: join(tmp, 'pods', sid, 'sandbox'), cgroupParent: '' }), resources: { memoryBytes: 256 << 20 } }, sig);
      idleIds.push(sid);
      const idle = containerConfig({ id: `${sid}-c`, sandboxId: sid, rootfs, command: ['sleep', '1000'], logPath: join(tmp, 'logs', `${sid}.log`) });
      await v.h.createContainer(idle, sig);
      await v.h.start(idle.id, sig);
    }
    // free page reporting waits ~2 s before it reports what the guest freed
    await new Promise((r) => setTimeout(r, 5000));
    for (const sid of idleIds) {
      const sig = AbortSignal.timeout(120_000);
      const vm = await v.h.vmInfo(sid);
      if (!vm) continue;
      vmMiB = vm.memoryMiB;
      v.mem.push(smapsKb(vm.pid, v.guest.vmlinux));
      const s = await v.h.sandboxStats(sid, sig);
      v.guestUsed.push(s.memory.workingSetBytes / 1024);
      let out = '';
      const sink = new PassThrough();
      sink.on('data', (d: Buffer) => (out += d.toString()));
      await v.h.exec(`${sid}-c` as ContainerId, {
        command: ['sh', '-c', 'cat /proc/meminfo; echo "BALLOON=$(ls /sys/bus/virtio/drivers/virtio_balloon 2>/dev/null | grep -c virtio)"; for f in /proc/[0-9]*/status; do cat $f; done'],
        tty: false,
        stdout: sink,
        signal: sig,
      });
      v.memTotal.push(Number(/^MemTotal:\s+(\d+)/m.exec(out)?.[1] ?? NaN));
      v.balloon.push(/^BALLOON=[1-9]/m.test(out));
      const sleepStatus = out.split(/^(?=Name:)/m).find((b) => /^Name:\s+sleep$/m.test(b)) ?? '';
      if (!/^VmRSS:/m.test(sleepStatus)) process.stderr.write(`no sleep process RSS in the guest /proc: ${sleepStatus.slice(0, 600) || out.slice(0, 400)}\n`);
      v.containerRss.push(Number(/^VmRSS:\s+(\d+)/m.exec(sleepStatus)?.[1] ?? 0));
    }
    for (const sid of idleIds) await v.h.removeSandbox(sid, AbortSignal.timeout(120_000));
  }

  const avg = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const before = variants.find((v) => v.name === baseName) ?? variants[0]!;
  const ratio = (x: number, base: number): string => `${(x / base).toFixed(2)}×`;
  process.stdout.write(`\nmicroVM boot → first container output (${iterations} runs each, interleaved, accelerator: ${accel})\n\n`);
  process.stdout.write(
    table(
      ['candidate', 'p50', 'p99', `vs ${before.name} (p50)`, 'createSandbox→agent hello (p50)', 'createContainer (p50)'],
      [
        ...variants.map((v) => [v.label, f(pct(v.boot, 50)), f(pct(v.boot, 99)), ratio(pct(v.boot, 50), pct(before.boot, 50)), f(pct(v.toHello, 50)), f(pct(v.create, 50))]),
        ['runc (bare `runc run`)', f(pct(runc, 50)), f(pct(runc, 99)), ratio(pct(runc, 50), pct(before.boot, 50)), '-', '-'],
      ],
    ),
  );
  process.stdout.write(`\nidle sandbox memory on the host (${idleCount} idle VMs side by side per candidate, -m ${vmMiB} MiB each, accelerator: ${accel}), mean per VM\n\n`);
  const m = (v: (typeof variants)[number], k: keyof ReturnType<typeof smapsKb>): number => avg(v.mem.map((x) => x[k]));
  process.stdout.write(
    table(
      ['candidate', 'vmlinux / initrd', 'balloon', 'qemu RSS', 'qemu PSS', '= guest RAM', '+ kernel file', '+ qemu anon', 'guest MemTotal', 'guest used', 'sandbox overhead (PSS − container)', `vs ${before.name}`],
      variants.map((v) => [
        v.label,
        `${mb(v.vmlinuxBytes / 1024)} / ${mb(v.initrdBytes / 1024)}`,
        v.balloon.every(Boolean) && v.balloon.length > 0 ? 'reporting' : 'no',
        mb(m(v, 'rss')),
        mb(m(v, 'pss')),
        mb(m(v, 'guestRam')),
        mb(m(v, 'kernelFile')),
        mb(m(v, 'anon')),
        mb(avg(v.memTotal)),
        mb(avg(v.guestUsed)),
        mb(m(v, 'pss') - avg(v.containerRss)),
        ratio(m(v, 'pss') - avg(v.containerRss), m(before, 'pss') - avg(before.containerRss)),
      ]),
    ),
  );
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
