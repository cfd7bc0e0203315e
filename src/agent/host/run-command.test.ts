import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { isHedgeError } from '../../lib/errors.ts';
import { runChecked, runCommand, setCommandSpawner } from './run-command.ts';
import { Spawner } from './spawner.ts';

// every case twice: forked by the agent itself, and by the process's spawner (as `hedge node` runs them)
for (const via of ['the agent', 'the spawner'] as const) {
  describe(`runCommand via ${via}`, () => {
    let spawner: Spawner | undefined;
    before(() => {
      if (via === 'the spawner') {
        spawner = new Spawner();
        assert.ok(spawner.available, 'perl is on every Debian node');
        setCommandSpawner(spawner);
      }
    });
    after(() => {
      setCommandSpawner(undefined);
      spawner?.close();
    });

    test('a non-zero exit is a result; runChecked makes it an Internal error with stderr', async () => {
      const res = await runCommand('sh', ['-c', 'echo out; echo err >&2; exit 3']);
      assert.deepEqual(res, { code: 3, stdout: 'out\n', stderr: 'err\n' });
      await assert.rejects(runChecked('sh', ['-c', 'echo broken >&2; exit 1']), (e: unknown) => isHedgeError(e, 'Internal') && /broken/.test((e as Error).message));
    });

    test('input goes to stdin; without it stdin is empty', async () => {
      assert.equal((await runCommand('cat', [], { input: 'hello' })).stdout, 'hello');
      assert.equal((await runCommand('cat', [], { input: '' })).stdout, '');
      assert.equal((await runCommand('cat', [])).stdout, '');
    });

    test('env replaces the environment; without it the process environment is inherited', async () => {
      assert.equal((await runCommand('/usr/bin/env', [], { env: { ONLY: 'this one' } })).stdout, 'ONLY=this one\n');
      assert.match((await runCommand('/usr/bin/env', [])).stdout, /^PATH=/m);
    });

    test('output larger than a pipe buffer arrives whole, multi-byte characters across chunks included', async () => {
      const res = await runCommand('sh', ['-c', 'seq 1 60000; printf "é%.0s" $(seq 1 20000)']);
      assert.equal(res.code, 0);
      const want = Array.from({ length: 60000 }, (_, i) => `${i + 1}\n`).join('') + 'é'.repeat(20000);
      assert.equal(res.stdout.length, want.length);
      assert.ok(res.stdout === want, 'the same text');
    });

    test('an exec that outlives its timeout or is aborted is a Timeout error carrying the reason', async () => {
      await assert.rejects(runCommand('sleep', ['5'], { timeoutMs: 50 }), (e: unknown) => isHedgeError(e, 'Timeout'));
      const ac = new AbortController();
      const p = runCommand('sleep', ['5'], { signal: ac.signal });
      setTimeout(() => ac.abort(new Error('cancelled')), 50);
      // the message names the command line and how long it ran (a hung `ip` at a node's start said only "ip: aborted")
      await assert.rejects(p, (e: unknown) => isHedgeError(e, 'Timeout') && /^sleep 5: aborted after \d+ ms.*: cancelled$/.test((e as Error).message));
      await assert.rejects(runCommand('true', [], { signal: ac.signal }), /cancelled/);
    });

    test('settleOnExit does not wait for a daemonized grandchild holding the pipes', async () => {
      const t0 = Date.now();
      // the background sleep inherits stdout; closing-based settling would wait for it
      const res = await runCommand('sh', ['-c', 'sleep 3 & echo $!'], { settleOnExit: true, timeoutMs: 10_000 });
      const elapsed = Date.now() - t0;
      process.kill(Number(res.stdout.trim()), 'SIGKILL');
      assert.equal(res.code, 0);
      assert.ok(elapsed < 2500, `settled on exit (${elapsed} ms)`);
    });

    test('a binary that does not exist is an Internal error', async () => {
      await assert.rejects(runCommand('/nonexistent/hedge-no-such-tool', []), (e: unknown) => isHedgeError(e, 'Internal') && /cannot run/.test((e as Error).message));
    });

    test('a field holding a newline (which the spawner cannot carry) still runs', async () => {
      assert.equal((await runCommand('printf', ['a\nb'])).stdout, 'a\nb');
    });
  });
}
