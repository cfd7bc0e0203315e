import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { removePodCgroup } from './cgroup-v1.ts';

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
