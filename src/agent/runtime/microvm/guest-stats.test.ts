import assert from 'node:assert/strict';
import { test } from 'node:test';
import { criTimestamp } from './cri-log-writer.ts';
import { parseGuestStats } from './guest-stats.ts';

const SAMPLE = `==/proc/stat==
cpu  5 1 253 100 7 2 3 0 0 0
cpu0 5 1 253 100 7 2 3 0 0 0
==/proc/meminfo==
MemTotal:          82052 kB
MemFree:           32912 kB
MemAvailable:      39396 kB
AnonPages:          1000 kB
==/proc/diskstats==
   8       0 sda 10 0 80 3 2 0 16 1 0 4 4 0 0 0 0
   8       1 sda1 10 0 80 3 2 0 16 1 0 4 4 0 0 0 0
==/proc/net/dev==
Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0
  eth0:    2000      10    1    0    0     0          0         0     3000      20    2    0    0     0       0          0
==/proc/loadavg==
0.00 0.00 0.00 1/30 77
`;

test('guest /proc snapshot becomes stats', () => {
  const s = parseGuestStats(SAMPLE);
  assert.equal(s.cpuNanos, (5 + 1 + 253 + 2 + 3) * 10_000_000);
  assert.equal(s.memory.totalBytes, 82052 * 1024);
  assert.equal(s.memory.workingSetBytes, (82052 - 39396) * 1024);
  assert.equal(s.memory.usageBytes, (82052 - 32912) * 1024);
  assert.equal(s.memory.rssBytes, 1000 * 1024);
  assert.deepEqual(s.blkio, { readOps: 10, readBytes: 80 * 512, writeOps: 2, writeBytes: 16 * 512 });
  assert.deepEqual(s.network.interfaces, [{ name: 'eth0', rxBytes: 2000, rxErrors: 1, txBytes: 3000, txErrors: 2 }]);
});

const CGROUP = `==/sys/fs/cgroup/c/0123abcd/cpu.stat==
usage_usec 2500000
user_usec 2000000
system_usec 500000
nr_periods 40
nr_throttled 12
throttled_usec 900000
==/sys/fs/cgroup/c/0123abcd/cpu.max==
50000 100000
==/sys/fs/cgroup/c/0123abcd/memory.current==
73400320
==/sys/fs/cgroup/c/0123abcd/memory.max==
134217728
==/sys/fs/cgroup/c/0123abcd/memory.stat==
anon 1048576
file 70000000
shmem 67108864
active_file 1000000
inactive_file 2000000
pgfault 5000
pgmajfault 7
==/sys/fs/cgroup/c/0123abcd/memory.events==
low 0
high 0
max 3
oom 1
oom_kill 1
==/sys/fs/cgroup/c/0123abcd/io.stat==
254:0 rbytes=33554432 wbytes=33558528 rios=33 wios=34 dbytes=0 dios=0
8:16 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=0 dios=0
==/sys/fs/cgroup/c/0123abcd/pids.current==
3
==/sys/fs/cgroup/c/feedbeef/cpu.stat==
usage_usec 10
nr_periods 0
nr_throttled 0
throttled_usec 0
==/sys/fs/cgroup/c/feedbeef/cpu.max==
max 100000
==/sys/fs/cgroup/c/feedbeef/memory.current==
4096
==/sys/fs/cgroup/c/feedbeef/memory.stat==
anon 4096
==/sys/fs/cgroup/c/feedbeef/io.stat==
==/sys/fs/cgroup/c/nomem/cpu.stat==
usage_usec 10
==/sys/fs/cgroup/c/nomem/memory.current==
`;

test('the VM CPU is the scheduler\'s run time of every vCPU when /proc/schedstat is there', () => {
  const sched = `==/proc/schedstat==
version 15
timestamp 4295242066
cpu0 0 0 0 0 0 0 35234287754 18349277404 5396
domain0 00000003 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
cpu1 0 0 0 0 0 0 1000 2000 3
`;
  assert.equal(parseGuestStats(SAMPLE + sched).cpuNanos, 35234287754 + 1000);
});

test('per-container cgroup sections after the /proc files', () => {
  const s = parseGuestStats(SAMPLE + CGROUP);
  // the VM's figures are unchanged by the sections after them
  assert.equal(s.cpuNanos, (5 + 1 + 253 + 2 + 3) * 10_000_000);
  assert.deepEqual([...s.containers.keys()], ['0123abcd', 'feedbeef'], 'a cgroup with an empty memory.current (no memory controller) is left out');
  assert.deepEqual(s.containers.get('0123abcd'), {
    cpu: { usageCoreNanoSeconds: 2_500_000_000, throttling: { periods: 40, throttledPeriods: 12, throttledNanoSeconds: 900_000_000 } },
    memory: { usageBytes: 73400320, workingSetBytes: 73400320 - 2000000, rssBytes: 1048576, oomKills: 1, pageFaults: 5000, majorPageFaults: 7 },
    blkio: { readBytes: 33554432 + 4096, writeBytes: 33558528, readOps: 34, writeOps: 34 },
    processes: 3,
  });
  const idle = s.containers.get('feedbeef');
  assert.equal(idle?.cpu.throttling, undefined, 'no quota: no throttling figures');
  assert.deepEqual(idle?.blkio, { readBytes: 0, writeBytes: 0, readOps: 0, writeOps: 0 });
  assert.equal(idle?.processes, undefined);
  assert.equal(idle?.memory.oomKills, 0);
});

test('a guest without cgroups reports no containers', () => {
  assert.equal(parseGuestStats(SAMPLE).containers.size, 0);
});

test('CRI timestamps carry nanoseconds', () => {
  assert.equal(criTimestamp(new Date('2026-01-02T03:04:05.678Z')), '2026-01-02T03:04:05.678000000Z');
});
