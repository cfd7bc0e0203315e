/**
 * MicroVM boot-to-process and idle memory, beside runc in the same run (same busybox rootfs,
 * same command). Labelled with the accelerator the handler detected (TCG on PVM hosts).
 *   boot→output: VM launch (createSandbox) → createContainer → start → the container's first
 *                line in its CRI log on the host.
 *   qemu PSS/RSS: /proc/<qemu>/smaps_rollup of an idle sandbox (a `sleep` container);
 *   guest used:   MemTotal − MemAvailable inside the guest; overhead = PSS − guest used.
 * Prints tables, asserts nothing. Needs root, qemu, Debian's linux-image, busybox-static.
 * Run: node --import tsx bench/microvm-boot.ts [iterations=5]
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../src/lib/log.ts';
import { runChecked } from '../src/agent/runtime/oci/run-command.ts';
import { containerConfig, makeBusyboxRootfs, sandboxConfig } from '../src/agent/runtime/oci/test-support.ts';
import type { SandboxId } from '../src/agent/runtime/types.ts';
import { buildGuest } from '../src/agent/runtime/microvm/guest-artifacts.ts';
import { MicroVmRuntimeHandler } from '../src/agent/runtime/microvm/microvm-handler.ts';

const iterations = Number(process.argv[2] ?? 5);
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
  const guest = await buildGuest({ outRoot: join(tmpdir(), 'hedge-guest-cache'), signal: AbortSignal.timeout(300_000) });
  const h = new MicroVmRuntimeHandler({ stateDir: join(tmp, 'state'), guest, logger: silentLogger(), accelerator: 'auto' });
  const accel = await h.detectAccelerator(AbortSignal.timeout(60_000));
  const boot: number[] = [];
  const toHello: number[] = [];
  const pss: number[] = [];
  const rss: number[] = [];
  const guestUsed: number[] = [];
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
    const sid = `bench-${i}` as SandboxId;
    const sig = AbortSignal.timeout(120_000);
    const logPath = join(tmp, 'logs', `${sid}.log`);
    const t0 = performance.now();
    await h.createSandbox({ ...sandboxConfig({ id: sid, stateDir: join(tmp, 'pods', sid), cgroupParent: 'unused' }), resources: { memoryBytes: 128 << 20 } }, sig);
    toHello.push(performance.now() - t0);
    const c = containerConfig({ id: `${sid}-c`, sandboxId: sid, rootfs, command: COMMAND, logPath });
    await h.createContainer(c, sig);
    await h.start(c.id, sig);
    await until(() => existsSync(logPath) && statSync(logPath).size > 0, 30_000);
    boot.push(performance.now() - t0);
    // idle sandbox: a sleeping container, then memory
    const idle = containerConfig({ id: `${sid}-idle`, sandboxId: sid, rootfs, command: ['sleep', '1000'], logPath: join(tmp, 'logs', `${sid}-idle.log`) });
    await h.createContainer(idle, sig);
    await h.start(idle.id, sig);
    await new Promise((r) => setTimeout(r, 500));
    const vm = await h.vmInfo(sid);
    if (vm) {
      vmMiB = vm.memoryMiB;
      const m = smapsKb(vm.pid);
      pss.push(m.pss);
      rss.push(m.rss);
      const s = await h.sandboxStats(sid, sig);
      guestUsed.push(s.memory.workingSetBytes / 1024);
    }
    await h.removeSandbox(sid, sig);

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

  const avg = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  process.stdout.write(`\nmicroVM boot → first container output (${iterations} runs, accelerator: ${accel}, guest ${guest.kernelVersion})\n\n`);
  process.stdout.write(
    table(
      ['runtime', 'accel', 'p50', 'p99', 'of which VM boot→agent hello (p50)'],
      [
        ['microvm', accel, f(pct(boot, 50)), f(pct(boot, 99)), f(pct(toHello, 50))],
        ['runc', '-', f(pct(runc, 50)), f(pct(runc, 99)), '-'],
      ],
    ),
  );
  process.stdout.write(`\nidle sandbox memory on the host (VM -m ${vmMiB} MiB, accelerator: ${accel}), mean of ${pss.length}\n\n`);
  process.stdout.write(
    table(
      ['qemu PSS', 'qemu RSS', 'guest used', 'overhead (PSS − guest used)'],
      [[mb(avg(pss)), mb(avg(rss)), mb(avg(guestUsed)), mb(avg(pss) - avg(guestUsed))]],
    ),
  );
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
