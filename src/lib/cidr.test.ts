import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cidrContains, familyOf, formatCidr, formatIp, networkAddress, parseCidr, parseIp } from './cidr.ts';

test('IPv4 and IPv6 addresses round-trip to their canonical text', () => {
  for (const [given, canonical] of [
    ['10.244.1.7', '10.244.1.7'],
    ['255.255.255.255', '255.255.255.255'],
    ['fd00:10:244::', 'fd00:10:244::'],
    ['FD00:0010:0244:0000:0000:0000:0000:0001', 'fd00:10:244::1'],
    ['::', '::'],
    ['::1', '::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['::ffff:10.0.0.1', '::ffff:a00:1'],
  ]) {
    const a = parseIp(given);
    assert.ok(a, given);
    assert.equal(formatIp(a.family, a.value), canonical, given);
  }
  for (const bad of ['10.0.0', '10.0.0.256', 'fd00:::1', 'fe80::1%eth0', 'x', '']) assert.equal(parseIp(bad), undefined, bad);
});

test('CIDRs: host bits cleared, network address, containment, family', () => {
  assert.deepEqual(parseCidr('10.244.7.9/16'), { family: 4, base: BigInt((10 * 256 + 244) * 65536), bits: 16 });
  assert.equal(formatCidr(parseCidr('fd00:10:244:1:2::3/56')!), 'fd00:10:244::/56');
  assert.equal(networkAddress('10.244.3.0/23'), '10.244.2.0');
  assert.equal(networkAddress('fd00:10:244:1::77/64'), 'fd00:10:244:1::');
  assert.equal(cidrContains('fd00:10:244::/56', 'fd00:10:244:ff::1'), true);
  assert.equal(cidrContains('fd00:10:244::/56', 'fd00:10:245::1'), false);
  assert.equal(cidrContains('10.244.0.0/16', '10.245.0.1'), false);
  assert.equal(cidrContains('10.0.0.0/8', 'fd00::1'), false, 'across families');
  assert.deepEqual([familyOf('10.0.0.0/8'), familyOf('fd00::/8'), familyOf('fd00::1'), familyOf('nope')], [4, 6, 6, undefined]);
  for (const bad of ['10.0.0.0/33', 'fd00::/129', '10.0.0.0', '10.0.0.0/8/1', '10.0.0.0/x']) assert.equal(parseCidr(bad), undefined, bad);
});
