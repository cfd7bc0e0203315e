import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { after, before, describe, it, test } from 'node:test';
import { runChecked } from '../../host/run-command.ts';
import { createNetns, removeNetns } from '../../network/netns.ts';
import { inNetns, randomSubnet, randomSuffix } from '../../network/test-helpers.ts';
import { extraPodInterfaces, guestNetKernelArgs, guestNetQemuArgs, pickPodInterface, plugSteps, POD_TAP, tapGuardFilters } from './pod-network.ts';

// `ip -j addr show` / `ip -j -4 route show` in a CNI bridge pod netns, with a tap left by a previous attempt
const addrs = JSON.stringify([
  { ifname: 'lo', link_type: 'loopback', address: '00:00:00:00:00:00', mtu: 65536, addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8, scope: 'host' }] },
  { ifname: POD_TAP, link_type: 'ether', address: '12:34:56:78:9a:bc', mtu: 1500, addr_info: [] },
  { ifname: 'eth0', link_type: 'ether', address: '6e:1f:aa:00:01:02', mtu: 1450, addr_info: [
    { family: 'inet6', local: 'fe80::1', prefixlen: 64, scope: 'link' },
    { family: 'inet', local: '10.88.0.7', prefixlen: 16, scope: 'global' },
  ] },
]);
const routes = JSON.stringify([
  { dst: 'default', gateway: '10.88.0.1', dev: 'eth0' },
  { dst: '10.88.0.0/16', dev: 'eth0', protocol: 'kernel', scope: 'link', prefsrc: '10.88.0.7' },
]);

test('the CNI interface is the addressed non-loopback one; its MAC, MTU and default gateway go to the guest', () => {
  const n = pickPodInterface(addrs, routes);
  assert.deepEqual(n, { podInterface: 'eth0', mac: '6e:1f:aa:00:01:02', address: '10.88.0.7', prefixLength: 16, mtu: 1450, gateway: '10.88.0.1' });
  const g = { ...n!, tap: POD_TAP };
  assert.deepEqual(guestNetKernelArgs([g]), ['hedge.nic=eth0,6e:1f:aa:00:01:02,1450,10.88.0.7/16', 'hedge.route=eth0,default,10.88.0.1']);
  assert.deepEqual(guestNetQemuArgs([g]), ['-netdev', `tap,id=net0,ifname=${POD_TAP},script=no,downscript=no,vhost=off`, '-device', 'virtio-net-device,netdev=net0,mac=6e:1f:aa:00:01:02']);
});

// dual-stack: `ip -j addr show` with the IPv6 lease beside the IPv4 one, and both families' routes
const addrs6 = JSON.stringify([
  { ifname: 'lo', link_type: 'loopback', address: '00:00:00:00:00:00', mtu: 65536, addr_info: [{ family: 'inet6', local: '::1', prefixlen: 128, scope: 'host' }] },
  { ifname: 'eth0', link_type: 'ether', address: '6e:1f:aa:00:01:02', mtu: 1450, addr_info: [
    { family: 'inet', local: '10.244.1.7', prefixlen: 24, scope: 'global' },
    { family: 'inet6', local: 'fd00:10:244:1::7', prefixlen: 64, scope: 'global' },
    { family: 'inet6', local: 'fe80::6c1f:aaff:fe00:102', prefixlen: 64, scope: 'link' },
  ] },
]);
const routes6 = JSON.stringify([
  { dst: 'default', gateway: '10.244.1.1', dev: 'eth0' },
  { dst: '10.244.1.0/24', dev: 'eth0', protocol: 'kernel', scope: 'link' },
  { dst: 'fd00:10:244:1::/64', dev: 'eth0', protocol: 'kernel', metric: 256 },
  { dst: 'fe80::/64', dev: 'eth0', protocol: 'kernel', metric: 256 },
  { dst: 'fd00:10:96::/112', gateway: 'fd00:10:244:1::1', dev: 'eth0', metric: 1024 },
  { dst: 'default', gateway: 'fd00:10:244:1::1', dev: 'eth0', metric: 1024 },
]);

