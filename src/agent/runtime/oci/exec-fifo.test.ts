import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { execFifoPath, startViaExecFifo } from './exec-fifo.ts';

const dir = mkdtempSync(join(tmpdir(), 'hedge-exec-fifo-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const signal = (): AbortSignal => AbortSignal.timeout(10_000);
let n = 0;
const fifo = (): string => {
  const p = join(dir, `f${n++}`);
  execFileSync('mkfifo', [p]);
  return p;
};

test('the path runc keeps its exec fifo at', () => {
  assert.equal(execFifoPath('/run/x/runtime-root', 'c1'), '/run/x/runtime-root/c1/exec.fifo');
});

test('releases a writer blocked on the fifo (as runc init is), then removes the fifo', async () => {
  const p = fifo();
  // like runc's init: a blocking open for writing, one byte, closed on exec
  const init = spawn('sh', ['-c', `printf 0 > "$1"; exec sleep 0.2`, 'sh', p], { stdio: 'ignore' });
  const exited = new Promise((res) => init.on('exit', res));
  assert.equal(await startViaExecFifo({ fifo: p, initPid: init.pid!, signal: signal() }), true);
  assert.equal(existsSync(p), false, 'removed: runc reports the container running');
  await exited;
});

test('a writer that opens only after the reader is waiting is released too', async () => {
  const p = fifo();
  const init = spawn('sh', ['-c', `sleep 0.3; printf 0 > "$1"`, 'sh', p], { stdio: 'ignore' });
  assert.equal(await startViaExecFifo({ fifo: p, initPid: init.pid!, signal: signal() }), true);
});

test('an init that writes and is gone at once (a container that exits right away) still counts as started', async () => {
  for (let i = 0; i < 5; i++) {
    const p = fifo();
    // written just before, at or after a liveness look (every 100 ms), and gone right after
    const init = spawn('sh', ['-c', `sleep 0.${i}9; printf 0 > "$1"`, 'sh', p], { stdio: 'ignore' });
    assert.equal(await startViaExecFifo({ fifo: p, initPid: init.pid!, signal: signal() }), true);
  }
});

test('no fifo (started already, or not runc): false, so the caller asks the runtime', async () => {
  assert.equal(await startViaExecFifo({ fifo: join(dir, 'none'), initPid: process.pid, signal: signal() }), false);
});

test('an init that died before writing: false within its liveness check, the fifo left alone', async () => {
  const p = fifo();
  const dead = spawn('true', { stdio: 'ignore' });
  await new Promise((res) => dead.on('exit', res));
  const t0 = Date.now();
  assert.equal(await startViaExecFifo({ fifo: p, initPid: dead.pid!, signal: signal() }), false);
  assert.ok(Date.now() - t0 < 2000);
  assert.equal(existsSync(p), true);
});

test('a writer that closes without writing: false', async () => {
  const p = fifo();
  const init = spawn('sh', ['-c', `exec 3>"$1"; exec 3>&-; sleep 1`, 'sh', p], { stdio: 'ignore' });
  assert.equal(await startViaExecFifo({ fifo: p, initPid: init.pid!, signal: signal() }), false);
  init.kill();
});

test('abort while waiting rejects', async () => {
  const p = fifo();
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 50);
  // a live process that never writes
  await assert.rejects(startViaExecFifo({ fifo: p, initPid: process.pid, signal: ac.signal }), /aborted/);
});
