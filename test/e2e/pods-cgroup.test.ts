/**
 * The agent's node allocatable enforcement on the real cgroup v1 filesystem: the pods' parent
 * cgroup (a test-only one, `hedge-e2e-alloc-<pid>`) gets memory.limit_in_bytes = capacity −
 * reserved (not minus the hard eviction threshold), cpu.shares from allocatable CPU and pids.max
 * from the pid reservation; a restart with other reservations re-applies them; a limit below what
 * a process in the cgroup uses is refused by the kernel, reported as upstream's Warning Event on
 * the Node and applied once usage falls. The agent's other dependencies are fakes; the host
 * probe says 2 CPUs and 1 GiB so the limits are known.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { FakeClock } from '../../src/client/clock.ts';
import { FakeKubeClient } from '../../src/client/fake-client.ts';
import { Resources } from '../../src/client/resources.ts';
import type { KubeObject } from '../../src/api/object.ts';
import { startAgent, type AgentConfigInput } from '../../src/agent/agent.ts';
import { FakeImageStore } from '../../src/agent/image/testing/fake-image-store.ts';
import { fakeAgentDeps } from '../../src/agent/testing/fake-agent-deps.ts';
import { removePodCgroup } from '../../src/agent/host/cgroup.ts';
import { readPidMax } from '../../src/agent/node/pods-cgroup.ts';
import { eventually } from '../../src/agent/podsync/testing/harness.ts';
import { defaultEvictionConfig } from '../../src/agent/agent.ts';

const FS = '/sys/fs/cgroup';
const skip = process.getuid?.() !== 0 ? 'needs root' : !existsSync(join(FS, 'memory', 'memory.limit_in_bytes')) ? 'no cgroup v1 memory controller' : undefined;
const CG = `hedge-e2e-alloc-${process.pid}`;
const MiB = 2 ** 20;
const GiB = 2 ** 30;
const read = (ctl: string, file: string): string => readFileSync(join(FS, ctl, CG, file), 'utf8').trim();

describe('pods cgroup limited to node allocatable (real cgroup v1)', { skip, timeout: 120_000 }, () => {
  const dirs: string[] = [];
  const children: ChildProcess[] = [];
  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await Promise.all(children.map((c) => (c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once('exit', r)) : undefined)));
    await removePodCgroup({ cgroupRoot: FS, cgroupParent: CG });
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  /** one agent run: start, let `check` look, stop */
  const run = async (input: Partial<AgentConfigInput>, check: (o: { client: FakeKubeClient; clock: FakeClock }) => Promise<void>): Promise<void> => {
    const dataDir = await mkdtemp(join(tmpdir(), 'hedge-alloc-'));
    dirs.push(dataDir);
    const client = new FakeKubeClient();
    const clock = new FakeClock();
    const ac = new AbortController();
    const host = { usage: async () => ({ memory: { totalBytes: GiB, availableBytes: GiB / 2 }, disk: { totalBytes: 64 * GiB, availableBytes: 32 * GiB }, pids: { used: 10, max: 1000 } }) };
    const agent = await startAgent(
      { nodeName: 'alloc-1', dataDir, cgroupRoot: CG, podsCgroupLimits: { cgroupFs: FS, enforcePods: true }, server: { host: '127.0.0.1', port: 0, auth: { tokens: new Set(['t']), clientCerts: false, authorization: 'AlwaysAllow' } }, ...input },
      fakeAgentDeps(client, clock, new FakeImageStore(), host),
      ac.signal,
    );
    try {
      await check({ client, clock });
    } finally {
      ac.abort();
      await agent.done;
    }
  };
  const nodeEvents = async (client: FakeKubeClient): Promise<{ type: string; reason: string; message: string }[]> =>
    ((await client.list(Resources.events, { namespace: 'default' })).items as (KubeObject & { type: string; reason: string; message: string; involvedObject: { kind: string } })[])
      .filter((e) => e.involvedObject.kind === 'Node')
      .map((e) => ({ type: e.type, reason: e.reason, message: e.message }));

  it('memory = capacity − kube/system reserved (the 100Mi hard eviction threshold not taken off), cpu.shares, pids.max; re-applied with new reservations after a restart', async () => {
    await run({ reserved: { cpuMilli: 500, memoryBytes: 256 * MiB, ephemeralStorageBytes: 0, pids: 1000 } }, async ({ client }) => {
      await eventually(async () => (await nodeEvents(client)).some((e) => e.reason === 'NodeAllocatableEnforced'), 'NodeAllocatableEnforced');
      assert.equal(read('memory', 'memory.limit_in_bytes'), String(768 * MiB));
      assert.equal(read('cpu', 'cpu.shares'), '1536');
      assert.equal(read('pids', 'pids.max'), String(readPidMax() - 1000));
    });
    await run({ reserved: { cpuMilli: 0, memoryBytes: 512 * MiB, ephemeralStorageBytes: 0 } }, async ({ client }) => {
      await eventually(async () => (await nodeEvents(client)).some((e) => e.reason === 'NodeAllocatableEnforced'), 'NodeAllocatableEnforced');
      assert.equal(read('memory', 'memory.limit_in_bytes'), String(512 * MiB));
      assert.equal(read('cpu', 'cpu.shares'), '2048');
      assert.equal(read('pids', 'pids.max'), 'max');
    });
  });

  it('a reservation larger than the node refuses the agent\'s start with upstream\'s message', async () => {
    await assert.rejects(
      run({ reserved: { cpuMilli: 0, memoryBytes: GiB - 50 * MiB, ephemeralStorageBytes: 0 } }, async () => undefined),
      /invalid Node Allocatable configuration\. Resource "memory" has a reservation of \d+ but capacity of 1073741824\. Expected capacity >= reservation\./,
    );
    assert.equal(read('memory', 'memory.limit_in_bytes'), String(512 * MiB), 'the previous limit stays');
  });

  it('a limit below what the pods use: refused (the kernel cannot reclaim it), a Warning Event naming the usage, retried each minute until it fits', async () => {
    // 96 MiB of anonymous memory (no swap here: not reclaimable) in the pods cgroup
    const hog = spawn('sh', ['-c', `echo $$ > ${join(FS, 'memory', CG, 'cgroup.procs')} && exec node -e 'globalThis.b = Buffer.alloc(96 << 20, 1); console.log("ready"); setInterval(() => {}, 1e6)'`], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(hog);
    await new Promise<void>((resolve, reject) => {
      hog.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
      hog.once('exit', (code) => reject(new Error(`memory hog exited ${code}`)));
    });
    const usage = Number(read('memory', 'memory.usage_in_bytes'));
    assert.ok(usage > 96 * MiB, `usage ${usage}`);
    await run({ reserved: { cpuMilli: 0, memoryBytes: GiB - 32 * MiB, ephemeralStorageBytes: 0 }, eviction: { ...defaultEvictionConfig(), thresholds: [] } }, async ({ client, clock }) => {
      await eventually(async () => (await nodeEvents(client)).some((e) => e.reason === 'FailedNodeAllocatableEnforcement'), 'FailedNodeAllocatableEnforcement');
      const failed = (await nodeEvents(client)).find((e) => e.reason === 'FailedNodeAllocatableEnforcement')!;
      assert.equal(failed.type, 'Warning');
      assert.match(failed.message, new RegExp(`^Failed to update Node Allocatable Limits "${CG}": memory limit ${32 * MiB} \\(32\\.0 MiB\\) is below what the pods use: \\d+ \\(\\d+\\.\\d MiB\\) in ${join(FS, 'memory', CG)}`));
      assert.equal(read('memory', 'memory.limit_in_bytes'), String(512 * MiB), 'the previous limit stays');
      hog.kill('SIGKILL');
      await new Promise((r) => hog.once('exit', r));
      await eventually(() => clock.pending > 0, 'the retry waits');
      clock.advance(60_000);
      await eventually(async () => (await nodeEvents(client)).some((e) => e.reason === 'NodeAllocatableEnforced'), 'NodeAllocatableEnforced after the retry');
      assert.equal(read('memory', 'memory.limit_in_bytes'), String(32 * MiB));
    });
  });
});