test('dual-stack: the guest NIC gets the IPv6 lease and IPv6 default route beside the IPv4 ones, and the tap guard passes its IPv6 source', () => {
  const n = pickPodInterface(addrs6, routes6);
  assert.deepEqual(n, {
    podInterface: 'eth0', mac: '6e:1f:aa:00:01:02', mtu: 1450, address: '10.244.1.7', prefixLength: 24, gateway: '10.244.1.1',
    address6: 'fd00:10:244:1::7', prefixLength6: 64, gateway6: 'fd00:10:244:1::1', routes: [{ dst: 'fd00:10:96::/112', gateway: 'fd00:10:244:1::1' }],
  });
  const g = { ...n!, tap: POD_TAP };
  assert.deepEqual(guestNetKernelArgs([g]), [
    'hedge.nic=eth0,6e:1f:aa:00:01:02,1450,10.244.1.7/24,fd00:10:244:1::7/64',
    'hedge.route=eth0,default,10.244.1.1',
    'hedge.route=eth0,::/0,fd00:10:244:1::1',
    'hedge.route=eth0,fd00:10:96::/112,fd00:10:244:1::1',
  ]);
  assert.equal(tapGuardFilters(g).at(-1)?.join(' '), `tc filter add dev ${POD_TAP} parent ffff: pref 4 protocol ipv6 u32 match ip6 src fd00:10:244:1::7/128 match u32 0x6e1faa00 0xffffffff at -8 match u16 0x0102 0xffff at -4 action mirred egress redirect dev eth0`);
  // an IPv4-only pod: as before, no IPv6 filter but the link-local one
  assert.equal(tapGuardFilters({ ...g, address6: undefined }).length, 3);
  // a gateway of the other family, or an address that is none, is refused
  assert.throws(() => guestNetKernelArgs([{ ...g, gateway6: '10.244.1.1' }]), /route ::\/0/);
  assert.throws(() => guestNetKernelArgs([{ ...g, address6: 'fd00::1 init=/x' }]), /address/);
});

test('a netns without an addressed interface (host-device not moved yet, or none) gives nothing to hand over', () => {
  assert.equal(pickPodInterface(JSON.stringify([{ ifname: 'lo', link_type: 'loopback', address: '00:00:00:00:00:00' }]), '[]'), undefined);
});

test('no default route: the guest gets address and MTU only', () => {
  const n = pickPodInterface(addrs, JSON.stringify([{ dst: '10.88.0.0/16', dev: 'eth0', protocol: 'kernel' }]));
  assert.equal(n?.gateway, undefined);
  assert.deepEqual(guestNetKernelArgs([{ ...n!, tap: POD_TAP }]), ['hedge.nic=eth0,6e:1f:aa:00:01:02,1450,10.88.0.7/16']);
});

// a NAD net1 (macvlan with IPAM routes) and an L2-only net2 beside the cluster eth0, a bridge and tap of an earlier attempt
const withExtras = JSON.stringify([
  ...(JSON.parse(addrs) as unknown[]),
  { ifname: 'net1', link_type: 'ether', address: '02:00:00:00:00:09', mtu: 1500, addr_info: [{ family: 'inet', local: '192.0.2.9', prefixlen: 24 }] },
  { ifname: 'sit0', link_type: 'sit', address: '0.0.0.0', addr_info: [] },
  { ifname: 'hedgebr1', link_type: 'ether', address: '02:aa:00:00:00:01', addr_info: [] },
  { ifname: 'hedgetap1', link_type: 'ether', address: '02:aa:00:00:00:02', addr_info: [] },
  { ifname: 'net2', link_type: 'ether', address: '02:00:00:00:00:0A', mtu: 9000, addr_info: [] },
]);
const extraRoutes = JSON.stringify([
  ...(JSON.parse(routes) as unknown[]),
  { dst: '192.0.2.0/24', dev: 'net1', protocol: 'kernel', scope: 'link' },
  { dst: '198.51.100.0/24', gateway: '192.0.2.1', dev: 'net1' },
]);

