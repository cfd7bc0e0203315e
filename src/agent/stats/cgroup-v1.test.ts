import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { CgroupCounters, flatKeyedValue, parseBlkio, parseFlatKeyed, readBlkio, readCgroupStats, readOomKilled, readPids, withNanoCores } from './cgroup.ts';
import { parseNetDev } from './net-dev.ts';
import type { ContainerStats } from './types.ts';

const root = mkdtempSync(join(tmpdir(), 'hedge-cg-'));
after(() => rmSync(root, { recursive: true, force: true }));
const path = 'hedge/pod1/c1';
function put(ctl: string, file: string, text: string): void {
  mkdirSync(join(root, ctl, path), { recursive: true });
  writeFileSync(join(root, ctl, path, file), text);
}

put('cpuacct', 'cpuacct.usage', '5000000000\n');
put('cpuacct', 'cpuacct.stat', 'user 300\nsystem 200\n');
put('memory', 'memory.usage_in_bytes', '10485760\n');
put('memory', 'memory.stat', 'cache 4096\nrss 1000\ninactive_file 5\ntotal_rss 2097152\ntotal_inactive_file 1048576\ntotal_pgfault 77\ntotal_pgmajfault 3\n');
put('memory', 'memory.oom_control', 'oom_kill_disable 0\nunder_oom 0\noom_kill 1\n');
put('blkio', 'blkio.throttle.io_service_bytes', '8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Async 12288\n8:0 Total 12288\n8:16 Read 1\nTotal 12289\n');
put('blkio', 'blkio.throttle.io_serviced', '8:0 Read 2\n8:0 Write 3\n8:0 Total 5\nTotal 5\n');
put('pids', 'pids.current', '4\n');
put('cpu', 'cpu.cfs_quota_us', '50000\n');
put('cpu', 'cpu.stat', 'nr_periods 10\nnr_throttled 4\nthrottled_time 123456789\n');

test('reads cpu, memory (cAdvisor working set), blkio throttle files and pids', async () => {
  const t = new Date('2024-01-01T00:00:00Z');
  const s = await readCgroupStats({ root, path }, () => t);
  assert.ok(s);
  assert.deepEqual(s.cpu, { usageCoreNanoSeconds: 5_000_000_000, throttling: { periods: 10, throttledPeriods: 4, throttledNanoSeconds: 123456789 } });
  assert.deepEqual(s.memory, { usageBytes: 10485760, workingSetBytes: 10485760 - 1048576, rssBytes: 2097152, pageFaults: 77, majorPageFaults: 3, oomKills: 1 });
  assert.equal(s.processes, 4);
  assert.deepEqual(s.blkio, { readBytes: 4097, writeBytes: 8192, readOps: 2, writeOps: 3 });
  assert.equal(await readPids({ root, path }), 4);
  assert.equal(await readOomKilled({ root, path }), true);
  assert.equal(await readCgroupStats({ root, path: 'missing' }), undefined);
  assert.equal(await readBlkio({ root, path: 'missing' }), undefined);
});

test("scope 'usage' (/metrics/resource) gives the same CPU time and memory, without throttling, OOM kills, blkio or pids", async () => {
  const t = new Date('2024-01-01T00:00:00Z');
  const full = await readCgroupStats({ root, path }, () => t);
  const usage = await readCgroupStats({ root, path }, () => t, 'usage');
  assert.ok(full && usage);
  assert.deepEqual(usage, { timestamp: t, cpu: { usageCoreNanoSeconds: 5_000_000_000 }, memory: { usageBytes: 10485760, workingSetBytes: 10485760 - 1048576, rssBytes: 2097152, pageFaults: 77, majorPageFaults: 3 } });
  assert.equal(usage.cpu.usageCoreNanoSeconds, full.cpu.usageCoreNanoSeconds);
  assert.equal(usage.memory.workingSetBytes, full.memory.workingSetBytes);
  assert.equal(await readCgroupStats({ root, path: 'missing' }, () => t, 'usage'), undefined);
});

