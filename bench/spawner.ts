/**
 * The OCI handler's create + start of a runc container on an overlay rootfs, with the agent
 * spawning mount(8) and conmon itself vs through host/spawner.ts, alternated in one process whose
 * heap is grown to an agent's size (a fork costs by RSS). Prints wall and the agent process's own
 * CPU (process.cpuUsage: the forks land there) p50 per side. Asserts nothing. Needs root.
 * Run: node --import tsx bench/spawner.ts [iterations=10]
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../src/lib/log.ts';
import { Spawner } from '../src/agent/host/spawner.ts';
import { OciRuntimeHandler } from '../src/agent/runtime/oci/oci-handler.ts';
import { runCommand } from '../src/agent/host/run-command.ts';
import { addNetns, containerConfig, delNetns, makeBusyboxRootfs, sandboxConfig } from '../src/agent/runtime/oci/test-support.ts';
import type { ContainerId, SandboxId } from '../src/agent/runtime/types.ts';

const n = Number(process.argv[2] ?? 10);
const tmp = mkdtempSync(join(tmpdir(), 'hedge-bench-sp-'));
const lower = makeBusyboxRootfs(join(tmp, 'lower'));
const suffix = randomBytes(3).toString('hex');
const netns = `hedge-bench-sp-${suffix}`;
const netnsPath = addNetns(netns);
const spawner = new Spawner();
// an agent-sized heap (~100 MB RSS): what each fork of this process copies
const ballast: unknown[] = [];
for (let i = 0; i < 200_000; i++) ballast.push({ i, s: `x${i}` });
const mk = (name: string, sp?: Spawner): OciRuntimeHandler =>
  new OciRuntimeHandler({ name, runtime: { binary: '/usr/sbin/runc', kind: 'runc', globalArgs: [] }, stateDir: join(tmp, `st-${name}`), conmonBinary: '/usr/bin/conmon', logger: silentLogger(), ...(sp ? { spawner: sp } : {}) });
const sides = { agent: mk('a'), spawner: mk('s', spawner) };
const sig = (): AbortSignal => AbortSignal.timeout(60_000);
const res: Record<string, { wall: number[]; self: number[] }> = { agent: { wall: [], self: [] }, spawner: { wall: [], self: [] } };
const sb = sandboxConfig({ id: `sb-${suffix}`, stateDir: join(tmp, 'sb'), netnsPath, cgroupParent: `hedge-bench-sp/pod-${suffix}` });
try {
  for (const h of Object.values(sides)) await h.createSandbox(sb, sig());
  for (let i = -1; i < n; i++) {
    for (const [name, h] of Object.entries(sides)) {
      const id = `${name[0]}${i + 1}-${suffix}` as ContainerId;
      const d = join(tmp, 'snap', id);
      for (const x of ['u', 'w']) mkdirSync(join(d, x), { recursive: true });
      const cfg = { ...containerConfig({ id, sandboxId: sb.id, rootfs: lower, command: ['sleep', '30'], logPath: join(tmp, 'logs', `${id}.log`) }), rootfs: [{ type: 'overlay', source: 'overlay', options: ['index=off', `workdir=${d}/w`, `upperdir=${d}/u`, `lowerdir=${lower}`] }] };
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await h.createContainer(cfg, sig());
      await h.start(id, sig());
      const t = performance.now() - t0;
      const c1 = process.cpuUsage(c0);
      // the first round warms both sides (page cache, the helper's start)
      if (i >= 0) {
        res[name]!.wall.push(t);
        res[name]!.self.push((c1.user + c1.system) / 1000);
      }
      await h.stop(id, { timeoutSeconds: 0, signal: sig() });
      await h.remove(id, sig());
    }
  }
} finally {
  for (const h of Object.values(sides)) await h.removeSandbox(sb.id as SandboxId, AbortSignal.timeout(60_000)).catch(() => undefined);
  delNetns(netns);
  spawner.close();
  rmSync(tmp, { recursive: true, force: true });
  for (const ctl of ['cpu', 'cpuacct', 'memory', 'pids', 'blkio', 'cpuset', 'devices', 'freezer', 'systemd']) await runCommand('rmdir', [`/sys/fs/cgroup/${ctl}/hedge-bench-sp`]).catch(() => undefined);
}
const p50 = (xs: number[]): string => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!.toFixed(1);
console.log(`\n### runc create + start on an overlay rootfs: agent-spawned vs spawner (${n} each, alternated, agent RSS ${(process.memoryUsage().rss / 1e6).toFixed(0)} MB)\n`);
console.log('| mount + conmon run by | wall p50 ms | agent CPU p50 ms |');
console.log('| --- | --- | --- |');
for (const [k, v] of Object.entries(res)) console.log(`| ${k === 'agent' ? 'the agent (spawn)' : 'the spawner'} | ${p50(v.wall)} | ${p50(v.self)} |`);
void ballast;
