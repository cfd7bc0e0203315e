import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { silentLogger } from '../../../lib/log.ts';
import { Overlay, vtepMac } from './overlay.ts';
import { networkAddress, planSteps, desiredState } from './plan.ts';
import { FakeNetlink } from './testing/fake-netlink.ts';
import type { OverlayPeer } from './types.ts';

const B: OverlayPeer = { name: 'b', podCIDR: '10.244.1.0/24', publicIP: '192.168.1.3', vtepMAC: vtepMac('b') };
const C: OverlayPeer = { name: 'c', podCIDR: '10.244.2.0/24', publicIP: '192.168.1.4', vtepMAC: vtepMac('c') };

function host(): FakeNetlink {
  const nl = new FakeNetlink();
  nl.addUnderlay('eth0', '192.168.1.2/24', 1500);
  return nl;
}

const vx = (nl: FakeNetlink): Overlay => new Overlay({ mode: 'vxlan', nodeName: 'a', podCIDR: '10.244.0.0/24', publicIP: '192.168.1.2' }, nl, silentLogger());

describe('overlay (vxlan)', () => {
  it('sets up the vtep like flannel: VNI 1, port 8472, no learning, MTU − 50, <podCIDR network>/32', async () => {
    const nl = host();
    const o = vx(nl);
    const b = await o.setUp();
    assert.deepEqual(b, { type: 'vxlan', publicIP: '192.168.1.2', vtepMAC: vtepMac('a'), vni: 1 });
    assert.deepEqual(nl.links.get('hedge.1'), { name: 'hedge.1', mac: vtepMac('a'), mtu: 1450, up: true, vxlan: { vni: 1, local: '192.168.1.2', dev: 'eth0', port: 8472, learning: false } });
    assert.deepEqual(nl.addrs.get('hedge.1'), ['10.244.0.0/32']);
    assert.equal(o.podMtu, 1450);
    assert.equal(nl.forwarding, true);
    assert.match(vtepMac('a'), /^[0-9a-f][26ae](:[0-9a-f]{2}){5}$/, 'locally administered unicast');
    assert.notEqual(vtepMac('a'), vtepMac('b'));
  });

  it('programs a route, a permanent neighbour and an FDB entry per peer, and a second sync changes nothing', async () => {
    const nl = host();
    const o = vx(nl);
    await o.setUp();
    const self: OverlayPeer = { name: 'a', podCIDR: '10.244.0.0/24', publicIP: '192.168.1.2', vtepMAC: vtepMac('a') };
    await o.sync([self, B, C]);
    assert.deepEqual(nl.routeTable.sort((x, y) => x.dst.localeCompare(y.dst)), [
      { dst: '10.244.1.0/24', via: '10.244.1.0', dev: 'hedge.1', onlink: true },
      { dst: '10.244.2.0/24', via: '10.244.2.0', dev: 'hedge.1', onlink: true },
    ]);
    assert.deepEqual(nl.neighTable.map((n) => [n.ip, n.mac]).sort(), [['10.244.1.0', vtepMac('b')], ['10.244.2.0', vtepMac('c')]]);
    assert.deepEqual(nl.fdbTable.map((f) => [f.mac, f.dst]).sort((x, y) => x[1].localeCompare(y[1])), [[vtepMac('b'), '192.168.1.3'], [vtepMac('c'), '192.168.1.4']]);
    const before = nl.calls.length;
    assert.deepEqual(await o.sync([self, B, C]), []);
    assert.equal(nl.calls.length, before, 'no writes when nothing changed');
  });

  it('a peer that goes loses its route, neighbour and FDB entry; a changed MAC or IP is replaced', async () => {
    const nl = host();
    const o = vx(nl);
    await o.setUp();
    await o.sync([B, C]);
    await o.sync([B]);
    assert.deepEqual(nl.routeTable.map((r) => r.dst), ['10.244.1.0/24']);
    assert.deepEqual(nl.neighTable.map((n) => n.ip), ['10.244.1.0']);
    assert.deepEqual(nl.fdbTable.map((f) => f.dst), ['192.168.1.3']);
    const moved = { ...B, publicIP: '192.168.1.9', vtepMAC: '0a:00:00:00:00:09' };
    await o.sync([moved]);
    assert.deepEqual(nl.fdbTable.map((f) => [f.mac, f.dst]), [['0a:00:00:00:00:09', '192.168.1.9']]);
    assert.deepEqual(nl.neighTable.map((n) => n.mac), ['0a:00:00:00:00:09']);
  });

  it('a restarted node adopts what it left (no writes), and a device with other parameters is recreated', async () => {
    const nl = host();
    const first = vx(nl);
    await first.setUp();
    await first.sync([B, C]);
    const n = nl.calls.length;
    const again = vx(nl);
    await again.setUp();
    assert.deepEqual(await again.sync([B, C]), []);
    assert.deepEqual(nl.calls.slice(n), [], 'restart: nothing rewritten');

    const link = nl.links.get('hedge.1');
    assert.ok(link?.vxlan);
    link.vxlan.vni = 7;
    nl.addrs.set('hedge.1', ['10.99.0.0/32']);
    const third = vx(nl);
    await third.setUp();
    assert.equal(nl.links.get('hedge.1')?.vxlan?.vni, 1);
    assert.deepEqual(nl.addrs.get('hedge.1'), ['10.244.0.0/32']);
    await third.sync([B, C]);
    assert.equal(nl.fdbTable.length, 2, 'entries come back on the new device');
  });

  it('tearDown removes the device, its entries and every overlay route', async () => {
    const nl = host();
    const o = vx(nl);
    await o.setUp();
    await o.sync([B, C]);
    await o.tearDown();
    assert.equal(nl.links.has('hedge.1'), false);
    assert.deepEqual([nl.routeTable, nl.neighTable, nl.fdbTable], [[], [], []]);
    await o.tearDown();
  });

  it('refuses a public IP that is on no interface, naming --internal-ip', async () => {
    const o = new Overlay({ mode: 'vxlan', nodeName: 'a', podCIDR: '10.244.0.0/24', publicIP: '10.9.9.9' }, host(), silentLogger());
    await assert.rejects(o.setUp(), /--internal-ip/);
  });
});

