import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../lib/log.ts';
import { FakeKubeClient } from '../../client/fake-client.ts';
import { Resources } from '../../client/resources.ts';
import type { PodObject } from '../common/types.ts';
import { benchCapacityError, benchHostPort, createBenchNodes, createBenchPods, schedulerScenarios } from '../testing/scheduler-scenarios.ts';
import { Scheduler } from './scheduler.ts';

// bench/scheduler.ts waited forever at 4,000–5,000 pods: its hostPort scenario had room for 2,500.
const NODES = 100;
const PODS = 5000;

for (const sc of schedulerScenarios) {
  test(`bench scenario "${sc.label}": ${PODS} pods over ${NODES} nodes all bind, the cache agrees with the API`, async () => {
    const client = new FakeKubeClient();
    client.recordCalls = false;
    await createBenchNodes(client, NODES);
    await createBenchPods(client, sc, { ns: 'default', nodes: NODES, pods: PODS });
    const s = new Scheduler({ client, logger: silentLogger(), bindConcurrency: 256 });
    const ac = new AbortController();
    const done = s.run(ac.signal);
    try {
      const deadline = Date.now() + 15_000;
      while (s.stats.bound < PODS && s.stats.failedAttempts === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.equal(s.stats.failedAttempts, 0, `a pod found no node (${s.stats.bound} bound)`);
      assert.equal(s.stats.bound, PODS);
      while (s.assumedPods > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.equal(s.assumedPods, 0, 'every assumed pod confirmed by the informer');
    } finally {
      ac.abort();
      await done;
    }
    const placed = s.placements();
    const pods = (await client.list<PodObject>(Resources.pods, { namespace: 'default' })).items;
    assert.equal(pods.length, PODS);
    for (const p of pods) assert.equal(placed.get(`default/${p.metadata.name}`), p.spec?.nodeName, p.metadata.name);
  });
}

test('bench hostPorts: no zone needs a port on more nodes than it has, up to the pods allocatable', () => {
  for (const nodes of [4, 10, 100, 101]) {
    const zoneNodes = Math.floor(nodes / 4);
    const max = 4 * zoneNodes * 110;
    assert.equal(benchCapacityError(nodes, max), undefined);
    assert.match(benchCapacityError(nodes, max + 1) ?? '', /do not fit/);
    const perZonePort = new Map<string, number>();
    for (let i = 0; i < max; i++) {
      const k = `${i % 4}/${benchHostPort(i, nodes)}`;
      perZonePort.set(k, (perZonePort.get(k) ?? 0) + 1);
    }
    assert.ok(Math.max(...perZonePort.values()) <= zoneNodes, `${nodes} nodes: a port is wanted by more pods than the zone has nodes`);
  }
  // the first block is the scenario as earlier figures measured it: 50 ports
  assert.equal(benchHostPort(2499, 100), 10049);
  assert.equal(benchHostPort(2500, 100), 10050);
});
