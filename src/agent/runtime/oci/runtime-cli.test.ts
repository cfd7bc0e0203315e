import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { OciRuntimeCli } from './runtime-cli.ts';

test('crun gets the hybrid-mode wrapper on a hybrid host only: a unified (v2) host and a plain v1 one run it as it is', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hedge-rtcli-'));
  try {
    const crun = { binary: '/usr/bin/crun', kind: 'crun' as const, globalArgs: [] };
    const hybrid = join(dir, 'hybrid');
    mkdirSync(join(hybrid, 'unified'), { recursive: true });
    writeFileSync(join(hybrid, 'unified', 'cgroup.procs'), '');
    writeFileSync(join(hybrid, 'unified', 'cgroup.controllers'), '');
    const wrapped = await new OciRuntimeCli({ runtime: crun, stateDir: join(dir, 's1'), cgroupRoot: hybrid }).binary();
    assert.equal(wrapped, join(dir, 's1', 'bin', 'crun-hybrid'));
    assert.ok(existsSync(wrapped));

    const unified = join(dir, 'unified');
    mkdirSync(unified);
    writeFileSync(join(unified, 'cgroup.controllers'), 'cpu io memory pids\n');
    writeFileSync(join(unified, 'cgroup.procs'), '');
    assert.equal(await new OciRuntimeCli({ runtime: crun, stateDir: join(dir, 's2'), cgroupRoot: unified }).binary(), '/usr/bin/crun');
    assert.equal(existsSync(join(dir, 's2', 'bin')), false);

    const v1 = join(dir, 'v1');
    mkdirSync(join(v1, 'memory'), { recursive: true });
    assert.equal(await new OciRuntimeCli({ runtime: crun, stateDir: join(dir, 's3'), cgroupRoot: v1 }).binary(), '/usr/bin/crun');
    // runc never needs it
    assert.equal(await new OciRuntimeCli({ runtime: { ...crun, binary: '/usr/sbin/runc', kind: 'runc' }, stateDir: join(dir, 's4'), cgroupRoot: hybrid }).binary(), '/usr/sbin/runc');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
