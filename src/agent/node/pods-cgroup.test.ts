import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FakeClock } from '../../client/clock.ts';
import type { EventInput } from '../../client/event-recorder.ts';
import { silentLogger } from '../../lib/log.ts';
import { parseThresholdConfig } from '../eviction/thresholds.ts';
import { milliCpuToShares } from '../host/cgroup.ts';
import { applyPodsCgroupLimits, checkReservation, enforcePodsCgroupLimits, podsCgroupLimits } from './pods-cgroup.ts';

const GiB = 2 ** 30;
const MiB = 2 ** 20;
const capacity = { cpuMilli: 4000, memoryBytes: 8 * GiB, pids: 32768 };
const reserved = { cpuMilli: 500, memoryBytes: GiB, ephemeralStorageBytes: 0 };

describe('pods cgroup limits (the kubelet\'s kubepods)', () => {
  it('with pods enforced: capacity − reserved, the hard eviction threshold not taken off; without: capacity', () => {
    assert.deepEqual(podsCgroupLimits(capacity, reserved, true), { memoryBytes: 7 * GiB, cpuShares: 3584 });
    assert.deepEqual(podsCgroupLimits(capacity, { ...reserved, pids: 1000 }, true), { memoryBytes: 7 * GiB, cpuShares: 3584, pidsMax: 31768 });
    assert.deepEqual(podsCgroupLimits(capacity, { ...reserved, pids: 1000 }, false), { memoryBytes: 8 * GiB, cpuShares: 4096 });
    assert.equal(milliCpuToShares(1), 2);
  });

  it('a reservation (with the hard eviction thresholds) larger than the node is upstream\'s validateNodeAllocatable error', () => {
    const hard = parseThresholdConfig({});
    assert.equal(checkReservation({ ...capacity, ephemeralStorageBytes: 100 * GiB }, reserved, hard), undefined);
    assert.equal(
      checkReservation({ ...capacity, ephemeralStorageBytes: 100 * GiB }, { ...reserved, memoryBytes: 8 * GiB - 50 * MiB, cpuMilli: 5000 }, hard),
      `invalid Node Allocatable configuration. Resource "cpu" has a reservation of 5000m but capacity of 4000m. Expected capacity >= reservation. Resource "memory" has a reservation of ${8 * GiB + 50 * MiB} but capacity of ${8 * GiB}. Expected capacity >= reservation.`,
    );
  });

  it('writes memory, cpu.shares and pids.max under each mounted controller; a refused memory limit is retried every minute with upstream\'s Events', async () => {
    const fs = mkdtempSync(join(tmpdir(), 'hedge-podscg-'));
    try {
      for (const c of ['memory', 'cpu', 'pids']) mkdirSync(join(fs, c));
      applyPodsCgroupLimits({ cgroupFs: fs, cgroup: 'hedge/x', limits: { memoryBytes: 7 * GiB, cpuShares: 3584, pidsMax: 31768 } });
      assert.equal(readFileSync(join(fs, 'memory/hedge/x/memory.limit_in_bytes'), 'utf8'), String(7 * GiB));
      assert.equal(readFileSync(join(fs, 'cpu/hedge/x/cpu.shares'), 'utf8'), '3584');
      assert.equal(readFileSync(join(fs, 'pids/hedge/x/pids.max'), 'utf8'), '31768');
      applyPodsCgroupLimits({ cgroupFs: fs, cgroup: 'hedge/x', limits: { memoryBytes: 7 * GiB, cpuShares: 3584 } });
      assert.equal(readFileSync(join(fs, 'pids/hedge/x/pids.max'), 'utf8'), 'max');

      // a directory where the limit file should be: the write fails (EISDIR), not with EBUSY, and is retried as one
      const limitFile = join(fs, 'memory/hedge/y/memory.limit_in_bytes');
      mkdirSync(limitFile, { recursive: true });
      const events: EventInput[] = [];
      const clock = new FakeClock();
      const ac = new AbortController();
      const done = enforcePodsCgroupLimits({ cgroupFs: fs, cgroup: 'hedge/y', limits: { memoryBytes: GiB, cpuShares: 2 }, nodeName: 'n1', events: { emit: (e) => events.push(e) }, clock, logger: silentLogger() }, ac.signal);
      while (clock.pending === 0) await new Promise((r) => setImmediate(r));
      assert.deepEqual(events.map((e) => [e.type, e.reason]), [['Warning', 'FailedNodeAllocatableEnforcement']]);
      assert.match(events[0]!.message, /^Failed to update Node Allocatable Limits "hedge\/y": /);
      assert.equal((events[0]!.involved as { kind?: string }).kind, 'Node');
      rmSync(limitFile, { recursive: true });
      writeFileSync(limitFile, '');
      clock.advance(60_000);
      await done;
      assert.deepEqual(events.map((e) => [e.type, e.reason, e.message]).slice(1), [['Normal', 'NodeAllocatableEnforced', 'Updated Node Allocatable limit across pods']]);
      assert.equal(readFileSync(limitFile, 'utf8'), String(GiB));
    } finally {
      rmSync(fs, { recursive: true, force: true });
    }
  });

  it('on a unified (v2) root: the one cgroup gets memory.max, cpu.weight from the shares and pids.max, with the controllers enabled down to it', () => {
    const fs = mkdtempSync(join(tmpdir(), 'hedge-podscg2-'));
    try {
      writeFileSync(join(fs, 'cgroup.controllers'), 'cpuset cpu io memory pids\n');
      writeFileSync(join(fs, 'cgroup.subtree_control'), '');
      applyPodsCgroupLimits({ cgroupFs: fs, cgroup: 'hedge', limits: { memoryBytes: 7 * GiB, cpuShares: 3584, pidsMax: 31768 } });
      assert.equal(readFileSync(join(fs, 'cgroup.subtree_control'), 'utf8'), '+cpu +memory +pids +io');
      assert.equal(readFileSync(join(fs, 'hedge/memory.max'), 'utf8'), String(7 * GiB));
      // runc's conversion: 1 + (3582 * 9999) / 262142 = 137
      assert.equal(readFileSync(join(fs, 'hedge/cpu.weight'), 'utf8'), '137');
      assert.equal(readFileSync(join(fs, 'hedge/pids.max'), 'utf8'), '31768');
      applyPodsCgroupLimits({ cgroupFs: fs, cgroup: 'hedge', limits: { memoryBytes: 7 * GiB, cpuShares: 3584 } });
      assert.equal(readFileSync(join(fs, 'hedge/pids.max'), 'utf8'), 'max');
      // no v1 controller directories
      assert.deepEqual(readdirSync(fs).sort(), ['cgroup.controllers', 'cgroup.subtree_control', 'hedge']);
    } finally {
      rmSync(fs, { recursive: true, force: true });
    }
  });
});
