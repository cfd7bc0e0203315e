/**
 * Container create → running through OciRuntimeHandler (conmon-supervised) vs a bare
 * `runc run -d` / `runsc run --detach` of an equivalent bundle, same run, same rootfs.
 * Prints p50/p99 and the ratio; asserts nothing. Needs root.
 * Run: node --import tsx bench/runtime-start.ts [iterations]
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../src/lib/log.ts';
import { OciRuntimeHandler } from '../src/agent/runtime/oci/oci-handler.ts';
import { waitFor } from '../src/agent/runtime/oci/oci-handler.ts';
import { runChecked, runCommand } from '../src/agent/runtime/oci/run-command.ts';
import { buildSpec, type OciRuntimeKind } from '../src/agent/runtime/oci/spec.ts';
import { addNetns, containerConfig, delNetns, makeBusyboxRootfs, sandboxConfig } from '../src/agent/runtime/oci/test-support.ts';
import type { ContainerId, SandboxId } from '../src/agent/runtime/types.ts';

const iterations = Number(process.argv[2] ?? 10);
const cases: { name: string; kind: OciRuntimeKind; binary: string; globalArgs: string[]; detach: string }[] = [
  { name: 'runc', kind: 'runc', binary: '/usr/sbin/runc', globalArgs: [], detach: '-d' },
  { name: 'gvisor', kind: 'runsc', binary: '/usr/bin/runsc', globalArgs: ['--network=host', '--platform=ptrace'], detach: '--detach' },
];

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

const rows: string[][] = [];
const tmp = mkdtempSync(join(tmpdir(), 'hedge-bench-rt-'));
const rootfs = makeBusyboxRootfs(join(tmp, 'rootfs'));
const suffix = randomBytes(3).toString('hex');
try {
  for (const c of cases) {
    if (!existsSync(c.binary)) {
      rows.push([c.name, 'skipped: binary missing', '', '', '', '', '']);
      continue;
    }
    const netns = `hedge-bench-${c.name}-${suffix}`;
    const netnsPath = addNetns(netns);
    const stateDir = join(tmp, `state-${c.name}`);
    const cgroupParent = `hedge-bench/pod-${c.name}-${suffix}`;
    const h = new OciRuntimeHandler({ name: c.name, runtime: c, stateDir, conmonBinary: 'conmon', logger: silentLogger() });
    const sb = sandboxConfig({ id: `sb-${c.name}`, stateDir: join(tmp, `sb-${c.name}`), netnsPath, cgroupParent });
    const sig = (): AbortSignal => AbortSignal.timeout(60_000);
    try {
      await h.createSandbox(sb, sig());
      const ours: number[] = [];
      const bare: number[] = [];
      for (let i = 0; i < iterations; i++) {
        const id = `h${i}-${suffix}` as ContainerId;
        const cfg = containerConfig({ id, sandboxId: sb.id, rootfs, command: ['sleep', '30'], logPath: join(tmp, 'logs', `${id}.log`) });
        const t0 = performance.now();
        await h.createContainer(cfg, sig());
        await h.start(id, sig());
        await waitFor(async () => (await h.status(id, sig())).status.state === 'running', { timeoutMs: 30_000, signal: sig(), what: 'running' });
        ours.push(performance.now() - t0);
        await h.stop(id, { timeoutSeconds: 0, signal: sig() });
        await h.remove(id, sig());

        // bare: same spec, rootfs used in place, no conmon
        const bid = `b${i}-${suffix}`;
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
        const wrap = (args: string[]): [string, string[]] => (c.kind === 'runsc' ? ['nsenter', [`--net=${netnsPath}`, '--', c.binary, ...args]] : [c.binary, args]);
        const t1 = performance.now();
        await runChecked(...wrap([...g, 'run', c.detach, '--bundle', bundle, bid]), { signal: sig() });
        bare.push(performance.now() - t1);
        await runCommand(...wrap([...g, 'delete', '--force', bid]), { signal: sig() });
        rmSync(bundle, { recursive: true, force: true });
      }
      const r = (xs: number[], p: number): string => pct(xs, p).toFixed(1);
      rows.push([c.name, String(iterations), r(ours, 50), r(ours, 99), r(bare, 50), r(bare, 99), (pct(ours, 50) / pct(bare, 50)).toFixed(2)]);
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

const head = ['handler', 'n', 'ours p50 ms', 'ours p99 ms', 'bare p50 ms', 'bare p99 ms', 'ratio p50'];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
const fmt = (r: string[]): string => r.map((c, i) => (c ?? '').padEnd(widths[i])).join('  ');
process.stdout.write(`${fmt(head)}\n${rows.map(fmt).join('\n')}\n`);
