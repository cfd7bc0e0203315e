import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { test } from 'node:test';
import { waitFor } from '../host/process.ts';
import { listNetns, netnsExists, removeNetns } from './netns.ts';
import { NetnsPool } from './netns-pool.ts';
import { inNetns, randomSuffix } from './test-helpers.ts';

test('netns pool: fills once started, hands out made namespaces with lo up, refills only while nothing starts, close removes the rest', async (t) => {
  const dir = `/run/hedge/test-${randomSuffix()}`;
  const pool = new NetnsPool({ dir, size: 2, refillDelayMs: 20 });
  t.after(async () => {
    await pool.close();
    for (const n of await listNetns(dir)) await removeNetns(`${dir}/${n}`);
    await rm(dir, { recursive: true, force: true });
  });
  assert.equal(pool.take(), undefined, 'nothing before start (the start-up sweep would take them)');
  let busy = false;
  pool.start(() => busy);
  await waitFor(async () => pool.size === 2, { timeoutMs: 30_000, signal: AbortSignal.timeout(30_000), what: 'pool filled', intervalMs: 10 });
  busy = true;
  const a = pool.take();
  assert.ok(a?.startsWith(`${dir}/pool-`), a);
  assert.equal(await netnsExists(a), true);
  assert.match((await inNetns(a, ['ip', '-o', 'link', 'show', 'lo'])).stdout, /LOOPBACK,UP/);
  const b = pool.take();
  assert.ok(b && b !== a);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(pool.size, 0, 'no refill while a pod is starting');
  busy = false;
  await waitFor(async () => pool.size === 2, { timeoutMs: 30_000, signal: AbortSignal.timeout(30_000), what: 'pool refilled', intervalMs: 10 });
  // taken ones are the taker's: close leaves them and removes the pooled ones
  await pool.close();
  assert.deepEqual((await listNetns(dir)).sort(), [a, b].map((p) => p.slice(dir.length + 1)).sort());
  assert.equal(pool.take(), undefined);
  for (const p of [a, b]) await removeNetns(p);
});
