import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { CgroupCounters, readBlkio, readCgroupStats, readMemory, readOomKilled, readPids } from './cgroup.ts';
import { parseIoStat, readMemoryV2Sync } from './cgroup-v2.ts';
import { activateBlkioAccounting } from './blkio-accounting.ts';

// a fake unified root: the readers pick v2 by its cgroup.controllers (host/cgroup.ts)
const root = mkdtempSync(join(tmpdir(), 'hedge-cg2stats-'));
after(() => rmSync(root, { recursive: true, force: true }));
writeFileSync(join(root, 'cgroup.controllers'), 'cpuset cpu io memory hugetlb pids rdma misc\n');
const path = 'hedge/pod1/c1';
function put(p: string, file: string, text: string): void {
  mkdirSync(join(root, p), { recursive: true });
  writeFileSync(join(root, p, file), text);
}

// the kernel's own layouts (6.1)
put(path, 'cpu.stat', 'usage_usec 5000000\nuser_usec 3000000\nsystem_usec 2000000\nnr_periods 10\nnr_throttled 4\nthrottled_usec 123456\nnr_bursts 0\nburst_usec 0\n');
put(path, 'cpu.max', '50000 100000\n');
put(path, 'memory.current', '10485760\n');
put(
  path,
  'memory.stat',
  'anon 2097152\nfile 4194304\nkernel 126976\nkernel_stack 16384\nshmem 0\nfile_mapped 0\nactive_anon 2097152\ninactive_anon 0\nactive_file 3145728\ninactive_file 1048576\nunevictable 0\npgscan 0\npgsteal 0\npgfault 77\npgmajfault 3\n',
);
put(path, 'memory.events', 'low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n');
put(path, 'io.stat', '254:0 rbytes=4096 wbytes=8192 rios=2 wios=3 dbytes=0 dios=0\n8:16 rbytes=1 wbytes=0 rios=0 wios=0 dbytes=0 dios=0\n');
put(path, 'pids.current', '4\n');

test('v2: cpu.stat µs as ns, throttling under a quota, memory.current/stat (working set, anon as rss), memory.events OOM kills, io.stat, pids.current', async () => {
  const t = new Date('2024-01-01T00:00:00Z');
  const s = await readCgroupStats({ root, path }, () => t);
  assert.ok(s);
  assert.deepEqual(s.cpu, { usageCoreNanoSeconds: 5_000_000_000, throttling: { periods: 10, throttledPeriods: 4, throttledNanoSeconds: 123_456_000 } });
  assert.deepEqual(s.memory, { usageBytes: 10485760, workingSetBytes: 10485760 - 1048576, rssBytes: 2097152, pageFaults: 77, majorPageFaults: 3, oomKills: 1 });
  assert.deepEqual(s.blkio, { readBytes: 4097, writeBytes: 8192, readOps: 2, writeOps: 3 });
  assert.equal(s.processes, 4);
  assert.equal(await readPids({ root, path }), 4);
  assert.equal(await readOomKilled({ root, path }), true);
  assert.equal(await readCgroupStats({ root, path: 'missing' }), undefined);
  assert.equal(await readBlkio({ root, path: 'missing' }), undefined);
  // scope 'usage': no throttling, OOM kills, I/O or pids
  const u = await readCgroupStats({ root, path }, () => t, 'usage');
  assert.deepEqual(u, { timestamp: t, cpu: { usageCoreNanoSeconds: 5_000_000_000 }, memory: { usageBytes: 10485760, workingSetBytes: 10485760 - 1048576, rssBytes: 2097152, pageFaults: 77, majorPageFaults: 3 } });
});

test('v2: no quota (cpu.max `max`) gives no throttling; no oom_kill, no OOM; memory.current through kept-open counters', async () => {
  const p = 'hedge/pod2';
  put(p, 'cpu.stat', 'usage_usec 7\nuser_usec 4\nsystem_usec 3\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n');
  put(p, 'cpu.max', 'max 100000\n');
  put(p, 'memory.current', '4096\n');
  put(p, 'memory.events', 'low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n');
  const counters = new CgroupCounters();
  try {
    const s = await readCgroupStats({ root, path: p }, undefined, 'full', undefined, counters);
    assert.ok(s);
    assert.deepEqual(s.cpu, { usageCoreNanoSeconds: 7000 });
    assert.equal(s.memory.usageBytes, 4096);
    assert.equal(s.memory.workingSetBytes, 4096);
    assert.equal(await readOomKilled({ root, path: p }), false);
    writeFileSync(join(root, p, 'memory.current'), '8192\n');
    assert.equal((await readCgroupStats({ root, path: p }, undefined, 'usage', undefined, counters))?.memory.usageBytes, 8192);
  } finally {
    counters.close();
  }
});

test('v2 root cgroup: no memory.current, so usage is MemTotal − MemFree from /proc/meminfo, working set less the root memory.stat inactive_file', async () => {
  const r = mkdtempSync(join(tmpdir(), 'hedge-cg2root-'));
  try {
    writeFileSync(join(r, 'cgroup.controllers'), 'cpu memory pids\n');
    const meminfo = join(r, 'meminfo');
    writeFileSync(meminfo, 'MemTotal:        1000 kB\nMemFree:          200 kB\nMemAvailable:     600 kB\nInactive(file):   100 kB\nAnonPages:        300 kB\n');
    // without a root memory.stat: meminfo's Inactive(file) and AnonPages
    assert.deepEqual(readMemoryV2Sync({ root: r, path: '/' }, 'usage', undefined, undefined, meminfo), { usageBytes: 800 * 1024, workingSetBytes: 700 * 1024, rssBytes: 300 * 1024 });
    writeFileSync(join(r, 'memory.stat'), 'anon 204800\ninactive_file 51200\npgfault 9\npgmajfault 1\n');
    assert.deepEqual(readMemoryV2Sync({ root: r, path: '' }, 'usage', undefined, undefined, meminfo), {
      usageBytes: 800 * 1024,
      workingSetBytes: 800 * 1024 - 51200,
      rssBytes: 204800,
      pageFaults: 9,
      majorPageFaults: 1,
    });
    // a non-root cgroup without memory.current is gone, not the node
    assert.equal(readMemoryV2Sync({ root: r, path: 'hedge' }, 'usage', undefined, undefined, meminfo), undefined);
    // the exported reader on a unified root reads the host's real /proc/meminfo for it
    const node = await readMemory({ root: r, path: '/' }, 'usage');
    assert.ok(node && node.usageBytes > 0 && node.workingSetBytes <= node.usageBytes);
  } finally {
    rmSync(r, { recursive: true, force: true });
  }
});

test('parseIoStat sums every device, ignores unknown keys and junk lines', () => {
  assert.deepEqual(parseIoStat('8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=5 dios=1\n8:16 rbytes=1 wbytes=2 rios=3 wios=4\nnot a line\n\n'), { readBytes: 11, writeBytes: 22, readOps: 4, writeOps: 6 });
  assert.deepEqual(parseIoStat(''), { readBytes: 0, writeBytes: 0, readOps: 0, writeOps: 0 });
});

test('v2: blkio accounting needs no throttle rule (io.stat counts every bio): nothing written', async () => {
  assert.deepEqual(await activateBlkioAccounting({ cgroupRoot: root, cgroupPath: path, paths: [root] }), []);
});
