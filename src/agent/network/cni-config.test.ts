import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isHedgeError } from '../../lib/errors.ts';
import { buildConflist, validateNetworkConfig, type CniNetworkConfig } from './cni-config.ts';

const bridge = (mode: Partial<Extract<CniNetworkConfig['mode'], { type: 'bridge' }>>): CniNetworkConfig => ({ mode: { type: 'bridge', ...mode }, dataDir: '/var/lib/hedge-node' });

test('single-stack bridge: one host-local range and the IPv4 default route (unchanged)', () => {
  const ipam = buildConflist(bridge({ subnet: '10.244.3.0/24' })).plugins[0]!.ipam;
  assert.deepEqual(ipam, { type: 'host-local', dataDir: '/var/lib/hedge-node/cni/ipam', ranges: [[{ subnet: '10.244.3.0/24' }]], routes: [{ dst: '0.0.0.0/0' }] });
});

test('dual-stack bridge: two range sets (an address of each family) and a default route per family', () => {
  const cfg = bridge({ subnet: '10.244.3.0/24', ipv6Subnet: 'fd00:10:244:3::/64' });
  validateNetworkConfig(cfg);
  assert.deepEqual(buildConflist(cfg).plugins[0]!.ipam, {
    type: 'host-local',
    dataDir: '/var/lib/hedge-node/cni/ipam',
    ranges: [[{ subnet: '10.244.3.0/24' }], [{ subnet: 'fd00:10:244:3::/64' }]],
    routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }],
  });
});

test('dual-stack bridge: each range must be of its family', () => {
  for (const [mode, field] of [
    [{ subnet: '10.244.3.0/24', ipv6Subnet: '10.245.0.0/24' }, 'mode.ipv6Subnet'],
    [{ subnet: '10.244.3.0/24', ipv6Subnet: 'fd00::1' }, 'mode.ipv6Subnet'],
    [{ subnet: 'fd00:1::/64', ipv6Subnet: 'fd00:2::/64' }, 'mode.subnet'],
  ] as const) {
    assert.throws(
      () => validateNetworkConfig(bridge(mode)),
      (e: unknown) => isHedgeError(e, 'Invalid') && (e as Error).message.includes(`${field}:`),
      JSON.stringify(mode),
    );
  }
});