test('extra interfaces (NADs) become NICs of their own, with their routes; lo, ours and fallback tunnels do not', () => {
  assert.deepEqual(extraPodInterfaces(addrs, routes, 'eth0'), []);
  const extras = extraPodInterfaces(withExtras, extraRoutes, 'eth0');
  assert.deepEqual(extras, [
    { podInterface: 'net1', mac: '02:00:00:00:00:09', mtu: 1500, address: '192.0.2.9', prefixLength: 24, routes: [{ dst: '198.51.100.0/24', gateway: '192.0.2.1' }] },
    { podInterface: 'net2', mac: '02:00:00:00:00:0a', mtu: 9000 },
  ]);
  const nics = [pickPodInterface(withExtras, extraRoutes)!, ...extras].map((x, i) => ({ ...x, tap: `hedgetap${i}` }));
  assert.deepEqual(guestNetKernelArgs(nics), [
    'hedge.nic=eth0,6e:1f:aa:00:01:02,1450,10.88.0.7/16',
    'hedge.nic=net1,02:00:00:00:00:09,1500,192.0.2.9/24',
    'hedge.nic=net2,02:00:00:00:00:0a,9000',
    'hedge.route=eth0,default,10.88.0.1',
    'hedge.route=net1,198.51.100.0/24,192.0.2.1',
  ]);
  assert.deepEqual(guestNetQemuArgs(nics).filter((a) => a.startsWith('virtio-net')), nics.map((n, i) => `virtio-net-device,netdev=net${i},mac=${n.mac}`));
});

test('what cannot be said on a kernel command line is refused, not passed on', () => {
  const base = { podInterface: 'net1', tap: 'hedgetap1', mac: '02:00:00:00:00:09', mtu: 1500 };
  assert.throws(() => guestNetKernelArgs([{ ...base, podInterface: 'a b' }]), /its name/);
  assert.throws(() => guestNetKernelArgs([{ ...base, mac: '02:00:00:00:00' }]), /MAC/);
  assert.throws(() => guestNetKernelArgs([{ ...base, routes: [{ dst: '10.0.0.0/8 x', gateway: '192.0.2.1' }] }]), /route/);
});

test('a bridged interface: tap and interface on a bridge with a MAC of its own, the interface\'s local FDB entry gone; redirected: tc both ways', () => {
  const br = plugSteps({ podInterface: 'net1', tap: 'hedgetap1', bridge: 'hedgebr1', mac: '02:00:00:00:00:09', mtu: 1500, address: '192.0.2.9', prefixLength: 24 }, '02:11:22:33:44:55');
  assert.deepEqual(br.map((x) => x.join(' ')), [
    'ip tuntap add dev hedgetap1 mode tap',
    'ip link set hedgetap1 mtu 1500',
    'ip link add hedgebr1 address 02:11:22:33:44:55 type bridge nf_call_iptables 1 nf_call_ip6tables 1',
    'ip link set hedgebr1 arp off addrgenmode none mtu 1500',
    'ip link set net1 master hedgebr1',
    'ip link set hedgetap1 master hedgebr1',
    'bridge fdb del 02:00:00:00:00:09 dev net1 master',
    'ip link set hedgetap1 up',
    'ip link set hedgebr1 up',
  ]);
  const rd = plugSteps({ podInterface: 'eth0', tap: POD_TAP, mac: '6e:1f:aa:00:01:02', mtu: 1450, address: '10.88.0.7', prefixLength: 16 });
  assert.ok(rd.some((x) => x.join(' ').includes(`mirred egress redirect dev ${POD_TAP}`)));
  assert.ok(rd.some((x) => x.join(' ').includes('mirred egress redirect dev eth0')));
  assert.ok(!rd.some((x) => x.includes('bridge')));
});

