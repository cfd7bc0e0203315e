/**
 * The overlay on the real kernel: two network namespaces as two hosts on a veth, an Overlay
 * per host through IpNetlink. Pod gateways on each side reach each other over hedge.1; a
 * second sync writes nothing; tearDown leaves no device, route, neighbour or FDB entry.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../../lib/log.ts';
import { runCommand } from '../../host/run-command.ts';
import { IpNetlink } from './ip-netlink.ts';
import { Overlay, vtepMac } from './overlay.ts';

const skip = process.getuid?.() !== 0 ? 'needs root (network namespaces)' : ['/usr/bin/nsenter', '/usr/sbin/bridge', '/bin/busybox'].find((b) => !existsSync(b));

const rand = Math.floor(Math.random() * 0xffffff).toString(16).padStart(6, '0');
const ns = { a: `ova-${rand}`, b: `ovb-${rand}` };
const path = (n: string): string => `/run/netns/${n}`;
const underlay = { a: '192.168.250.2', b: '192.168.250.3' };
const pods = { a: '10.244.0.0/24', b: '10.244.1.0/24' };
const pods6 = { a: 'fd00:10:244::/64', b: 'fd00:10:244:1::/64' };

async function sh(cmd: string, args: string[]): Promise<string> {
  const r = await runCommand(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
const inNs = (n: string, cmd: string, args: string[]): Promise<string> => sh('nsenter', [`--net=${path(n)}`, cmd, ...args]);

describe('overlay on the kernel (IpNetlink)', { skip }, () => {
  before(async () => {
    await sh('ip', ['netns', 'add', ns.a]);
    await sh('ip', ['netns', 'add', ns.b]);
    await sh('ip', ['-n', ns.a, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns.b]);
    for (const h of ['a', 'b'] as const) {
      await sh('ip', ['-n', ns[h], 'addr', 'add', `${underlay[h]}/24`, 'dev', 'eth0']);
      await sh('ip', ['-n', ns[h], 'link', 'set', 'eth0', 'up']);
      await sh('ip', ['-n', ns[h], 'link', 'set', 'lo', 'up']);
      // the pods' gateway, as the CNI bridge would hold it
      await sh('ip', ['-n', ns[h], 'link', 'add', 'cni0', 'type', 'bridge']);
      await sh('ip', ['-n', ns[h], 'addr', 'add', `${pods[h].replace('.0/24', '.1/24')}`, 'dev', 'cni0']);
      await sh('ip', ['-n', ns[h], 'addr', 'add', pods6[h].replace('::/64', '::1/64'), 'dev', 'cni0', 'nodad']);
      await sh('ip', ['-n', ns[h], 'link', 'set', 'cni0', 'up']);
    }
  });
  after(async () => {
    await runCommand('ip', ['netns', 'del', ns.a]);
    await runCommand('ip', ['netns', 'del', ns.b]);
  });

  it('pods reach across, a re-sync writes nothing, tearDown leaves nothing', async () => {
    const overlays = {
      a: new Overlay({ mode: 'vxlan', nodeName: 'a', podCIDR: pods.a, publicIP: underlay.a }, new IpNetlink({ netnsPath: path(ns.a) }), silentLogger()),
      b: new Overlay({ mode: 'vxlan', nodeName: 'b', podCIDR: pods.b, publicIP: underlay.b }, new IpNetlink({ netnsPath: path(ns.b) }), silentLogger()),
    };
    const peers = [
      { name: 'a', podCIDR: pods.a, publicIP: underlay.a, vtepMAC: vtepMac('a') },
      { name: 'b', podCIDR: pods.b, publicIP: underlay.b, vtepMAC: vtepMac('b') },
    ];
    for (const o of Object.values(overlays)) {
      await o.setUp();
      assert.equal((await o.sync(peers)).length, 3);
    }
    const out = await inNs(ns.a, 'busybox', ['ping', '-c', '1', '-W', '5', '-I', '10.244.0.1', '10.244.1.1']);
    assert.match(out, /1 packets received/);
    assert.equal((await inNs(ns.a, 'cat', ['/proc/sys/net/ipv4/ip_forward'])).trim(), '1');

    // a restarted node: same device kept, nothing rewritten
    const again = new Overlay(overlays.a.cfg, new IpNetlink({ netnsPath: path(ns.a) }), silentLogger());
    await again.setUp();
    assert.deepEqual(await again.sync(peers), []);

    // a peer gone
    assert.deepEqual((await again.sync([peers[0]])).map((s) => s.op), ['delete-route', 'delete-neigh', 'delete-fdb']);
    assert.equal((await inNs(ns.a, 'ip', ['route', 'show', 'proto', '104'])).trim(), '');

    for (const o of [again, overlays.b]) await o.tearDown();
    for (const h of ['a', 'b'] as const) {
      assert.equal((await runCommand('nsenter', [`--net=${path(ns[h])}`, 'ip', 'link', 'show', 'dev', 'hedge.1'])).code !== 0, true, `hedge.1 left in ${h}`);
      assert.equal((await inNs(ns[h], 'ip', ['route', 'show', 'proto', '104'])).trim(), '');
    }
  });

  it('dual-stack: IPv6 pod ranges reach across over the IPv4 underlay; tearDown leaves no IPv6 route or neighbour', async () => {
    const mk = (h: 'a' | 'b'): Overlay =>
      new Overlay({ mode: 'vxlan', nodeName: h, podCIDR: pods[h], podCIDRv6: pods6[h], publicIP: underlay[h] }, new IpNetlink({ netnsPath: path(ns[h]) }), silentLogger());
    const overlays = { a: mk('a'), b: mk('b') };
    const peers = (['a', 'b'] as const).map((h) => ({ name: h, podCIDR: pods[h], podCIDRv6: pods6[h], publicIP: underlay[h], vtepMAC: vtepMac(h) }));
    for (const o of Object.values(overlays)) {
      await o.setUp();
      assert.equal((await o.sync(peers)).length, 5, 'FDB + 2 neighbours + 2 routes');
    }
    assert.equal((await inNs(ns.a, 'cat', ['/proc/sys/net/ipv6/conf/all/forwarding'])).trim(), '1');
    assert.match(await inNs(ns.a, 'ip', ['-6', 'addr', 'show', 'dev', 'hedge.1']), /inet6 fd00:10:244::\/128 scope global/);
    const out = await inNs(ns.a, 'busybox', ['ping', '-6', '-c', '1', '-W', '5', '-I', 'fd00:10:244::1', 'fd00:10:244:1::1']);
    assert.match(out, /1 packets received/);
    assert.deepEqual(await overlays.a.sync(peers), [], 'a second sync writes nothing (IPv6 entries read back as written)');
    for (const o of Object.values(overlays)) await o.tearDown();
    for (const h of ['a', 'b'] as const) {
      assert.equal((await inNs(ns[h], 'ip', ['-6', 'route', 'show', 'proto', '104'])).trim(), '');
      assert.notEqual((await runCommand('nsenter', [`--net=${path(ns[h])}`, 'ip', 'link', 'show', 'dev', 'hedge.1'])).code, 0);
    }
  });

  it('host-gw, dual-stack: IPv6 pod ranges via each side\'s IPv6 underlay address; tearDown leaves no IPv6 route', async () => {
    const underlay6 = { a: '2001:db8:250::2', b: '2001:db8:250::3' };
    for (const h of ['a', 'b'] as const) await sh('ip', ['-n', ns[h], 'addr', 'add', `${underlay6[h]}/64`, 'dev', 'eth0', 'nodad']);
    try {
      const mk = (h: 'a' | 'b'): Overlay =>
        new Overlay({ mode: 'host-gw', nodeName: h, podCIDR: pods[h], podCIDRv6: pods6[h], publicIP: underlay[h] }, new IpNetlink({ netnsPath: path(ns[h]) }), silentLogger());
      const overlays = { a: mk('a'), b: mk('b') };
      const published = { a: await overlays.a.setUp(), b: await overlays.b.setUp() };
      assert.deepEqual(published.a, { type: 'host-gw', publicIP: underlay.a, publicIPv6: underlay6.a });
      const peers = (['a', 'b'] as const).map((h) => ({ name: h, podCIDR: pods[h], podCIDRv6: pods6[h], publicIP: underlay[h], publicIPv6: published[h].publicIPv6 }));
      for (const o of Object.values(overlays)) assert.equal((await o.sync(peers)).length, 2, 'an IPv4 and an IPv6 route');
      assert.match(await inNs(ns.a, 'ip', ['-6', 'route', 'show', 'proto', '104']), new RegExp(`^fd00:10:244:1::/64 via ${underlay6.b} dev eth0`, 'm'));
      assert.equal((await inNs(ns.a, 'cat', ['/proc/sys/net/ipv6/conf/all/forwarding'])).trim(), '1');
      const out = await inNs(ns.a, 'busybox', ['ping', '-6', '-c', '1', '-W', '5', '-I', 'fd00:10:244::1', 'fd00:10:244:1::1']);
      assert.match(out, /1 packets received/);
      assert.deepEqual(await overlays.a.sync(peers), [], 'a second sync writes nothing');
      for (const o of Object.values(overlays)) await o.tearDown();
      for (const h of ['a', 'b'] as const) assert.equal((await inNs(ns[h], 'ip', ['-6', 'route', 'show', 'proto', '104'])).trim(), '');
    } finally {
      for (const h of ['a', 'b'] as const) await runCommand('ip', ['-n', ns[h], 'addr', 'del', `${underlay6[h]}/64`, 'dev', 'eth0']);
    }
  });
});
