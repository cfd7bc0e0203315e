/**
 * Sandbox overhead per pod, measured — the numbers that go into each RuntimeClass `overhead`.
 *
 * For each handler it starts N idle pods (one `sleep` container each, own netns, conmon-supervised
 * through OciRuntimeHandler), lets them settle, then sums over every host process the pod owns
 * (conmon and all its descendants: runc's container process; gVisor's sandbox (Sentry) and gofer):
 * - memory: PSS from /proc/PID/smaps_rollup (shared pages split fairly between pods);
 * - CPU: utime+stime over an idle window, as millicores.
 * The workload itself (a bare busybox `sleep` started as a plain host process, measured the same
 * way in the same run) is subtracted, so what remains is what the sandbox adds.
 * Prints a table; asserts nothing. Needs root.
 * Run: node --import tsx bench/runtime-overhead.ts [pods=4] [idleSeconds=5]
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../src/lib/log.ts';
import { waitFor } from '../src/agent/host/process.ts';
import { OciRuntimeHandler } from '../src/agent/runtime/oci/oci-handler.ts';
import { runCommand } from '../src/agent/host/run-command.ts';
import { addNetns, containerConfig, delNetns, makeBusyboxRootfs, sandboxConfig } from '../src/agent/runtime/oci/test-support.ts';
import type { ContainerId, SandboxId } from '../src/agent/runtime/types.ts';

const pods = Number(process.argv[2] ?? 4);
const idleSeconds = Number(process.argv[3] ?? 5);
const CLK_TCK = 100;

const cases = [
  { name: 'runc', kind: 'runc' as const, binary: '/usr/sbin/runc', globalArgs: [] as string[] },
  { name: 'gvisor', kind: 'runsc' as const, binary: '/usr/bin/runsc', globalArgs: ['--network=host', '--platform=ptrace'] },
];

function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm may contain spaces and parens: fields start after the last ')'
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

function descendantsOf(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const e of readdirSync('/proc')) {
    const pid = Number(e);
    if (!Number.isInteger(pid)) continue;
    const ppid = parentOf(pid);
    if (ppid === undefined) continue;
    children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length) {
    const p = stack.pop()!;
    out.push(p);
    stack.push(...(children.get(p) ?? []));
  }
  return out;
}

function pssKiB(pid: number): number {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

function cpuTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]); // utime, stime (fields 14, 15)
  } catch {
    return 0;
  }
}

interface Footprint {
  pssMiB: number;
  cpuMilli: number;
  processes: number;
}

async function measure(pidSets: () => number[][]): Promise<Footprint> {
  const before = pidSets().map((s) => s.reduce((a, p) => a + cpuTicks(p), 0));
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, idleSeconds * 1000));
  const seconds = (performance.now() - t0) / 1000;
  const sets = pidSets();
  const after = sets.map((s) => s.reduce((a, p) => a + cpuTicks(p), 0));
  const n = sets.length;
  const pss = sets.reduce((a, s) => a + s.reduce((b, p) => b + pssKiB(p), 0), 0) / n / 1024;
  const cpu = after.reduce((a, v, i) => a + (v - (before[i] ?? 0)), 0) / n / CLK_TCK / seconds * 1000;
  return { pssMiB: pss, cpuMilli: cpu, processes: sets.reduce((a, s) => a + s.length, 0) / n };
}

const tmp = mkdtempSync(join(tmpdir(), 'hedge-bench-ovh-'));
const rootfs = makeBusyboxRootfs(join(tmp, 'rootfs'));
const suffix = randomBytes(3).toString('hex');
const rows: string[][] = [];

// The workload alone: the same busybox sleep as a plain host process.
const bare = Array.from({ length: pods }, () => spawn('/bin/busybox', ['sleep', '600'], { stdio: 'ignore' }));
const workload = await measure(() => bare.map((c) => [c.pid!]));
for (const c of bare) c.kill('SIGKILL');
rows.push(['workload alone (busybox sleep)', String(pods), workload.pssMiB.toFixed(2), workload.cpuMilli.toFixed(1), '1', '—', '—']);

try {
  for (const c of cases) {
    if (!existsSync(c.binary)) {
      rows.push([c.name, 'skipped: binary missing', '', '', '', '', '']);
      continue;
    }
    const stateDir = join(tmp, `state-${c.name}`);
    const h = new OciRuntimeHandler({ name: c.name, runtime: c, stateDir, conmonBinary: 'conmon', logger: silentLogger() });
    const started: { netns: string; sb: SandboxId; id: ContainerId }[] = [];
    const sig = (): AbortSignal => AbortSignal.timeout(60_000);
    try {
      for (let i = 0; i < pods; i++) {
        const netns = `hedge-ovh-${c.name}-${i}-${suffix}`;
        const netnsPath = addNetns(netns);
        const sb = sandboxConfig({ id: `sb-${c.name}-${i}`, stateDir: join(tmp, `sb-${c.name}-${i}`), netnsPath, cgroupParent: `hedge-bench/ovh-${c.name}-${i}-${suffix}` });
        await h.createSandbox(sb, sig());
        const id = `o${i}-${suffix}` as ContainerId;
        started.push({ netns, sb: sb.id, id });
        await h.createContainer(containerConfig({ id, sandboxId: sb.id, rootfs, command: ['sleep', '600'], logPath: join(tmp, 'logs', `${id}.log`) }), sig());
        await h.start(id, sig());
        await waitFor(async () => (await h.status(id, sig())).status.state === 'running', { timeoutMs: 30_000, signal: sig(), what: 'running' });
      }
      const conmonPids = started.map((s) => Number(readFileSync(join(stateDir, 'containers', s.id, 'conmon.pid'), 'utf8').trim()));
      const fp = await measure(() => conmonPids.map((p) => descendantsOf(p)));
      const memOverhead = Math.max(0, fp.pssMiB - workload.pssMiB);
      const cpuOverhead = Math.max(0, fp.cpuMilli - workload.cpuMilli);
      rows.push([c.name, String(pods), fp.pssMiB.toFixed(2), fp.cpuMilli.toFixed(1), fp.processes.toFixed(0), memOverhead.toFixed(2), cpuOverhead.toFixed(1)]);
    } finally {
      for (const s of started) {
        await h.stop(s.id, { timeoutSeconds: 0, signal: sig() }).catch(() => undefined);
        await h.remove(s.id, sig()).catch(() => undefined);
        await h.removeSandbox(s.sb, sig()).catch(() => undefined);
        delNetns(s.netns);
      }
    }
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
  for (const ctl of ['cpu', 'cpuacct', 'memory', 'pids', 'blkio', 'cpuset', 'devices', 'freezer', 'systemd']) {
    await runCommand('rmdir', [`/sys/fs/cgroup/${ctl}/hedge-bench`], { signal: AbortSignal.timeout(5000) }).catch(() => undefined);
  }
}

const head = ['handler', 'pods', 'PSS/pod MiB', 'idle CPU/pod m', 'host procs/pod', 'overhead MiB', 'overhead CPU m'];
const widths = head.map((x, i) => Math.max(x.length, ...rows.map((r) => (r[i] ?? '').length)));
const fmt = (r: string[]): string => `| ${r.map((c, i) => (c ?? '').padEnd(widths[i])).join(' | ')} |`;
process.stdout.write(`${fmt(head)}\n|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|\n${rows.map(fmt).join('\n')}\n`);
