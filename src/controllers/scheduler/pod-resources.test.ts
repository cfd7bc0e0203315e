import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makePod } from '../testing/objects.ts';
import { podRequests, DEFAULT_MEMORY_REQUEST, DEFAULT_MILLI_CPU_REQUEST } from './pod-resources.ts';

const c = (name: string, cpu: string, memory?: string, restartPolicy?: string) => ({
  name,
  restartPolicy,
  resources: { requests: { cpu, ...(memory ? { memory } : {}) } },
});

test('sum of containers, max with init containers, plus overhead', () => {
  const pod = makePod('p', {
    containers: [c('a', '100m', '64Mi'), c('b', '200m', '64Mi')],
    initContainers: [c('i1', '500m', '32Mi'), c('i2', '100m', '256Mi')],
    overhead: { cpu: '50m', memory: '16Mi' },
  });
  assert.deepEqual(podRequests(pod), { milliCPU: 550, memory: (256 + 16) * 1024 * 1024, ephemeralStorage: 0 });
});

test('sidecars (restartPolicy Always) add to containers and to later init containers', () => {
  const pod = makePod('p', {
    containers: [c('a', '100m')],
    initContainers: [c('side', '200m', undefined, 'Always'), c('init', '500m')],
  });
  // init phase: 500m + 200m sidecar = 700m; run phase: 100m + 200m = 300m
  assert.equal(podRequests(pod).milliCPU, 700);
});

test('scoring defaults apply only to containers without requests', () => {
  const pod = makePod('p', { containers: [{ name: 'a' }, c('b', '300m', '1Gi')] });
  assert.deepEqual(podRequests(pod), { milliCPU: 300, memory: 1024 ** 3, ephemeralStorage: 0 });
  const nz = podRequests(pod, true);
  assert.equal(nz.milliCPU, 300 + DEFAULT_MILLI_CPU_REQUEST);
  assert.equal(nz.memory, 1024 ** 3 + DEFAULT_MEMORY_REQUEST);
});
