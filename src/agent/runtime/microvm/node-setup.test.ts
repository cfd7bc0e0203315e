import assert from 'node:assert/strict';
import { test } from 'node:test';
import { silentLogger } from '../../../lib/log.ts';
import { watchForTailoredGuest } from './node-setup.ts';
import type { GuestArtifacts } from './vm.ts';

const debian: GuestArtifacts = { vmlinux: '/g/d/vmlinux', initrd: '/g/d/initrd.gz', kernelVersion: '6.1.0-57-amd64', kernel: 'debian' };
const tailored: GuestArtifacts = { vmlinux: '/g/t/vmlinux', initrd: '/g/t/initrd.gz', kernelVersion: '6.1.192-hedge', kernel: 'tailored' };

async function until(cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('new sandboxes switch to the tailored kernel once its background build lands, then the polling stops', async () => {
  const used: GuestArtifacts[] = [];
  let builds = 0;
  const results = [debian, debian, tailored];
  watchForTailoredGuest({
    handler: { useGuest: (g) => used.push(g) },
    build: async () => results[Math.min(builds++, results.length - 1)]!,
    intervalMs: 5,
    logger: silentLogger(),
  });
  await until(() => used.length > 0);
  assert.deepEqual(used, [tailored]);
  const after = builds;
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(builds, after, 'no builds after the switch');
  assert.equal(used.length, 1);
});

test('a failing build is retried and stop() ends the polling without a switch', async () => {
  const used: GuestArtifacts[] = [];
  let builds = 0;
  const w = watchForTailoredGuest({
    handler: { useGuest: (g) => used.push(g) },
    build: async () => {
      builds++;
      throw new Error('build-guest.sh failed');
    },
    intervalMs: 5,
    logger: silentLogger(),
  });
  await until(() => builds >= 2);
  w.stop();
  const after = builds;
  await new Promise((r) => setTimeout(r, 50));
  assert.ok(builds <= after + 1);
  assert.deepEqual(used, []);
});