test('the tap guard matches the guest\'s own MAC and address (ARP sender in 16-bit halves), nothing else', () => {
  const f = tapGuardFilters({ podInterface: 'eth0', tap: POD_TAP, mac: '6e:1f:aa:00:01:02', address: '10.88.0.7', prefixLength: 16, mtu: 1450 });
  const mac = 'match u32 0x6e1faa00 0xffffffff at -8 match u16 0x0102 0xffff at -4 action mirred egress redirect dev eth0';
  assert.deepEqual(f.map((x) => x.join(' ')), [
    `tc filter add dev ${POD_TAP} parent ffff: pref 1 protocol ip u32 match ip src 10.88.0.7/32 ${mac}`,
    `tc filter add dev ${POD_TAP} parent ffff: pref 2 protocol arp u32 match u16 0x0a58 0xffff at 14 match u16 0x0007 0xffff at 16 match u32 0x6e1faa00 0xffffffff at 8 match u16 0x0102 0xffff at 12 ${mac}`,
    `tc filter add dev ${POD_TAP} parent ffff: pref 3 protocol ipv6 u32 match ip6 src fe80::/10 ${mac}`,
  ]);
  assert.throws(() => tapGuardFilters({ podInterface: 'eth0', tap: POD_TAP, mac: 'zz', address: '10.88.0.7', prefixLength: 16, mtu: 1500 }), /not a MAC/);
});

/**
 * The filters on the real kernel. A tap's ingress is what its fd writes, which node cannot open;
 * a veth's ingress takes the same tc filters, so a "guest" netns sends through a veth standing in
 * for the tap: its own frames reach the "lan" on the other side of the pod interface, forged
 * ones (source address, ARP sender) do not.
 */
