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

test('CRI timestamps carry nanoseconds', () => {
  assert.equal(criTimestamp(new Date('2026-01-02T03:04:05.678Z')), '2026-01-02T03:04:05.678000000Z');
});
