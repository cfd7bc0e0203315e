import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StartGate } from './start-gate.ts';

const never = new AbortController().signal;
const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('StartGate', () => {
  it('holds at most `limit` slots and serves waiters oldest pod first, then by arrival', async () => {
    const gate = new StartGate(2);
    const a = await gate.acquire(100, never);
    const b = await gate.acquire(100, never);
    assert.equal(gate.active, 2);
    const order: string[] = [];
    const wait = (name: string, createdAt: number): Promise<() => void> =>
      gate.acquire(createdAt, never).then((release) => {
        order.push(name);
        return release;
      });
    const late = wait('late', 300);
    const early1 = wait('early1', 200);
    const early2 = wait('early2', 200);
    await flush();
    assert.deepEqual(order, []);
    assert.equal(gate.waiting, 3);
    a();
    a(); // idempotent: frees one slot, not two
    await flush();
    assert.deepEqual(order, ['early1']);
    b();
    await flush();
    assert.deepEqual(order, ['early1', 'early2']);
    (await early1)();
    (await early2)();
    (await late)();
    assert.deepEqual(order, ['early1', 'early2', 'late']);
    assert.equal(gate.active, 0);
    assert.equal(gate.waiting, 0);
  });

  it('an aborted waiter leaves the queue and takes no slot', async () => {
    const gate = new StartGate(1);
    const held = await gate.acquire(1, never);
    const ac = new AbortController();
    const gone = gate.acquire(1, ac.signal);
    const next = gate.acquire(2, never);
    ac.abort(new Error('deleted'));
    await assert.rejects(gone, /deleted/);
    held();
    (await next)();
    assert.equal(gate.active, 0);
    await assert.rejects(gate.acquire(3, ac.signal), /deleted/);
  });

  it('refuses a limit below one', () => {
    assert.throws(() => new StartGate(0), /at least 1/);
  });
});