describe('tap guard filters on the real kernel', { skip: process.getuid?.() !== 0 || !existsSync('/bin/busybox') ? 'needs root and busybox' : undefined, concurrency: false }, () => {
  const run = randomSuffix();
  const dir = `/run/hedge/tapguard-test-${run}`;
  const ns = (n: string): string => `${dir}/${n}`;
  const { prefix } = randomSubnet();
  const ip = { guest: `${prefix}.2`, lan: `${prefix}.3`, spoofed: `${prefix}.99` };
  // dual-stack: the same three in a ULA /64 of this run
  const p6 = `fd00:${prefix.split('.').slice(1).join(':')}:`;
  const ip6 = { guest: `${p6}:2`, lan: `${p6}:3`, spoofed: `${p6}:99` };
  const ping6 = async (src: string): Promise<boolean> => (await sh('guest', `ping -6 -c1 -W2 -I ${src} ${ip6.lan}`)).code === 0;
  const sh = (n: string, cmd: string): Promise<{ code: number; stdout: string; stderr: string }> => inNetns(ns(n), ['busybox', 'sh', '-c', cmd]);
  const ping = async (src: string): Promise<boolean> => (await sh('guest', `ping -c1 -W2 -I ${src} ${ip.lan}`)).code === 0;
  const MAC = '02:00:5e:00:00:02';
  const lanLearnt = async (addr: string): Promise<boolean> => /lladdr/.test((await sh('lan', `ip neigh show ${addr}`)).stdout);

  before(async () => {
    await mkdir(dir, { recursive: true });
    for (const n of ['guest', 'pod', 'lan']) await createNetns(ns(n));
    const mac = MAC;
    await runChecked('nsenter', [`--net=${ns('pod')}`, '--', 'ip', 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns('lan')]);
    await runChecked('nsenter', [`--net=${ns('pod')}`, '--', 'ip', 'link', 'add', 'gtap', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns('guest')]);
    // the pod netns as plugPodTap leaves it, with the veth `gtap` as the tap (tc: the real one, not busybox's applet)
    const steps = [
      ['ip', 'link', 'set', 'eth0', 'address', mac, 'up'],
      ['ip', 'link', 'set', 'gtap', 'up'],
      ['tc', 'qdisc', 'add', 'dev', 'eth0', 'ingress'],
      ['tc', 'filter', 'add', 'dev', 'eth0', 'parent', 'ffff:', 'protocol', 'all', 'u32', 'match', 'u8', '0', '0', 'action', 'mirred', 'egress', 'redirect', 'dev', 'gtap'],
      ['tc', 'qdisc', 'add', 'dev', 'gtap', 'ingress'],
      // what plugPodTap installed before the guard: everything the guest sends is redirected
      ['tc', 'filter', 'add', 'dev', 'gtap', 'parent', 'ffff:', 'pref', '9', 'protocol', 'all', 'u32', 'match', 'u8', '0', '0', 'action', 'mirred', 'egress', 'redirect', 'dev', 'eth0'],
    ];
    for (const s of steps) await runChecked('nsenter', [`--net=${ns('pod')}`, '--', ...s]);
    // (no IPv6 duplicate address detection: the addresses are usable at once, as in the guest)
    const noDad = 'echo 0 > /proc/sys/net/ipv6/conf/all/accept_dad; echo 0 > /proc/sys/net/ipv6/conf/eth0/accept_dad';
    await sh('guest', `${noDad}; ip link set eth0 address ${mac} up && ip addr add ${ip.guest}/24 dev eth0 && ip addr add ${ip.spoofed}/32 dev eth0 && ip addr add ${ip6.guest}/64 dev eth0 && ip addr add ${ip6.spoofed}/128 dev eth0`);
    await sh('lan', `${noDad}; ip addr add ${ip.lan}/24 dev eth0 && ip addr add ${ip6.lan}/64 dev eth0 && ip link set eth0 up`);
  });

  after(async () => {
    for (const n of ['guest', 'pod', 'lan']) await removeNetns(ns(n)).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  const forge = async (): Promise<boolean> => {
    await sh('lan', 'ip neigh flush dev eth0');
    // a request to the lan: it learns the sender (a gratuitous ARP would only update an entry it has)
    await sh('guest', `arping -c 1 -w 2 -I eth0 -s ${ip.spoofed} ${ip.lan}`);
    return lanLearnt(ip.spoofed);
  };

  it('without the guard (a match-all redirect) the guest forges sources and ARP (the probes work)', async () => {
    assert.ok(await ping(ip.guest), 'own address');
    assert.ok(await ping(ip.spoofed), 'forged source');
    assert.ok(await forge(), 'forged ARP');
    assert.ok(await ping6(ip6.guest), 'own IPv6 address');
    assert.ok(await ping6(ip6.spoofed), 'forged IPv6 source');
  });

  it('with the guard: the guest\'s own IPv4, ARP and IPv6 pass', async () => {
    const filters = [['tc', 'filter', 'del', 'dev', 'gtap', 'parent', 'ffff:', 'pref', '9'], ...tapGuardFilters({ podInterface: 'eth0', tap: 'gtap', mac: MAC, address: ip.guest, prefixLength: 24, address6: ip6.guest, prefixLength6: 64, mtu: 1500 })];
    for (const f of filters) await runChecked('nsenter', [`--net=${ns('pod')}`, '--', ...f]);
    await sh('lan', 'ip neigh flush dev eth0');
    assert.ok(await ping(ip.guest));
    assert.ok(await lanLearnt(ip.guest));
    assert.ok(await ping6(ip6.guest), 'the guest\'s own IPv6 address (and its neighbour discovery)');
  });

  it('with the guard: a forged source address or ARP sender does not leave the pod netns', async () => {
    assert.equal(await ping(ip.spoofed), false);
    assert.equal(await forge(), false);
    assert.equal(await ping6(ip6.spoofed), false, 'a forged IPv6 source');
  });
});
