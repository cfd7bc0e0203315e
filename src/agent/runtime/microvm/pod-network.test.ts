import assert from 'node:assert/strict';
import { test } from 'node:test';
import { guestNetKernelArgs, guestNetQemuArgs, pickPodInterface, POD_TAP } from './pod-network.ts';

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
