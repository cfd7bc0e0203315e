import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FakeClock } from '../../client/clock.ts';
import type { HostProbe } from '../node/host-probe.ts';
import { hostSignals } from './host-signals.ts';
import { diskUsage } from '../stats/pod-storage.ts';
import { readRlimit } from '../stats/rlimit.ts';
import { toSummary } from '../stats/summary.ts';

const Mi = 1024 * 1024;

describe('host signals', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hedge-evict-signals-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const host = (total: number): HostProbe => ({
    cpus: () => 2,
    identity: async () => ({ hostname: 'h', machineID: 'm', bootID: 'b', kernelVersion: 'k', osImage: 'o', architecture: 'amd64' }),
    usage: async () => ({ memory: { totalBytes: total, availableBytes: 999 }, disk: { totalBytes: 0, availableBytes: 0 }, pids: { used: 1000, max: 32768 } }),
  });

  it('memory.available = capacity − (root usage − total_inactive_file); fs and pids as statfs and pid_max give them', async () => {
    const cg = join(dir, 'cgroup');
    await mkdir(join(cg, 'memory'), { recursive: true });
    await writeFile(join(cg, 'memory', 'memory.usage_in_bytes'), `${3000 * Mi}\n`);
    await writeFile(join(cg, 'memory', 'memory.stat'), `cache 1\ninactive_file 5\ntotal_inactive_file ${1000 * Mi}\n`);
    const obs = await hostSignals({ host: host(8000 * Mi), dataDir: dir, imageDir: dir, clock: new FakeClock(), rootCgroup: { root: cg, path: '' }, procRoot: join(dir, 'no-proc') }).observe(new AbortController().signal);
    assert.deepEqual(obs['memory.available'], { available: 6000 * Mi, capacity: 8000 * Mi, time: Date.parse('2026-01-01T00:00:00Z') });
    assert.deepEqual([obs['pid.available']?.available, obs['pid.available']?.capacity], [31768, 32768], 'no /proc figures: the host probe\'s');
    const fs = statfsSync(dir);
    assert.equal(obs['nodefs.available']?.capacity, fs.blocks * fs.bsize);
    assert.equal(obs['imagefs.inodesFree']?.capacity, fs.files);
  });

  it('cgroup v2: the pods\' cgroup from memory.current − inactive_file; the root, which has no memory.current, from /proc/meminfo', async () => {
    const cg = join(dir, 'cgroup-v2');
    await mkdir(join(cg, 'hedge'), { recursive: true });
    await writeFile(join(cg, 'cgroup.controllers'), 'cpu io memory pids\n');
    await writeFile(join(cg, 'hedge', 'memory.current'), `${1500 * Mi}\n`);
    await writeFile(join(cg, 'hedge', 'memory.stat'), `anon ${1000 * Mi}\ninactive_file ${300 * Mi}\n`);
    const total = 8000 * Mi;
    const obs = await hostSignals({ host: host(total), dataDir: dir, imageDir: dir, clock: new FakeClock(), rootCgroup: { root: cg, path: '/' }, podsCgroup: { root: cg, path: 'hedge' }, reservedMemoryBytes: 1000 * Mi }).observe(
      new AbortController().signal,
    );
    assert.equal(obs['allocatableMemory.available']?.available, 5800 * Mi);
    // this host's real MemTotal − MemFree − inactive file: some use, not the host probe's fallback (999)
    const mem = obs['memory.available'];
    assert.ok(mem && mem.available < total && mem.available !== 999, JSON.stringify(mem));
  });

  it('allocatableMemory.available = (capacity − reserved) − the pods\' parent cgroup\'s working set; no pod cgroup yet: all of allocatable', async () => {
    const cg = join(dir, 'cgroup-alloc');
    await mkdir(join(cg, 'memory', 'hedge'), { recursive: true });
    await writeFile(join(cg, 'memory', 'memory.usage_in_bytes'), `${3000 * Mi}\n`);
    await writeFile(join(cg, 'memory', 'memory.stat'), `total_inactive_file ${1000 * Mi}\n`);
    await writeFile(join(cg, 'memory', 'hedge', 'memory.usage_in_bytes'), `${1500 * Mi}\n`);
    await writeFile(join(cg, 'memory', 'hedge', 'memory.stat'), `inactive_file 1\ntotal_inactive_file ${300 * Mi}\n`);
    const signals = (path: string) =>
      hostSignals({ host: host(8000 * Mi), dataDir: dir, imageDir: dir, clock: new FakeClock(), rootCgroup: { root: cg, path: '' }, podsCgroup: { root: cg, path }, reservedMemoryBytes: 1000 * Mi });
    const obs = await signals('hedge').observe(new AbortController().signal);
    assert.deepEqual(obs['allocatableMemory.available'], { available: 5800 * Mi, capacity: 7000 * Mi, time: Date.parse('2026-01-01T00:00:00Z') });
    assert.equal(obs['memory.available']?.available, 6000 * Mi, 'the node signal unchanged');
    assert.equal((await signals('none-yet').observe(new AbortController().signal))['allocatableMemory.available']?.available, 7000 * Mi);
    // no pods cgroup configured, or no memory controller at all: no signal
    const plain = await hostSignals({ host: host(8000 * Mi), dataDir: dir, imageDir: dir, clock: new FakeClock(), rootCgroup: { root: cg, path: '' } }).observe(new AbortController().signal);
    assert.equal(plain['allocatableMemory.available'], undefined);
    const bare = await hostSignals({ host: host(8000 * Mi), dataDir: dir, imageDir: dir, clock: new FakeClock(), rootCgroup: { root: join(dir, 'none'), path: '' }, podsCgroup: { root: join(dir, 'none'), path: 'hedge' } }).observe(new AbortController().signal);
    assert.equal(bare['allocatableMemory.available'], undefined);
  });

  it('pid.available = the summary\'s rlimit: min(pid_max, threads-max) − the tasks in /proc/loadavg (upstream pidlimit)', async () => {
    const proc = join(dir, 'proc');
    await mkdir(join(proc, 'sys', 'kernel'), { recursive: true });
    await writeFile(join(proc, 'sys', 'kernel', 'pid_max'), '4194304\n');
    await writeFile(join(proc, 'sys', 'kernel', 'threads-max'), '15000\n');
    await writeFile(join(proc, 'loadavg'), '0.10 0.20 0.30 2/420 12345\n');
    assert.deepEqual(readRlimit(proc), { maxpid: 15000, curproc: 420 });
    const obs = await hostSignals({ host: host(8000 * Mi), dataDir: dir, imageDir: dir, clock: new FakeClock(), procRoot: proc }).observe(new AbortController().signal);
    assert.deepEqual([obs['pid.available']?.available, obs['pid.available']?.capacity], [14580, 15000]);
    // the same figures in /stats/summary's node.rlimit
    const t = new Date(0);
    assert.deepEqual(toSummary({ nodeName: 'n', node: { timestamp: t, startTime: t, rlimit: readRlimit(proc) }, pods: [] }).node.rlimit, { time: t.toISOString(), maxpid: 15000, curproc: 420 });
  });

  it('without a readable root cgroup, the kernel\'s MemAvailable', async () => {
    const obs = await hostSignals({ host: host(8000), dataDir: dir, imageDir: dir, clock: new FakeClock(), rootCgroup: { root: join(dir, 'none'), path: '' } }).observe(new AbortController().signal);
    assert.equal(obs['memory.available']?.available, 999);
  });

  it('diskUsage counts allocated blocks and inodes, a hard link once', async () => {
    const d = join(dir, 'du');
    await mkdir(d);
    await writeFile(join(d, 'a'), Buffer.alloc(2 * Mi, 1));
    const { link } = await import('node:fs/promises');
    await link(join(d, 'a'), join(d, 'b'));
    const u = await diskUsage(d);
    assert.ok(u.bytes >= 2 * Mi && u.bytes < 2 * Mi + 64 * 1024, `${u.bytes}`);
    assert.equal(u.inodes, 2, 'the directory and one file');
    assert.deepEqual(await diskUsage(join(dir, 'missing')), { bytes: 0, inodes: 0 });
  });
});
