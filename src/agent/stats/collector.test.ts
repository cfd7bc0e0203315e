import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { silentLogger } from '../../lib/log.ts';
import { FakeRuntime } from '../runtime/testing/fake-runtime.ts';
import type { ContainerId, ContainerStats, ContainerStatus, SandboxId, SandboxStats } from '../runtime/types.ts';
import { StatsCollector } from './collector.ts';

/** FakeRuntime whose containers all run, answering each read after a turn of the event loop, and counting the reads in flight */
class CountingRuntime extends FakeRuntime {
  inFlight = 0;
  maxInFlight = 0;
  async #turn<T>(v: T): Promise<T> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await new Promise((r) => setImmediate(r));
    this.inFlight--;
    return v;
  }
  override status(id: ContainerId): Promise<ContainerStatus> {
    return this.#turn({ id, sandboxId: `sb-${id}` as SandboxId, name: 'c', labels: {}, annotations: {}, status: { state: 'running', startedAt: new Date(0), pid: 1 } });
  }
  override stats(id: ContainerId): Promise<ContainerStats> {
    const n = Number(id.slice(1));
    return this.#turn({ timestamp: new Date(), cpu: { usageCoreNanoSeconds: n * 1e9 }, memory: { usageBytes: n, workingSetBytes: n, rssBytes: n } });
  }
  override sandboxStats(): Promise<SandboxStats> {
    return this.#turn({ timestamp: new Date(), cpu: { usageCoreNanoSeconds: 0 }, memory: { usageBytes: 0, workingSetBytes: 0, rssBytes: 0 } });
  }
}

describe('StatsCollector', () => {
  it('samples every pod, in the pods order, a few at a time', async () => {
    const rt = new CountingRuntime();
    const pods: Pod[] = Array.from({ length: 50 }, (_, i) => ({ metadata: { name: `p${i}`, namespace: 'default', uid: `u${i}` }, spec: { containers: [{ name: 'c', image: 'busybox' }] } }));
    const collector = new StatsCollector({
      nodeName: 'n1',
      logger: silentLogger(),
      nodeCgroup: { root: '/nonexistent', path: '/' },
      pods: { pods: () => pods, locate: (_ns, name) => ({ handler: rt, id: `c${name.slice(1)}` as ContainerId }) },
    });
    const s = await collector.sample(AbortSignal.timeout(10_000), 'usage');
    assert.deepEqual(
      s.pods.map((p) => p.name),
      pods.map((p) => p.metadata!.name),
    );
    assert.deepEqual(
      s.pods.map((p) => p.containers[0]!.stats.memory.usageBytes),
      pods.map((_, i) => i),
    );
    assert.ok(s.pods.every((p) => p.stats !== undefined));
    // a batch at a time: each pod has two reads in flight at most (status and stats, then its sandbox)
    assert.ok(rt.maxInFlight <= 16, `${rt.maxInFlight} reads in flight`);
    assert.ok(rt.maxInFlight >= 2, 'pods of a batch are read side by side');
  });

  it('the node\'s rlimit (full scope): maxpid = min(pid_max, threads-max), curproc from loadavg', async () => {
    const proc = mkdtempSync(join(tmpdir(), 'hedge-rlimit-'));
    try {
      mkdirSync(join(proc, 'sys', 'kernel'), { recursive: true });
      writeFileSync(join(proc, 'sys', 'kernel', 'pid_max'), '32768\n');
      writeFileSync(join(proc, 'sys', 'kernel', 'threads-max'), '63000\n');
      writeFileSync(join(proc, 'loadavg'), '0.00 0.01 0.05 1/311 999\n');
      const collector = new StatsCollector({ nodeName: 'n1', logger: silentLogger(), nodeCgroup: { root: '/nonexistent', path: '/' }, procRoot: proc, pods: { pods: () => [], locate: () => undefined } });
      assert.deepEqual((await collector.sample(AbortSignal.timeout(10_000))).node.rlimit, { maxpid: 32768, curproc: 311 });
      assert.equal((await collector.sample(AbortSignal.timeout(10_000), 'usage')).node.rlimit, undefined, '/metrics/resource has no use for it');
    } finally {
      rmSync(proc, { recursive: true, force: true });
    }
  });
});
