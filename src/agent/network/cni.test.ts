import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { isHedgeError } from '../../lib/errors.ts';
import { CNI_VERSION, CniRunner } from './cni.ts';
import { masqChainName } from './masq-sweep.ts';
import { createNetns, removeNetns } from './netns.ts';
import { randomSuffix } from './test-helpers.ts';

test('cni: VERSION reports 1.0.0 support; a missing plugin is a clear error', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hedge-cni-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const runner = new CniRunner({ cniPath: ['/nonexistent', '/usr/lib/cni'], cacheDir: dir });
  const v = await runner.version('bridge');
  assert.ok(v.supportedVersions.includes(CNI_VERSION));
  await assert.rejects(runner.version('nosuchplugin'), (e: unknown) => isHedgeError(e, 'BadRequest') && /nosuchplugin/.test(e.message));
});

test('cni: the plugin error JSON (bad subnet) becomes a HedgeError with its msg; nothing is cached', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hedge-cni-'));
  const ns = `/run/hedge/test-${randomSuffix()}/a`;
  t.after(async () => {
    await removeNetns(ns);
    await rm(dirname(ns), { recursive: true, force: true });
    await rm(dir, { recursive: true, force: true });
  });
  await createNetns(ns);
  const runner = new CniRunner({ cniPath: ['/usr/lib/cni'], cacheDir: dir, timeoutMs: 10_000 });
  const list = {
    cniVersion: CNI_VERSION,
    name: 'hedgebad',
    // host-local runs fine as a top-level plugin and touches nothing but its data dir
    plugins: [{ type: 'host-local', ipam: { type: 'host-local', dataDir: dir, ranges: [[{ subnet: '10.300.0.0/24' }]] } }],
  };
  const rt = { containerId: 'c1', netns: ns, ifName: 'eth0', args: [] as [string, string][], capabilityArgs: {} };
  await assert.rejects(runner.addNetworkList(list, rt), (e: unknown) => {
    assert.ok(isHedgeError(e), String(e));
    assert.match(e.message, /^CNI plugin host-local ADD failed/);
    assert.match(e.message, /10\.300\.0\.0/);
    return true;
  });
  assert.equal(await runner.getCachedAttachment('hedgebad', 'c1', 'eth0'), undefined);
  await runner.delNetworkList({ ...list, plugins: [{ type: 'loopback' }] }, rt);
});

test('cni: masquerade chain names match the bridge plugin', () => {
  // observed from the bridge plugin 1.1.1 for network "hedge", container "ac3e1b-a"
  assert.equal(masqChainName('hedge', 'ac3e1b-a'), 'CNI-cc740d30433b7cf487f3c987');
});
