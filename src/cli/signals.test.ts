import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import { stagedShutdownSignals } from './signals.ts';

class FakeProcess extends EventEmitter {
  exits: number[] = [];
  exit(code: number): void {
    this.exits.push(code);
  }
}

describe('stagedShutdownSignals', () => {
  it('first signal requests a stop, the second forces it, the third exits 1', async () => {
    const proc = new FakeProcess();
    const s = stagedShutdownSignals(proc);
    let requested: string | undefined;
    void s.requested.then((sig) => (requested = sig));
    await Promise.resolve();
    assert.equal(requested, undefined);
    proc.emit('SIGTERM', 'SIGTERM');
    await Promise.resolve();
    assert.equal(requested, 'SIGTERM');
    assert.equal(s.forced.aborted, false, 'one signal is a graceful stop');
    proc.emit('SIGINT', 'SIGINT');
    assert.equal(s.forced.aborted, true);
    assert.match(String((s.forced.reason as Error).message), /second SIGINT/);
    assert.deepEqual(proc.exits, []);
    proc.emit('SIGINT', 'SIGINT');
    assert.deepEqual(proc.exits, [1]);
  });
});
