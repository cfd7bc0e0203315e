import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseThresholdConfig } from '../eviction/thresholds.ts';
import { defaultNodeConfig } from './config.ts';
import { hardEvictionReservation, nodeAllocatable } from './allocatable.ts';
import { nodeStatus } from './node-status.ts';

const Mi = 1024 ** 2;
const Gi = 1024 ** 3;
const none = { cpuMilli: 0, memoryBytes: 0, ephemeralStorageBytes: 0 };
const cap = { cpuMilli: 4000, memoryBytes: 8 * Gi, ephemeralStorageBytes: 100 * Gi };

test('hardEvictionReservation: the kubelet defaults hold back 100Mi of memory and 10% of nodefs (float32 percentage, as upstream)', () => {
  const r = hardEvictionReservation(parseThresholdConfig({}), cap);
  assert.equal(r.memoryBytes, 100 * Mi);
  // int64(float64(capacity) × float64(float32(10)/100)): 10737418400, not 10737418240
  assert.equal(r.ephemeralStorageBytes, 10737418400);
});

test('hardEvictionReservation: a percentage of memory; only memory.available and nodefs.available; soft thresholds reserve nothing', () => {
  const t = parseThresholdConfig({
    evictionHard: { 'memory.available': '5%', 'imagefs.available': '20%', 'nodefs.inodesFree': '5%', 'pid.available': '1k' },
    evictionSoft: { 'nodefs.available': '30%' },
    evictionSoftGracePeriod: { 'nodefs.available': '0s' },
  });
  // the allocatableMemory.available twin (enforceNodeAllocatable: pods) is not memory.available
  assert.ok(t.some((x) => x.signal === 'allocatableMemory.available'));
  assert.deepEqual(hardEvictionReservation(t, cap), { memoryBytes: Math.floor(8 * Gi * Math.fround(Math.fround(5) / 100)), ephemeralStorageBytes: 0 });
  assert.deepEqual(hardEvictionReservation([], cap), { memoryBytes: 0, ephemeralStorageBytes: 0 });
  // 0% is no threshold at all
  assert.deepEqual(hardEvictionReservation(parseThresholdConfig({ evictionHard: { 'memory.available': '0%' } }), cap), { memoryBytes: 0, ephemeralStorageBytes: 0 });
});

test('nodeAllocatable = capacity − reserved − hard eviction reservation, at least 0', () => {
  const t = parseThresholdConfig({ evictionHard: { 'memory.available': '500Mi', 'nodefs.available': '1Gi' } });
  assert.deepEqual(nodeAllocatable(cap, { cpuMilli: 500, memoryBytes: 1 * Gi, ephemeralStorageBytes: 2 * Gi }, t), {
    cpuMilli: 3500,
    memoryBytes: 8 * Gi - 1 * Gi - 500 * Mi,
    ephemeralStorageBytes: 100 * Gi - 2 * Gi - 1 * Gi,
  });
  assert.deepEqual(nodeAllocatable(cap, none), cap);
  const big = parseThresholdConfig({ evictionHard: { 'memory.available': '9Gi' } });
  assert.equal(nodeAllocatable(cap, { ...none, cpuMilli: 8000 }, big).memoryBytes, 0);
  assert.equal(nodeAllocatable(cap, { ...none, cpuMilli: 8000 }, big).cpuMilli, 0);
});

test('node status: allocatable leaves out the hard eviction thresholds; capacity does not', () => {
  const cfg = { ...defaultNodeConfig('edge-a', '/tmp'), reserved: { cpuMilli: 100, memoryBytes: 256 * Mi, ephemeralStorageBytes: 0 }, hardEvictionThresholds: parseThresholdConfig({}) };
  const status = nodeStatus({
    cfg,
    cpus: 4,
    id: { hostname: 'edge-a', machineID: 'm', bootID: 'b', kernelVersion: '6.1.0', osImage: 'Linux', architecture: 'amd64' },
    usage: { memory: { totalBytes: 8 * Gi, availableBytes: 4 * Gi }, disk: { totalBytes: 100 * Gi, availableBytes: 50 * Gi }, pids: { used: 1, max: 100 } },
    now: 0,
  });
  assert.deepEqual(status.capacity, { cpu: '4', memory: `${8 * 1024 * 1024}Ki`, 'ephemeral-storage': `${100 * 1024 * 1024}Ki`, pods: '110' });
  assert.deepEqual(status.allocatable, { cpu: '3900m', memory: `${(8 * Gi - 356 * Mi) / 1024}Ki`, 'ephemeral-storage': String(100 * Gi - 10737418400), pods: '110' });
});
