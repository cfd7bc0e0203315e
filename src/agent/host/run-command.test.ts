import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isHedgeError } from '../../lib/errors.ts';
import { runChecked, runCommand } from './run-command.ts';

test('runCommand: a non-zero exit is a result; runChecked makes it an Internal error with stderr', async () => {
  const res = await runCommand('sh', ['-c', 'echo out; echo err >&2; exit 3']);
  assert.deepEqual(res, { code: 3, stdout: 'out\n', stderr: 'err\n' });
  await assert.rejects(runChecked('sh', ['-c', 'echo broken >&2; exit 1']), (e: unknown) => isHedgeError(e, 'Internal') && /broken/.test((e as Error).message));
});

test('runCommand: input goes to stdin; without it stdin is empty', async () => {
  assert.equal((await runCommand('cat', [], { input: 'hello' })).stdout, 'hello');
  assert.equal((await runCommand('cat', [])).stdout, '');
});

test('runCommand: an exec that outlives its timeout or is aborted is a Timeout error carrying the reason', async () => {
  await assert.rejects(runCommand('sleep', ['5'], { timeoutMs: 50 }), (e: unknown) => isHedgeError(e, 'Timeout'));
  const ac = new AbortController();
  const p = runCommand('sleep', ['5'], { signal: ac.signal });
  ac.abort(new Error('cancelled'));
  await assert.rejects(p, (e: unknown) => isHedgeError(e, 'Timeout') && /cancelled/.test((e as Error).message));
  await assert.rejects(runCommand('true', [], { signal: ac.signal }), /cancelled/);
});

test('runCommand: settleOnExit does not wait for a daemonized grandchild holding the pipes', async () => {
  const t0 = Date.now();
  // the background sleep inherits stdout; closing-based settling would wait for it
  const res = await runCommand('sh', ['-c', 'sleep 3 & echo $!'], { settleOnExit: true, timeoutMs: 10_000 });
  const elapsed = Date.now() - t0;
  process.kill(Number(res.stdout.trim()), 'SIGKILL');
  assert.equal(res.code, 0);
  assert.ok(elapsed < 2500, `settled on exit (${elapsed} ms)`);
});

test('runCommand: a binary that does not exist is an Internal error', async () => {
  await assert.rejects(runCommand('/nonexistent/hedge-no-such-tool', []), (e: unknown) => isHedgeError(e, 'Internal'));
});
