import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { waitFor } from '../host/process.ts';
import { NetnsPool } from './netns-pool.ts';
import type { NetworkResult, NetworkSandbox } from './types.ts';

/** records what the pool asks of the network: which sandboxes are attached now */
function recordingNetwork(o: { failSetUp?: boolean } = {}) {
  const attached = new Set<string>();
  const calls: string[] = [];
  return {
    attached,
    calls,
    async prepare(sb: NetworkSandbox): Promise<void> {
      calls.push(`prepare ${sb.id}`);
    },
    async setUp(sb: NetworkSandbox): Promise<NetworkResult> {
      calls.push(`setUp ${sb.id}`);
      if (o.failSetUp) throw new Error('no addresses left');
      assert.equal(sb.netnsPath, `/run/hedge/pool-test/${sb.id}`);
      assert.deepEqual(sb.portMappings, []);
      attached.add(sb.id);
      return { ips: [{ address: '10.1.0.2', family: 4, interface: 'eth0' }], interfaces: [] };
    },
    async tearDown(sb: NetworkSandbox): Promise<void> {
      calls.push(`tearDown ${sb.id}`);
      attached.delete(sb.id);
    },
  };
}

const until = (what: string, f: () => boolean) => waitFor(async () => f(), { timeoutMs: 10_000, signal: AbortSignal.timeout(10_000), what, intervalMs: 5 });

test('netns pool: fills once started, hands out attached networks under ids of their own, refills only while nothing starts, close frees the rest', async () => {
  const net = recordingNetwork();
  const pool = new NetnsPool({ dir: '/run/hedge/pool-test', network: net, size: 2, refillDelayMs: 20 });
  assert.equal(pool.take(), undefined, 'nothing before start (the start-up sweep would take them for leftovers)');
  let busy = false;
  pool.start(() => busy);
  await until('pool filled', () => pool.size === 2);
  busy = true;
  const a = pool.take();
  const b = pool.take();
  assert.ok(a && b && a.id !== b.id);
  assert.match(a.id, /^[0-9a-f]{20}$/);
  assert.equal(a.netnsPath, `/run/hedge/pool-test/${a.id}`);
  assert.ok(net.attached.has(a.id) && net.attached.has(b.id));
  assert.equal(pool.take(), undefined);
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(pool.size, 0, 'no refill while a pod is starting');
  busy = false;
  await until('pool refilled', () => pool.size === 2);
  await pool.close();
  // the taken ones are their pods' to free; the pooled ones are freed
  assert.deepEqual([...net.attached].sort(), [a.id, b.id].sort());
  assert.equal(pool.take(), undefined);
});

test('netns pool: a network that cannot be made is freed and the pool gives up (pods make their own)', async () => {
  const net = recordingNetwork({ failSetUp: true });
  const pool = new NetnsPool({ dir: '/run/hedge/pool-test', network: net, size: 2, refillDelayMs: 5 });
  pool.start();
  await until('freed after the failure', () => net.calls.some((c) => c.startsWith('tearDown')));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(net.calls.filter((c) => c.startsWith('setUp')).length, 1, 'one attempt, no retry loop');
  assert.equal(pool.take(), undefined);
  await pool.close();
});

test('netns pool: lists what it pools in its state file, and frees what a previous agent listed (killed, or a reboot took the netns) before filling', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hedge-pool-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const stateFile = join(dir, 'pool.json');
  await writeFile(stateFile, JSON.stringify([{ id: 'old1', netnsPath: '/run/hedge/pool-test/old1' }]));
  const net = recordingNetwork();
  const pool = new NetnsPool({ dir: '/run/hedge/pool-test', network: net, size: 1, refillDelayMs: 5, stateFile });
  let busy = true;
  pool.start(() => busy);
  await new Promise((r) => setTimeout(r, 60));
  assert.deepEqual(net.calls, [], 'nothing freed or made while pods start (after a reboot they all do)');
  assert.ok(readFileSync(stateFile, 'utf8').includes('old1'), 'still listed until freed');
  busy = false;
  await until('pool filled', () => pool.size === 1);
  assert.equal(net.calls[0], 'tearDown old1', 'the old entry is freed before the first new one is made');
  await until('listed', () => readFileSync(stateFile, 'utf8').includes('"id"') && !readFileSync(stateFile, 'utf8').includes('old1'));
  const listed = JSON.parse(readFileSync(stateFile, 'utf8')) as { id: string }[];
  assert.deepEqual(listed.map((p) => p.id), [...net.attached]);
  await pool.close();
  assert.equal(existsSync(stateFile), false, 'nothing pooled, nothing listed');
});