test('a pod cgroup counts its containers\' block I/O: the _recursive files win', async () => {
  mkdirSync(join(root, 'blkio', 'hedge/pod2'), { recursive: true });
  writeFileSync(join(root, 'blkio', 'hedge/pod2', 'blkio.throttle.io_service_bytes'), '254:0 Write 0\nTotal 0\n');
  writeFileSync(join(root, 'blkio', 'hedge/pod2', 'blkio.throttle.io_service_bytes_recursive'), '254:0 Read 0\n254:0 Write 33554432\nTotal 33554432\n');
  writeFileSync(join(root, 'blkio', 'hedge/pod2', 'blkio.throttle.io_serviced_recursive'), '254:0 Write 64\nTotal 64\n');
  assert.deepEqual(await readBlkio({ root, path: 'hedge/pod2' }), { readBytes: 0, writeBytes: 33554432, readOps: 0, writeOps: 64 });
});

test('usageNanoCores from two samples', () => {
  const a: ContainerStats = { timestamp: new Date(0), cpu: { usageCoreNanoSeconds: 1e9 }, memory: { usageBytes: 0, workingSetBytes: 0, rssBytes: 0 } };
  const b: ContainerStats = { ...a, timestamp: new Date(2000), cpu: { usageCoreNanoSeconds: 2e9 } };
  assert.equal(withNanoCores(b, a).cpu.usageNanoCores, 500_000_000);
  assert.equal(withNanoCores(b, undefined).cpu.usageNanoCores, undefined);
  assert.equal(withNanoCores(a, b).cpu.usageNanoCores, undefined); // counter reset / clock skew
});

test('usageNanoCores of two samples read on the real clock uses the monotonic clock: same wall-clock millisecond, or the wall clock stepped back', async () => {
  const p2 = 'hedge/pod3/c1';
  mkdirSync(join(root, 'cpuacct', p2), { recursive: true });
  mkdirSync(join(root, 'memory', p2), { recursive: true });
  writeFileSync(join(root, 'memory', p2, 'memory.usage_in_bytes'), '4096\n');
  writeFileSync(join(root, 'memory', p2, 'memory.stat'), 'total_rss 4096\n');
  const read = async (usage: number, at: Date): Promise<ContainerStats> => {
    writeFileSync(join(root, 'cpuacct', p2, 'cpuacct.usage'), `${usage}\n`);
    const s = await readCgroupStats({ root, path: p2 }, undefined, 'usage');
    assert.ok(s);
    s.timestamp = at; // what the wall clock said when the sample was taken
    return s;
  };
  const t = new Date('2024-01-01T00:00:00Z');
  const [a, b, c] = [await read(1000, t), await read(2000, t), await read(3000, new Date(t.getTime() - 60_000))];
  const ab = withNanoCores(b, a);
  assert.ok(ab.cpu.usageNanoCores !== undefined && ab.cpu.usageNanoCores > 0, JSON.stringify(ab.cpu));
  const bc = withNanoCores(c, b);
  assert.ok(bc.cpu.usageNanoCores !== undefined && bc.cpu.usageNanoCores > 0, JSON.stringify(bc.cpu));
  // a caller's own clock is its time base: equal timestamps, no rate
  const d = await readCgroupStats({ root, path: p2 }, () => t, 'usage');
  const e = await readCgroupStats({ root, path: p2 }, () => t, 'usage');
  assert.ok(d && e);
  assert.equal(withNanoCores(e, d).cpu.usageNanoCores, undefined);
});

test('parseBlkio ignores Total and malformed lines', () => {
  assert.deepEqual(parseBlkio('8:0 Read 10\nTotal 10\ngarbage\n'), { read: 10, write: 0 });
});

