import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { test } from 'node:test';
import { isHedgeError } from '../../lib/errors.ts';
import { createNetns, listNetns, netnsExists, netnsPath, removeNetns } from './netns.ts';
import { inNetns, randomSuffix } from './test-helpers.ts';

test('netns: create is idempotent, lo is up, remove is idempotent and leaves nothing', async (t) => {
  const dir = `/run/hedge/test-${randomSuffix()}`;
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = netnsPath('pod-a', dir);
  await createNetns(path);
  await createNetns(path);
  assert.equal(await netnsExists(path), true);
  assert.deepEqual(await listNetns(dir), ['pod-a']);
  const lo = await inNetns(path, ['ip', '-o', 'link', 'show', 'lo']);
  assert.match(lo.stdout, /LOOPBACK,UP/);
  const links = await inNetns(path, ['ip', '-o', 'link', 'show']);
  assert.equal(links.stdout.trim().split('\n').length, 1, 'a fresh namespace holds only lo');
  await removeNetns(path);
  await removeNetns(path);
  assert.equal(await netnsExists(path), false);
  assert.equal(existsSync(path), false);
  assert.deepEqual(await listNetns(dir), []);
});

test('netns: a leftover file (no nsfs mounted on it), a missing path and a directory are not namespaces; create pins the leftover', async (t) => {
  const dir = `/run/hedge/test-${randomSuffix()}`;
  t.after(() => rm(dir, { recursive: true, force: true }));
  mkdirSync(dir, { recursive: true });
  const path = netnsPath('left', dir);
  writeFileSync(path, '');
  assert.equal(await netnsExists(path), false);
  assert.equal(await netnsExists(`${dir}/missing`), false);
  assert.equal(await netnsExists(dir), false);
  await createNetns(path);
  assert.equal(await netnsExists(path), true);
  await removeNetns(path);
  assert.equal(await netnsExists(path), false);
});

test('netns: names that are not one safe path segment are refused', () => {
  for (const bad of ['../x', 'a/b', '', '.hidden']) {
    assert.throws(() => netnsPath(bad, '/run/hedge/x'), (e: unknown) => isHedgeError(e, 'BadRequest'));
  }
});
