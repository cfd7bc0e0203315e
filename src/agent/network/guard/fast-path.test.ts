import assert from 'node:assert/strict';
import { it } from 'node:test';
import { fastPathChain, fastPathHook, parseFastPath, SlowSetFeed, slowEndpointsScript, slowPodsScript } from './fast-path.ts';
import { hooksMayNameMissingDevices } from './pod-guard.ts';

it('SlowSetFeed widens to old ∪ new before the owner applies, narrows after, and skips an unchanged set', async () => {
  const log: string[] = [];
  const feed = new SlowSetFeed<string>((x) => x, async (xs) => void log.push(`push ${[...xs].sort().join(',')}`));
  const apply = async (): Promise<void> => void log.push('apply');
  await feed.around(['a'], apply);
  await feed.around(['b'], apply);
  await feed.around(['b'], apply);
  await feed.around(['b', 'c'], apply);
  assert.deepEqual(log, ['push a', 'apply', 'push a,b', 'apply', 'push b', 'apply', 'push b,c', 'apply']);
});

it('SlowSetFeed pushes again after a failed apply (the kernel state is unknown)', async () => {
  const pushed: string[][] = [];
  const feed = new SlowSetFeed<string>((x) => x, async (xs) => void pushed.push(xs));
  await assert.rejects(feed.around(['a'], async () => Promise.reject(new Error('nft failed'))));
  await feed.around(['a'], async () => undefined);
  assert.deepEqual(pushed, [['a'], ['a']]);
});

it('the fast chain: none without ports, recreated with them; endpoints deduplicated', () => {
  assert.deepEqual(fastPathChain('t', [], false), []);
  assert.deepEqual(fastPathChain('t', [], true), ['delete chain netdev t fast']);
  const c = fastPathChain('t', ['veth1', 'veth2'], true);
  assert.equal(c[0], 'delete chain netdev t fast');
  assert.match(c[1]!, /hook ingress devices = \{ "veth1", "veth2" \}/);
  assert.equal(c.length, 10);
  // per family: the two exits to the bridge path first (a ClusterIP after one lookup, an endpoint's reply after two), then the forwarding rules
  assert.deepEqual(c.slice(2, 4), ['add rule netdev t fast meta protocol ip ip daddr != @port4 accept', 'add rule netdev t fast meta protocol ip ip saddr . meta l4proto . th sport @endpoints4 accept']);
  assert.deepEqual(c.slice(6, 8), ['add rule netdev t fast meta protocol ip6 ip6 daddr != @port6 accept', 'add rule netdev t fast meta protocol ip6 ip6 saddr . meta l4proto . th sport @endpoints6 accept']);
  assert.ok([c[4]!, c[5]!].every((r) => r.includes('meta protocol ip ') && r.includes('iifname . ip saddr @pods4') && r.includes('ip daddr != @slow4') && r.includes('fwd to ip daddr map @port4')));
  assert.ok([c[8]!, c[9]!].every((r) => r.includes('meta protocol ip6 ') && r.includes('iifname . ip6 saddr @pods6') && r.includes('ip6 daddr != @slow6') && r.includes('fwd to ip6 daddr map @port6')));
  assert.equal(c.filter((r) => r.includes('counter')).length, 4, 'only the forwarding rules count');
  assert.match(c[9]!, /icmpv6 type \{ echo-request, echo-reply \}/, 'IPv6 echo only: neighbour discovery takes the bridge');
  assert.deepEqual(slowEndpointsScript('t', [{ ip: '10.0.0.2', protocol: 'tcp', port: 80 }, { ip: '10.0.0.2', protocol: 'tcp', port: 80 }, { ip: 'fd00::2', protocol: 'udp', port: 53 }]), [
    'flush set netdev t endpoints4',
    'add element netdev t endpoints4 { 10.0.0.2 . tcp . 80 }',
    'flush set netdev t endpoints6',
    'add element netdev t endpoints6 { fd00::2 . udp . 53 }',
  ]);
  assert.deepEqual(fastPathHook('t', []), []);
  assert.deepEqual(fastPathHook('t', ['veth3']), ['add chain netdev t fast { type filter hook ingress devices = { "veth3" } priority -500; policy accept; }'], 'a new port is hooked on the chain as it is');
  assert.deepEqual(slowPodsScript('t', ['10.0.0.2', 'fd00::2']), ['flush set netdev t slow4', 'add element netdev t slow4 { 10.0.0.2 }', 'flush set netdev t slow6', 'add element netdev t slow6 { fd00::2 }']);
});

it('parseFastPath reads pods4/6, hostports4/6 and the chain out of nft -j', () => {
  const json = JSON.stringify({
    nftables: [
      { set: { name: 'pods4', elem: [{ concat: ['veth1', '10.0.0.2'] }] } },
      { set: { name: 'hostports4', elem: [{ concat: ['10.0.0.2', 'tcp', 8080] }] } },
      { set: { name: 'pods6', elem: [{ concat: ['veth1', 'fd00::2'] }] } },
      { set: { name: 'hostports6', elem: [{ concat: ['fd00::2', 'udp', 53] }] } },
      { chain: { name: 'fast' } },
    ],
  });
  assert.deepEqual(parseFastPath(json), {
    pods: [{ ifname: 'veth1', address: '10.0.0.2' }, { ifname: 'veth1', address: 'fd00::2' }],
    hostPorts: [{ address: '10.0.0.2', element: '10.0.0.2 . tcp . 8080' }, { address: 'fd00::2', element: 'fd00::2 . udp . 53' }],
    chain: true,
  });
});

it('the fast path is on by default only where a netdev hook may name a missing device (6.16+)', () => {
  assert.equal(hooksMayNameMissingDevices('6.18.0-hedge'), true);
  assert.equal(hooksMayNameMissingDevices('6.16.1'), true);
  assert.equal(hooksMayNameMissingDevices('7.0.0'), true);
  assert.equal(hooksMayNameMissingDevices('6.12.48+deb13-amd64'), false);
  assert.equal(hooksMayNameMissingDevices('6.1.0-40-amd64'), false);
  assert.equal(hooksMayNameMissingDevices('garbage'), false);
});
