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

test('dual-stack: the IPv6 pod range gets the same chain in ip6tables (cluster CIDR exempt, multicast never), and both go with remove', { skip: skip ?? (existsSync('/usr/sbin/ip6tables') ? undefined : 'no ip6tables') }, async () => {
  const rand = Math.floor(Math.random() * 0xffffff).toString(16).padStart(6, '0');
  const sub = Math.floor(Math.random() * 256);
  const m = { bridge: `hm${rand}`, subnet: `10.201.${sub}.0/24`, subnet6: `fd00:10:201:${sub.toString(16)}::/64`, noMasq: ['10.244.0.0/16', 'fd00:10:244::/56'] };
  const chain = nodeMasqChain(m);
  const rules = async (bin: string, c: string): Promise<string[]> => (await runCommand(bin, ['-w', '-t', 'nat', '-S', c])).stdout.split('\n').filter((l) => l.startsWith('-A '));
  try {
    await ensureNodeMasq(m);
    assert.deepEqual(await rules('ip6tables', chain), [`-A ${chain} -d ${m.subnet6} -j ACCEPT`, `-A ${chain} -d fd00:10:244::/56 -j ACCEPT`, `-A ${chain} ! -d ff00::/8 -j MASQUERADE`]);
    assert.deepEqual(await rules('iptables', chain), [`-A ${chain} -d ${m.subnet} -j ACCEPT`, `-A ${chain} -d 10.244.0.0/16 -j ACCEPT`, `-A ${chain} ! -d 224.0.0.0/4 -j MASQUERADE`]);
    assert.equal((await rules('ip6tables', 'POSTROUTING')).filter((l) => l.includes(`-s ${m.subnet6} `) && l.endsWith(`-j ${chain}`)).length, 1);
    await ensureNodeMasq(m);
    assert.equal((await rules('ip6tables', chain)).length, 3, 'idempotent');
    // removed without knowing the subnets (as the sweep of a gone bridge does)
    await removeNodeMasq({ bridge: m.bridge });
    for (const bin of ['iptables', 'ip6tables']) {
      assert.equal((await runCommand(bin, ['-w', '-t', 'nat', '-S', chain])).code === 0, false, `${bin} chain removed`);
      assert.equal((await rules(bin, 'POSTROUTING')).some((l) => l.includes(chain)), false, `${bin} jump removed`);
    }
  } finally {
    await removeNodeMasq(m);
  }
});
