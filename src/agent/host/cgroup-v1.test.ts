import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { cgroupHostProblem, removePodCgroup } from './cgroup.ts';
import { removeTree } from './cgroup-common.ts';

test('removePodCgroup removes the pod in every hierarchy, the cgroup2 unified one included, children first', async () => {
  const root = mkdtempSync(join(tmpdir(), 'hedge-cg-'));
  try {
    const parent = 'hedge-node/pod-1';
    for (const h of ['memory', 'cpu', 'devices', 'unified']) mkdirSync(join(root, h, parent, 'ctr-a'), { recursive: true });
    mkdirSync(join(root, 'unified', 'hedge-node', 'pod-2'), { recursive: true });
    await removePodCgroup({ cgroupRoot: root, cgroupParent: parent });
    for (const h of ['memory', 'cpu', 'devices', 'unified']) {
      assert.equal(existsSync(join(root, h, parent)), false, `${h}/${parent} is left`);
      assert.ok(existsSync(join(root, h, 'hedge-node')), `the node's own ${h} cgroup stays`);
    }
    assert.ok(existsSync(join(root, 'unified', 'hedge-node', 'pod-2')), 'another pod is untouched');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('cgroupHostProblem: a v1, hybrid or unified host passes; one without the v1 hierarchies (and no cgroup2) is refused naming them', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hedge-cghost-'));
  try {
    const hybrid = join(dir, 'hybrid');
    for (const h of ['cpu', 'cpuacct', 'memory', 'pids', 'unified']) mkdirSync(join(hybrid, h), { recursive: true });
    writeFileSync(join(hybrid, 'unified', 'cgroup.controllers'), '');
    assert.equal(cgroupHostProblem(hybrid), undefined);
    // this machine's own hierarchy is v1 (or hybrid): the node's start would refuse otherwise
    assert.equal(cgroupHostProblem('/sys/fs/cgroup'), undefined);

    const unified = join(dir, 'unified');
    mkdirSync(unified);
    writeFileSync(join(unified, 'cgroup.controllers'), 'cpuset cpu io memory pids\n');
    assert.equal(cgroupHostProblem(unified), undefined);

    const partial = join(dir, 'partial');
    for (const h of ['cpu', 'cpuacct']) mkdirSync(join(partial, h), { recursive: true });
    assert.match(cgroupHostProblem(partial) ?? '', /no cgroup v1 memory, pids hierarchy under .*partial/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const realMemoryCgroup = '/sys/fs/cgroup/memory';
test('removeTree on a real cgroup: one whose task was just killed is removed; one with a live task fails with EBUSY, after ~1.3 s of tries', { skip: process.getuid?.() !== 0 || !existsSync(`${realMemoryCgroup}/cgroup.procs`) ? 'needs root and the v1 memory hierarchy' : undefined }, async () => {
  const dir = join(realMemoryCgroup, `hedge-test-rmtree-${process.pid}`);
  const inCgroup = (): ReturnType<typeof spawn> => {
    mkdirSync(join(dir, 'leaf'), { recursive: true });
    // the shell moves itself in, then becomes sleep
    return spawn('/bin/sh', ['-c', `echo $$ > ${join(dir, 'leaf', 'cgroup.procs')} && exec sleep 60`], { stdio: 'ignore' });
  };
  const waitIn = async (): Promise<void> => {
    for (let i = 0; i < 200 && readFileSync(join(dir, 'leaf', 'cgroup.procs'), 'utf8').trim() === ''; i++) await new Promise((r) => setTimeout(r, 10));
  };
  try {
    for (let round = 0; round < 5; round++) {
      const child = inCgroup();
      await waitIn();
      child.kill('SIGKILL');
      await removeTree(dir);
      assert.equal(existsSync(dir), false, `round ${round}`);
    }
    const live = inCgroup();
    await waitIn();
    const t0 = Date.now();
    await assert.rejects(removeTree(dir), { code: 'EBUSY' });
    assert.ok(Date.now() - t0 >= 1000, 'tried again before reporting it');
    live.kill('SIGKILL');
    await removeTree(dir);
  } finally {
    try {
      for (const p of readFileSync(join(dir, 'leaf', 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) process.kill(Number(p), 'SIGKILL');
    } catch {
      // already gone
    }
    await new Promise((r) => setTimeout(r, 100));
    for (const d of [join(dir, 'leaf'), dir]) if (existsSync(d)) rmdirSync(d);
  }
});