describe('overlay (vxlan, dual-stack)', () => {
  const B6: OverlayPeer = { ...B, podCIDRv6: 'fd00:10:244:1::/64' };
  const C4: OverlayPeer = C;
  const dual = (nl: FakeNetlink): Overlay =>
    new Overlay({ mode: 'vxlan', nodeName: 'a', podCIDR: '10.244.0.0/24', podCIDRv6: 'fd00:10:244::/64', publicIP: '192.168.1.2' }, nl, silentLogger());

  it('the vtep holds an IPv6 /128 besides the IPv4 /32, and IPv6 forwarding is on', async () => {
    const nl = host();
    await dual(nl).setUp();
    assert.deepEqual(nl.addrs.get('hedge.1'), ['10.244.0.0/32', 'fd00:10:244::/128']);
    assert.deepEqual([nl.forwarding, nl.forwarding6], [true, true]);
    const v4only = host();
    await vx(v4only).setUp();
    assert.equal(v4only.forwarding6, false, 'single-stack leaves IPv6 forwarding alone');
  });

  it('a dual-stack peer gets an IPv6 route and neighbour too, one shared FDB entry; a v4-only peer only its IPv4 ones', async () => {
    const nl = host();
    const o = dual(nl);
    await o.setUp();
    const steps = await o.sync([B6, C4]);
    assert.deepEqual(nl.routeTable.map((r) => [r.dst, r.via, r.onlink]).sort(), [
      ['10.244.1.0/24', '10.244.1.0', true],
      ['10.244.2.0/24', '10.244.2.0', true],
      ['fd00:10:244:1::/64', 'fd00:10:244:1::', true],
    ]);
    assert.deepEqual(nl.neighTable.map((n) => [n.ip, n.mac]).sort(), [['10.244.1.0', vtepMac('b')], ['10.244.2.0', vtepMac('c')], ['fd00:10:244:1::', vtepMac('b')]]);
    assert.equal(nl.fdbTable.length, 2);
    assert.equal(steps.length, 8, "2 FDB + 3 neighbours + 3 routes");
    assert.deepEqual(await o.sync([B6, C4]), [], 'a second sync writes nothing');
    // the peer loses its IPv6 range (re-registered single-stack): only the IPv6 entries go
    assert.deepEqual((await o.sync([B, C4])).map((s) => `${s.op} ${'route' in s ? s.route.dst : 'neigh' in s ? s.neigh.ip : s.fdb.mac}`), ['delete-route fd00:10:244:1::/64', 'delete-neigh fd00:10:244:1::']);
  });

  it('a single-stack node does not route peers\' IPv6 ranges', async () => {
    const nl = host();
    const o = vx(nl);
    await o.setUp();
    await o.sync([B6]);
    assert.deepEqual(nl.routeTable.map((r) => r.dst), ['10.244.1.0/24']);
    assert.deepEqual(nl.neighTable.map((n) => n.ip), ['10.244.1.0']);
  });

  it('tearDown removes the IPv6 entries with the rest', async () => {
    const nl = host();
    const o = dual(nl);
    await o.setUp();
    await o.sync([B6]);
    await o.tearDown();
    assert.deepEqual([nl.routeTable, nl.neighTable, nl.fdbTable], [[], [], []]);
  });
});