test('parseNetDev skips lo', () => {
  const text = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0
  eth0:    2000      20    1    0    0     0          0         0     3000      30    2    0    0     0       0          0
`;
  assert.deepEqual(parseNetDev(text), { interfaces: [{ name: 'eth0', rxBytes: 2000, rxErrors: 1, txBytes: 3000, txErrors: 2 }] });
});

test('flatKeyedValue reads one key as parseFlatKeyed does: every key of a real memory.stat, prefixes, the last line, bad values', () => {
  const host = '/sys/fs/cgroup/memory/memory.stat';
  const texts = ['rss 1\nrss_huge 2\ntotal_rss 3\nlast 4', 'a -5\nb x\nc 6 \n', ''];
  if (existsSync(host)) texts.push(readFileSync(host, 'utf8'));
  for (const text of texts) {
    const all = parseFlatKeyed(text);
    for (const k of [...all.keys(), 'missing', 'rss_', 'total_', 'b']) assert.equal(flatKeyedValue(text, k), all.get(k), `${k} in ${JSON.stringify(text.slice(0, 40))}`);
  }
  assert.equal(flatKeyedValue('rss_huge 2\nrss 1', 'rss'), 1);
  assert.equal(flatKeyedValue('total_rss 3\nrss 1', 'rss'), 1);
  assert.equal(flatKeyedValue('last 4', 'last'), 4);
});

test("scope 'usage' with the previous sample: memory.stat figures taken over while CPU time and memory usage stand still, read again when either moved", async () => {
  const p = 'hedge/pod-reuse/c1';
  const put2 = (ctl: string, file: string, text: string): void => {
    mkdirSync(join(root, ctl, p), { recursive: true });
    writeFileSync(join(root, ctl, p, file), text);
  };
  const stat = (inactive: number, faults: number): string => `rss 1\ninactive_file ${inactive}\npgfault ${faults}\npgmajfault 0\n`;
  put2('cpuacct', 'cpuacct.usage', '1000\n');
  put2('memory', 'memory.usage_in_bytes', '10000\n');
  put2('memory', 'memory.stat', stat(4000, 5));
  const ref = { root, path: p };
  const s1 = await readCgroupStats(ref, undefined, 'usage');
  assert.equal(s1?.memory.workingSetBytes, 6000);
  // only memory.stat changed: the process did not run, its figures are taken over
  put2('memory', 'memory.stat', stat(3000, 5));
  const s2 = await readCgroupStats(ref, undefined, 'usage', s1);
  assert.deepEqual(s2?.memory, s1?.memory);
  // without the previous sample, or in the full scope, memory.stat is read
  assert.equal((await readCgroupStats(ref, undefined, 'usage'))?.memory.workingSetBytes, 7000);
  assert.equal((await readCgroupStats(ref, undefined, 'full', s1))?.memory.workingSetBytes, 7000);
  // CPU time moved: read again
  put2('cpuacct', 'cpuacct.usage', '2000\n');
  put2('memory', 'memory.stat', stat(2000, 9));
  const s3 = await readCgroupStats(ref, undefined, 'usage', s2);
  assert.deepEqual([s3?.memory.workingSetBytes, s3?.memory.pageFaults], [8000, 9]);
  // memory usage moved with the CPU time standing still (page cache charged by another's write): read again
  put2('memory', 'memory.usage_in_bytes', '12000\n');
  const s4 = await readCgroupStats(ref, undefined, 'usage', s3);
  assert.equal(s4?.memory.workingSetBytes, 10000);
  assert.equal(s4?.memory.usageBytes, 12000);
});

test('CgroupCounters: the counter files stay open and are read again from the start; a file that cannot be read is undefined; reads as readCgroupStats without them', async () => {
  const p = 'hedge/pod-counters/c1';
  const put3 = (ctl: string, file: string, text: string): void => {
    mkdirSync(join(root, ctl, p), { recursive: true });
    writeFileSync(join(root, ctl, p, file), text);
  };
  put3('cpuacct', 'cpuacct.usage', '123456789012\n');
  put3('memory', 'memory.usage_in_bytes', '10000\n');
  put3('memory', 'memory.stat', 'rss 1\ninactive_file 4000\npgfault 5\npgmajfault 0\n');
  const ref = { root, path: p };
  const counters = new CgroupCounters();
  const plain = await readCgroupStats(ref, undefined, 'usage');
  const kept = await readCgroupStats(ref, undefined, 'usage', undefined, counters);
  assert.deepEqual(kept?.cpu, plain?.cpu);
  assert.deepEqual(kept?.memory, plain?.memory);
  // rewritten in place (the same file, as the kernel's counters): the open file reads the new figure
  put3('cpuacct', 'cpuacct.usage', '7\n');
  assert.equal(counters.read(join(root, 'cpuacct', p, 'cpuacct.usage')), 7);
  put3('cpuacct', 'cpuacct.usage', 'not a number\n');
  assert.equal(counters.read(join(root, 'cpuacct', p, 'cpuacct.usage')), undefined);
  assert.equal(counters.read(join(root, 'cpuacct', 'hedge/missing', 'cpuacct.usage')), undefined);
  assert.equal(await readCgroupStats({ root, path: 'hedge/missing' }, undefined, 'usage', undefined, counters), undefined);
  counters.close();
  put3('cpuacct', 'cpuacct.usage', '8\n');
  assert.equal(counters.read(join(root, 'cpuacct', p, 'cpuacct.usage')), 8, 'opened again after close');
  counters.close();
});
