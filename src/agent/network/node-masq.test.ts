import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { runCommand } from '../host/run-command.ts';
import { ensureNodeMasq, nodeMasqChain, removeNodeMasq } from './node-masq.ts';

const skip = process.getuid?.() !== 0 ? 'needs root (iptables)' : existsSync('/usr/sbin/iptables') ? undefined : 'no iptables';

test('the masquerade chain never NATs traffic to the cluster CIDR, and follows a changed CIDR', { skip }, async () => {
  const rand = Math.floor(Math.random() * 0xffffff).toString(16).padStart(6, '0');
  const m = { bridge: `hm${rand}`, subnet: `10.201.${Math.floor(Math.random() * 256)}.0/24`, noMasq: ['10.244.0.0/16'] };
  const chain = nodeMasqChain(m);
  const rules = async (): Promise<string[]> =>
    (await runCommand('iptables', ['-w', '-t', 'nat', '-S', chain])).stdout.split('\n').filter((l) => l.startsWith('-A '));
  try {
    await ensureNodeMasq(m);
    assert.deepEqual(await rules(), [`-A ${chain} -d ${m.subnet} -j ACCEPT`, `-A ${chain} -d 10.244.0.0/16 -j ACCEPT`, `-A ${chain} ! -d 224.0.0.0/4 -j MASQUERADE`]);
    await ensureNodeMasq(m);
    assert.equal((await rules()).length, 3, 'idempotent');
    await ensureNodeMasq({ ...m, noMasq: ['10.96.0.0/12'] });
    assert.deepEqual(await rules(), [`-A ${chain} -d ${m.subnet} -j ACCEPT`, `-A ${chain} -d 10.96.0.0/12 -j ACCEPT`, `-A ${chain} ! -d 224.0.0.0/4 -j MASQUERADE`]);
  } finally {
    await removeNodeMasq(m);
  }
  assert.equal((await runCommand('iptables', ['-w', '-t', 'nat', '-S', chain])).code === 0, false, 'chain removed');
});