describe('overlay (host-gw)', () => {
  it('routes peers on the same L2 via their public IP and leaves the others out', async () => {
    const nl = host();
    const o = new Overlay({ mode: 'host-gw', nodeName: 'a', podCIDR: '10.244.0.0/24', publicIP: '192.168.1.2' }, nl, silentLogger());
    assert.deepEqual(await o.setUp(), { type: 'host-gw', publicIP: '192.168.1.2' });
    assert.equal(nl.links.has('hedge.1'), false);
    assert.equal(o.podMtu, 1500);
    await o.sync([B, { name: 'far', podCIDR: '10.244.5.0/24', publicIP: '172.16.0.5' }]);
    assert.deepEqual(nl.routeTable, [{ dst: '10.244.1.0/24', via: '192.168.1.3', dev: 'eth0', onlink: false }]);
    await o.tearDown();
    assert.deepEqual(nl.routeTable, []);
  });

  const dualGw = (nl: FakeNetlink, logger = silentLogger()): Overlay =>
    new Overlay({ mode: 'host-gw', nodeName: 'a', podCIDR: '10.244.0.0/24', podCIDRv6: 'fd00:10:244::/64', publicIP: '192.168.1.2' }, nl, logger);
  const B6: OverlayPeer = { name: 'b', podCIDR: '10.244.1.0/24', podCIDRv6: 'fd00:10:244:1::/64', publicIP: '192.168.1.3', publicIPv6: '2001:db8:1::3' };

  it('dual-stack: publishes its IPv6 underlay address and routes peers\' IPv6 ranges via theirs (same IPv6 subnet only)', async () => {
    const nl = host();
    await nl.addAddress('eth0', '2001:db8:1::2/64');
    const o = dualGw(nl);
    assert.deepEqual(await o.setUp(), { type: 'host-gw', publicIP: '192.168.1.2', publicIPv6: '2001:db8:1::2' });
    const v4only: OverlayPeer = { name: 'c', podCIDR: '10.244.2.0/24', podCIDRv6: 'fd00:10:244:2::/64', publicIP: '192.168.1.4' };
    const elsewhere6: OverlayPeer = { name: 'd', podCIDR: '10.244.3.0/24', podCIDRv6: 'fd00:10:244:3::/64', publicIP: '192.168.1.5', publicIPv6: '2001:db8:9::5' };
    await o.sync([B6, v4only, elsewhere6]);
    assert.deepEqual(nl.routeTable.sort((x, y) => x.dst.localeCompare(y.dst)), [
      { dst: '10.244.1.0/24', via: '192.168.1.3', dev: 'eth0', onlink: false },
      { dst: '10.244.2.0/24', via: '192.168.1.4', dev: 'eth0', onlink: false },
      { dst: '10.244.3.0/24', via: '192.168.1.5', dev: 'eth0', onlink: false },
      { dst: 'fd00:10:244:1::/64', via: '2001:db8:1::3', dev: 'eth0', onlink: false },
    ]);
    assert.equal(nl.forwarding, true);
    assert.deepEqual(await o.sync([B6, v4only, elsewhere6]), [], 'a second sync changes nothing');
    await o.sync([{ ...B6, publicIPv6: undefined }]);
    assert.deepEqual(nl.routeTable, [{ dst: '10.244.1.0/24', via: '192.168.1.3', dev: 'eth0', onlink: false }], 'a peer withdrawing its IPv6 next hop loses the route');
  });

  it('dual-stack without an IPv6 underlay address: a warning naming the fix, IPv4 routes only', async () => {
    const nl = host();
    const warnings: string[] = [];
    const logger = { ...silentLogger(), warn: (_o: unknown, msg?: string) => void warnings.push(msg ?? '') } as unknown as ReturnType<typeof silentLogger>;
    const o = dualGw(nl, logger);
    assert.deepEqual(await o.setUp(), { type: 'host-gw', publicIP: '192.168.1.2' });
    assert.match(warnings.join('\n'), /eth0 has no global IPv6 address.*--overlay vxlan/);
    await o.sync([B6]);
    assert.deepEqual(nl.routeTable, [{ dst: '10.244.1.0/24', via: '192.168.1.3', dev: 'eth0', onlink: false }]);
  });
});

describe('plan', () => {
  it('orders adds fdb → neighbour → route and removals route → neighbour → fdb', () => {
    const want = desiredState({ type: 'vxlan', device: 'hedge.1' }, [B]);
    assert.deepEqual(planSteps({ routes: [], neighbours: [], fdb: [] }, want).map((s) => s.op), ['replace-fdb', 'replace-neigh', 'replace-route']);
    assert.deepEqual(planSteps(want, { routes: [], neighbours: [], fdb: [] }).map((s) => s.op), ['delete-route', 'delete-neigh', 'delete-fdb']);
  });

  it('networkAddress', () => {
    assert.equal(networkAddress('10.244.1.77/24'), '10.244.1.0');
    assert.equal(networkAddress('10.244.3.0/23'), '10.244.2.0');
    assert.equal(networkAddress('fd00:10:244:1::9/64'), 'fd00:10:244:1::');
  });
});
