import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { after, before, describe, it, test } from 'node:test';
import { runChecked } from '../../host/run-command.ts';
import { createNetns, removeNetns } from '../../network/netns.ts';
import { inNetns, randomSubnet, randomSuffix } from '../../network/test-helpers.ts';
import { extraPodInterfaces, guestNetKernelArgs, guestNetQemuArgs, pickPodInterface, POD_TAP, tapGuardFilters } from './pod-network.ts';

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
  { dst: '10.88.0.0/16', dev: 'eth0', prefsrc: '10.88.0.7' },
]);

test('the CNI interface is the addressed non-loopback one; its MAC, MTU and default gateway go to the guest', () => {
  const n = pickPodInterface(addrs, routes);
  assert.deepEqual(n, { podInterface: 'eth0', mac: '6e:1f:aa:00:01:02', address: '10.88.0.7', prefixLength: 16, mtu: 1450, gateway: '10.88.0.1' });
  const g = { ...n!, tap: POD_TAP };
  assert.deepEqual(guestNetKernelArgs(g), ['hedge.ip=10.88.0.7/16', 'hedge.gw=10.88.0.1', 'hedge.mtu=1450']);
  assert.deepEqual(guestNetQemuArgs(g), ['-netdev', `tap,id=net0,ifname=${POD_TAP},script=no,downscript=no,vhost=off`, '-device', 'virtio-net-device,netdev=net0,mac=6e:1f:aa:00:01:02']);
});

test('a netns without an addressed interface (host-device not moved yet, or none) gives nothing to hand over', () => {
  assert.equal(pickPodInterface(JSON.stringify([{ ifname: 'lo', link_type: 'loopback', address: '00:00:00:00:00:00' }]), '[]'), undefined);
});

test('no default route: the guest gets address and MTU only', () => {
  const n = pickPodInterface(addrs, JSON.stringify([{ dst: '10.88.0.0/16', dev: 'eth0' }]));
  assert.equal(n?.gateway, undefined);
  assert.deepEqual(guestNetKernelArgs({ ...n!, tap: POD_TAP }), ['hedge.ip=10.88.0.7/16', 'hedge.mtu=1450']);
});

test('extra interfaces (a NAD net1) are named; lo, the tap and fallback tunnels are not', () => {
  const withNet1 = JSON.stringify([
    ...(JSON.parse(addrs) as unknown[]),
    { ifname: 'net1', link_type: 'ether', address: '02:00:00:00:00:09', addr_info: [{ family: 'inet', local: '192.0.2.9', prefixlen: 24 }] },
    { ifname: 'sit0', link_type: 'sit', address: '0.0.0.0', addr_info: [] },
  ]);
  assert.deepEqual(extraPodInterfaces(addrs, 'eth0'), []);
  assert.deepEqual(extraPodInterfaces(withNet1, 'eth0'), ['net1']);
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
    await sh('guest', `ip link set eth0 address ${mac} up && ip addr add ${ip.guest}/24 dev eth0 && ip addr add ${ip.spoofed}/32 dev eth0`);
    await sh('lan', `ip addr add ${ip.lan}/24 dev eth0 && ip link set eth0 up`);
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
  });

  it('with the guard: the guest\'s own IPv4 and ARP pass', async () => {
    const filters = [['tc', 'filter', 'del', 'dev', 'gtap', 'parent', 'ffff:', 'pref', '9'], ...tapGuardFilters({ podInterface: 'eth0', tap: 'gtap', mac: MAC, address: ip.guest, prefixLength: 24, mtu: 1500 })];
    for (const f of filters) await runChecked('nsenter', [`--net=${ns('pod')}`, '--', ...f]);
    await sh('lan', 'ip neigh flush dev eth0');
    assert.ok(await ping(ip.guest));
    assert.ok(await lanLearnt(ip.guest));
  });

  it('with the guard: a forged source address or ARP sender does not leave the pod netns', async () => {
    assert.equal(await ping(ip.spoofed), false);
    assert.equal(await forge(), false);
  });
});
