import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isHedgeError } from '../../lib/errors.ts';
import { isMountpoint } from './mount.ts';
import { runChecked } from './run-command.ts';
import { Spawner } from './spawner.ts';

const skip = new Spawner().available ? false : 'no /usr/bin/perl or no known mount(2) number here';
const root = process.getuid?.() === 0 ? false : 'needs root (mount)';

test('spawner: runs a command to its exit with its code, output, added environment and fd-3 text', { skip }, async () => {
  const s = new Spawner();
  try {
    const r = await s.run('/bin/sh', ['-c', 'echo "out $FOO"; echo err >&2; echo \'{"data": 42}\' >&3; exit 3'], { env: { FOO: 'a b' }, syncPipe: true });
    assert.deepEqual(r, { code: 3, stdout: 'out a b\n', stderr: 'err\n', sync: '{"data": 42}\n' });
    assert.equal((await s.run('/usr/bin/env', [], { env: { ONLY: 'this' }, replaceEnv: true })).stdout, 'ONLY=this\n');
    // stdin, and output far beyond one answer line, arrive whole
    const big = 'x'.repeat(50_000);
    assert.equal((await s.run('/bin/cat', [], { input: big })).stdout, big);
    assert.equal((await s.run('/bin/sh', ['-c', 'head -c 300000 /dev/zero | tr "\\0" y'])).stdout, 'y'.repeat(300_000));
    assert.equal((await s.run('/bin/cat', [])).stdout, '');
    const missing = await s.run('/nonexistent/tool', []);
    assert.equal(missing.code, 127);
    assert.match(missing.stderr, /cannot run \/nonexistent\/tool/);
    // concurrent requests are served side by side: the slowest does not hold the others
    const t0 = Date.now();
    const all = await Promise.all([3, 2, 1].map((i) => s.run('/bin/sh', ['-c', `sleep 0.${i}; echo ${i}`])));
    assert.deepEqual(all.map((r) => r.stdout), ['3\n', '2\n', '1\n']);
    assert.ok(Date.now() - t0 < 2000);
  } finally {
    s.close();
  }
});

test('spawner: settles at the exit, not when a daemonized grandchild closes the pipes', { skip }, async () => {
  const s = new Spawner();
  const dir = mkdtempSync(join(tmpdir(), 'hedge-spawner-'));
  try {
    const t0 = Date.now();
    const r = await s.run('/bin/sh', ['-c', `(sleep 3; echo late > ${dir}/late) & echo $!`], { timeoutMs: 10_000 });
    assert.ok(Date.now() - t0 < 2500, `settled after ${Date.now() - t0} ms`);
    process.kill(Number(r.stdout.trim()), 'SIGKILL');
  } finally {
    s.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('spawner: a timeout or an abort kills the command and is a Timeout error carrying the reason', { skip }, async () => {
  const s = new Spawner();
  const dir = mkdtempSync(join(tmpdir(), 'hedge-spawner-'));
  try {
    await assert.rejects(s.run('/bin/sleep', ['5'], { timeoutMs: 50 }), (e: unknown) => isHedgeError(e, 'Timeout'));
    const ac = new AbortController();
    const pidFile = join(dir, 'pid');
    const p = s.run('/bin/sh', ['-c', `echo $$ > ${pidFile}; exec sleep 5`], { signal: ac.signal });
    for (let i = 0; i < 200; i++) {
      try {
        if (readFileSync(pidFile, 'utf8').trim()) break;
      } catch {
        /* not yet */
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    ac.abort(new Error('cancelled'));
    await assert.rejects(p, (e: unknown) => isHedgeError(e, 'Timeout') && /cancelled/.test((e as Error).message));
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    for (let i = 0; i < 200; i++) {
      try {
        process.kill(pid, 0);
      } catch {
        return; // killed
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.fail('the aborted command still runs');
  } finally {
    s.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('spawner: an overlay mount is one mount(2) call; a failure says mount(2) words', { skip: skip || root }, async () => {
  const s = new Spawner();
  const dir = mkdtempSync(join(tmpdir(), 'hedge-spawner-'));
  const target = join(dir, 'rootfs');
  try {
    for (const d of ['lower', 'upper', 'work', 'rootfs']) mkdirSync(join(dir, d));
    writeFileSync(join(dir, 'lower', 'f'), 'from the layer');
    await s.mount({ source: 'overlay', target, fstype: 'overlay', data: `index=off,workdir=${dir}/work,upperdir=${dir}/upper,lowerdir=${dir}/lower` });
    assert.ok(await isMountpoint(target));
    assert.equal(readFileSync(join(target, 'f'), 'utf8'), 'from the layer');
    await assert.rejects(
      s.mount({ source: 'overlay', target: join(dir, 'nowhere'), fstype: 'overlay', data: `lowerdir=${dir}/lower` }),
      (e: unknown) => isHedgeError(e, 'Internal') && /nowhere: No such file or directory/.test((e as Error).message),
    );
  } finally {
    s.close();
    if (await isMountpoint(target)) await runChecked('umount', [target]);
    rmSync(dir, { recursive: true, force: true });
  }
});
