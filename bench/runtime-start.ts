/**
 * Container create → running through OciRuntimeHandler (conmon-supervised) vs a bare
 * `runc run -d` / `crun run -d` / `runsc run --detach` of an equivalent bundle, same run, same
 * rootfs, runs interleaved. Prints where the handler's time goes (its spans, p50 per step) and
 * ours vs bare p50/p99 with the ratio. Asserts nothing. Needs root.
 * crun runs through the handler's hybrid-cgroup wrapper on both sides (it refuses hybrid mode).
 * Run: node --import tsx bench/runtime-start.ts [iterations=10] [runtimes=runc,crun,runsc]
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../src/lib/log.ts';
import { waitFor } from '../src/agent/host/process.ts';
import { OciRuntimeHandler } from '../src/agent/runtime/oci/oci-handler.ts';
import { runChecked, runCommand } from '../src/agent/host/run-command.ts';
import { buildSpec, type OciRuntimeKind } from '../src/agent/runtime/oci/spec.ts';
import { addNetns, containerConfig, delNetns, makeBusyboxRootfs, sandboxConfig } from '../src/agent/runtime/oci/test-support.ts';
import type { ContainerId, SandboxId } from '../src/agent/runtime/types.ts';

const iterations = Number(process.argv[2] ?? 10);
const only = process.argv[3]?.split(',');
interface Case {
  name: string;
  kind: OciRuntimeKind;
  binary: string;
  globalArgs: string[];
  detach: string;
}
const allCases: Case[] = [
  { name: 'runc', kind: 'runc', binary: '/usr/sbin/runc', globalArgs: [], detach: '-d' },
  { name: 'crun', kind: 'crun', binary: '/usr/bin/crun', globalArgs: [], detach: '-d' },
  { name: 'gvisor', kind: 'runsc', binary: '/usr/bin/runsc', globalArgs: ['--network=host', '--platform=ptrace'], detach: '--detach' },
];
const cases = allCases.filter((c) => !only || only.includes(c.kind) || only.includes(c.name));

function pct(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]): string => r.map((c, i) => (c ?? '').padEnd(widths[i])).join('  ').trimEnd();
  return `${fmt(head)}\n${rows.map(fmt).join('\n')}\n`;
}

const rows: string[][] = [];
const breakdowns: string[] = [];
const tmp = mkdtempSync(join(tmpdir(), 'hedge-bench-rt-'));
const rootfs = makeBusyboxRootfs(join(tmp, 'rootfs'));
const suffix = randomBytes(3).toString('hex');
try {
  for (const c of cases) {
    if (!existsSync(c.binary)) {
      rows.push([c.name, 'skipped: binary missing']);
      continue;
    }
    const netns = `hedge-bench-${c.name}-${suffix}`;
    const netnsPath = addNetns(netns);
    const stateDir = join(tmp, `state-${c.name}`);
    const cgroupParent = `hedge-bench/pod-${c.name}-${suffix}`;
    // step → one sample per container (a step seen twice for one container is summed)
    const spans = new Map<string, Map<string, number>>();
    const h = new OciRuntimeHandler({
      name: c.name,
      runtime: c,
      stateDir,
      conmonBinary: 'conmon',
      logger: silentLogger(),
      onSpan: (step, ms, id) => {
        if (!id.startsWith('h')) return;
        const m = spans.get(step) ?? new Map<string, number>();
        m.set(id, (m.get(id) ?? 0) + ms);
        spans.set(step, m);
      },
    });
    const sb = sandboxConfig({ id: `sb-${c.name}`, stateDir: join(tmp, `sb-${c.name}`), netnsPath, cgroupParent });
    const sig = (): AbortSignal => AbortSignal.timeout(60_000);
    try {
      await h.createSandbox(sb, sig());
      const ours: number[] = [];
      const bare: number[] = [];
      const phases = { 'createContainer()': [] as number[], 'start()': [] as number[], 'status() until running': [] as number[] };
      // one unmeasured warm-up of each side: first exec of a binary pays page-cache misses
      for (let i = -1; i < iterations; i++) {
        const id = `${i < 0 ? 'w' : 'h'}${i + 1}-${suffix}` as ContainerId;
        const cfg = containerConfig({ id, sandboxId: sb.id, rootfs, command: ['sleep', '30'], logPath: join(tmp, 'logs', `${id}.log`) });
        const t0 = performance.now();
        await h.createContainer(cfg, sig());
        const t1 = performance.now();
        await h.start(id, sig());
        const t2 = performance.now();
        await waitFor(async () => (await h.status(id, sig())).status.state === 'running', { timeoutMs: 30_000, signal: sig(), what: 'running', intervalMs: 1 });
        const t3 = performance.now();
        if (i >= 0) {
          ours.push(t3 - t0);
          phases['createContainer()'].push(t1 - t0);
          phases['start()'].push(t2 - t1);
          phases['status() until running'].push(t3 - t2);
        }
        // removal is not measured, and finishes before the next start so it does not steal the CPU
        await h.stop(id, { timeoutSeconds: 0, signal: sig() });
        await h.remove(id, sig());

        // bare: same spec, rootfs used in place, no conmon
        const bid = `b${i + 1}-${suffix}`;
        const bundle = join(tmp, 'bare', bid);
        mkdirSync(bundle, { recursive: true });
        const spec = buildSpec({
          container: { ...cfg, id: bid as ContainerId },
          sandbox: sb,
          kind: c.kind,
          nofile: 20000,
          paths: { rootfs, hostsFile: join(sb.stateDir, 'hosts'), resolvConf: join(sb.stateDir, 'resolv.conf'), hostnameFile: join(sb.stateDir, 'hostname') },
        });
        writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
        const root = join(tmp, `bare-root-${c.name}`);
        const g = [...c.globalArgs, `--root=${root}`];
        const wrapper = join(stateDir, 'bin', 'crun-hybrid');
        const bin = c.kind === 'crun' && existsSync(wrapper) ? wrapper : c.binary;
        const wrap = (args: string[]): [string, string[]] => (c.kind === 'runsc' ? ['nsenter', [`--net=${netnsPath}`, '--', bin, ...args]] : [bin, args]);
        const tb = performance.now();
        // settled on its exit: the detached container inherits its stdio, and the pipes stay open as long as it runs
        await runChecked(...wrap([...g, 'run', c.detach, '--bundle', bundle, bid]), { signal: sig(), settleOnExit: true });
        if (i >= 0) bare.push(performance.now() - tb);
        await runCommand(...wrap([...g, 'delete', '--force', bid]), { signal: sig() });
        rmSync(bundle, { recursive: true, force: true });
      }
      const f = (x: number): string => x.toFixed(1);
      rows.push([c.name, String(iterations), f(pct(ours, 50)), f(pct(ours, 99)), f(pct(bare, 50)), f(pct(bare, 99)), (pct(ours, 50) / pct(bare, 50)).toFixed(2)]);
      const total = pct(ours, 50);
      const brows: string[][] = [];
      for (const [name, xs] of Object.entries(phases)) brows.push([name, f(pct(xs, 50)), f(pct(xs, 99)), `${((pct(xs, 50) / total) * 100).toFixed(0)}%`]);
      for (const [step, m] of spans) {
        const xs = [...m.values()];
        brows.push([`  ${step}`, f(pct(xs, 50)), f(pct(xs, 99)), `${((pct(xs, 50) / total) * 100).toFixed(0)}%`]);
      }
      breakdowns.push(`${c.name}: where create → running goes (p50 of total ${f(total)} ms; bare run p50 ${f(pct(bare, 50))} ms)\n${table(['step', 'p50 ms', 'p99 ms', 'of total'], brows)}`);
    } finally {
      await h.removeSandbox(sb.id as SandboxId, AbortSignal.timeout(60_000)).catch(() => undefined);
      delNetns(netns);
    }
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
  for (const ctl of ['cpu', 'cpuacct', 'memory', 'pids', 'blkio', 'cpuset', 'devices', 'freezer', 'systemd']) {
    await runCommand('rmdir', [`/sys/fs/cgroup/${ctl}/hedge-bench`], { signal: AbortSignal.timeout(5000) }).catch(() => undefined);
  }
}

process.stdout.write(`${breakdowns.join('\n')}\n`);
process.stdout.write(table(['handler', 'n', 'ours p50 ms', 'ours p99 ms', 'bare p50 ms', 'bare p99 ms', 'ratio p50'], rows));
