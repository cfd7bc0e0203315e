/**
 * Run inside the cgroup v2 test machine by cgroup-v2.cases.ts (`node --import tsx
 * test/vm/cgroup-v2-probe.ts`): the node's v2 code against the guest kernel's real hierarchy.
 * Makes a pod cgroup with limits, starts a process in it, reads its stats, makes a container
 * cgroup below it and has its process OOM-killed, runs a runc container below it, limits a pods
 * parent as node allocatable, reads the root's stats, and removes it all. Prints `PROBE <json>` of what it saw; exits 0 unless it
 * could not run to the end (the test makes the judgements).
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { cgroupHostProblem, createPodCgroup, isUnifiedCgroup, podCgroupProcs, removePodCgroup } from '../../src/agent/host/cgroup.ts';
import { makeCgroupV2 } from '../../src/agent/host/cgroup-v2.ts';
import { applyPodsCgroupLimits } from '../../src/agent/node/pods-cgroup.ts';
import { makeBusyboxRootfs } from '../../src/agent/runtime/oci/test-support.ts';
import { readCgroupStats, readOomKilled } from '../../src/agent/stats/cgroup.ts';

const ROOT = '/sys/fs/cgroup';
const PARENT = 'hedge-probe';
const POD = `${PARENT}/pod1`;
const read = (p: string): string => readFileSync(join(ROOT, p), 'utf8').trim();
const out: Record<string, unknown> = {};

out.unified = isUnifiedCgroup(ROOT);
out.hostProblem = cgroupHostProblem(ROOT) ?? 'none';

await createPodCgroup({ cgroupRoot: ROOT, cgroupParent: POD, resources: { cpuMilli: 500, memoryBytes: 64 << 20 } });
out.pod = { 'cpu.max': read(`${POD}/cpu.max`), 'cpu.weight': read(`${POD}/cpu.weight`), 'memory.max': read(`${POD}/memory.max`), parentSubtree: read(`${PARENT}/cgroup.subtree_control`) };

// a process started straight in the pod (as the PID namespace holder is): busy for a moment, then idle
const procs = await podCgroupProcs({ cgroupRoot: ROOT, cgroupParent: POD });
out.procs = procs.map((p) => p.slice(ROOT.length + 1));
const child = spawn('/bin/sh', ['-c', 'for f in "$@"; do echo $$ > "$f" || exit 1; done; head -c 50000000 /dev/zero | cat >/dev/null; echo ready; exec sleep 600', 'sh', ...procs], { stdio: ['ignore', 'pipe', 'inherit'] });
let stdout = '';
child.stdout.setEncoding('utf8');
await new Promise<void>((resolve, reject) => {
  child.stdout.on('data', (d: string) => {
    stdout += d;
    if (stdout.includes('ready')) resolve();
  });
  child.once('exit', (code) => reject(new Error(`the pod process exited early: ${code}`)));
});
const stats = await readCgroupStats({ root: ROOT, path: POD });
out.podStats = stats && { cpuNs: stats.cpu.usageCoreNanoSeconds, memory: stats.memory.usageBytes, workingSet: stats.memory.workingSetBytes, processes: stats.processes, blkio: stats.blkio };

// a container's cgroup below the pod while the process runs there: runc's fs2 enables the pod's
// controllers for its children, which v2 allows only without a process in the pod cgroup itself
const ctr = makeCgroupV2(ROOT, `${POD}/ctr1`);
writeFileSync(join(ctr, 'memory.max'), String(16 << 20));
writeFileSync(join(ctr, 'memory.swap.max'), '0');
const hog = spawn('/bin/sh', ['-c', 'echo $$ > "$0" && exec tail /dev/zero', join(ctr, 'cgroup.procs')], { stdio: 'ignore' });
const [code, signal] = (await once(hog, 'exit')) as [number | null, string | null];
out.ctr = { exit: signal ?? code, oomKilled: await readOomKilled({ root: ROOT, path: `${POD}/ctr1` }), podOomKilled: await readOomKilled({ root: ROOT, path: POD }) };

// runc (as the OCI handler runs it: cgroupsPath /<parent>/<id>, v1-style resources it converts)
// makes a container cgroup beside the pod's process leaf and enables the pod's controllers for it
if (existsSync('/usr/sbin/runc')) {
  const bundle = '/run/probe-bundle';
  makeBusyboxRootfs(join(bundle, 'rootfs'));
  execFileSync('runc', ['spec'], { cwd: bundle });
  const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as { process: { terminal: boolean; args: string[] }; linux: { namespaces: { type: string }[]; resources?: unknown; cgroupsPath?: string } };
  spec.process.terminal = false;
  spec.process.args = ['sh', '-c', 'cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/cpu.weight'];
  if (!spec.linux.namespaces.some((n) => n.type === 'cgroup')) spec.linux.namespaces.push({ type: 'cgroup' });
  spec.linux.resources = { memory: { limit: 32 << 20, swap: 32 << 20 }, cpu: { shares: 1024, quota: 20_000, period: 100_000 } };
  spec.linux.cgroupsPath = `/${POD}/runc1`;
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
  out.runc = execFileSync('runc', ['run', '-b', bundle, 'probe-runc1'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim().split('\n');
  out.runcCgroupLeft = existsSync(join(ROOT, POD, 'runc1'));
}

// the pods' parent as node allocatable, and the node's own figures from the root
applyPodsCgroupLimits({ cgroupFs: ROOT, cgroup: PARENT, limits: { memoryBytes: 512 << 20, cpuShares: 1024, pidsMax: 1000 } });
out.parent = { 'memory.max': read(`${PARENT}/memory.max`), 'cpu.weight': read(`${PARENT}/cpu.weight`), 'pids.max': read(`${PARENT}/pids.max`) };
const node = await readCgroupStats({ root: ROOT, path: '/' });
out.nodeStats = node && { cpuNs: node.cpu.usageCoreNanoSeconds, memory: node.memory.usageBytes, workingSet: node.memory.workingSetBytes };

child.kill('SIGKILL');
await once(child, 'exit');
// the task left its cgroup when it exited (before the reap): the pod cgroup is empty now
await removePodCgroup({ cgroupRoot: ROOT, cgroupParent: POD });
out.removed = !existsSync(join(ROOT, POD));
await removePodCgroup({ cgroupRoot: ROOT, cgroupParent: PARENT });
process.stdout.write(`PROBE ${JSON.stringify(out)}\n`);
