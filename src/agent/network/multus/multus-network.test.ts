/**
 * MultusNetworkPlugin with the real Debian CNI plugins, as root: the cluster network is the CNI
 * bridge on a bridge of the run's own; the macvlan NAD's master and the passthrough pool are veth
 * pairs the test makes (pool peers in a namespace of its own). NADs come from an in-memory source.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isHedgeError } from '../../../lib/errors.ts';
import { runChecked } from '../../host/run-command.ts';
import { CniNetworkPlugin } from '../cni-plugin.ts';
import { createNetns, netnsExists, removeNetns } from '../netns.ts';
import { createVethPair, deleteLink, inNetns, linkExists, randomSubnet, randomSuffix, runLinks, cniSkipReason } from '../test-helpers.ts';
import type { NetworkSandbox } from '../types.ts';
import { KernelLinkKinds } from './link-kinds.ts';
import { MultusNetworkPlugin, type NetworkAttachmentDefinition } from './multus-network.ts';
import { NadFirewall } from './nad-firewall.ts';

const skip = cniSkipReason();

const signal = AbortSignal.timeout(300_000);

describe('MultusNetworkPlugin (real CNI plugins)', { skip, timeout: 300_000 }, () => {
  const run = randomSuffix();
  const netnsDir = `/run/hedge/test-mul-${run}`;
  const master = `hedgm${run}a`;
  const pool = [`hedgp${run}a`, `hedgp${run}b`];
  const peerNs = join(netnsDir, 'peers');
  const cluster = randomSubnet();
  const lan = randomSubnet();
  const nads = new Map<string, NetworkAttachmentDefinition>();
  const nad = (ns: string, name: string, config: unknown): void => {
    nads.set(`${ns}/${name}`, { metadata: { namespace: ns, name }, spec: { config: JSON.stringify(config) } });
  };
  let dataDir: string;
  let bridgeNet: CniNetworkPlugin;
  let plugin: MultusNetworkPlugin;
  let linksBefore: Set<string>;
  const owned = new Set([master, `hedgm${run}b`, ...pool, `hedgb${run}`]);
  const sandbox = (name: string, annotations?: Record<string, string>): NetworkSandbox => ({
    id: `${run}-${name}`,
    pod: { uid: `uid-${name}`, namespace: 'shop', name },
    netnsPath: join(netnsDir, name),
    portMappings: [],
    ...(annotations ? { annotations } : {}),
  });
  const addrs = async (ns: string, dev: string): Promise<string[]> => {
    const r = await inNetns(ns, ['ip', '-j', '-4', 'addr', 'show', 'dev', dev]);
    if (r.code !== 0) return [];
    return (JSON.parse(r.stdout) as { addr_info: { local: string }[] }[]).flatMap((l) => l.addr_info.map((a) => a.local));
  };
  const leaked = async (): Promise<string[]> => [...(await runLinks(run))].filter((l) => !linksBefore.has(l) && !owned.has(l));

  before(async () => {
    linksBefore = await runLinks(run);
    dataDir = await mkdtemp(join(tmpdir(), 'hedge-multus-'));
    await createVethPair(master, `hedgm${run}b`);
    await createNetns(peerNs);
    for (const [i, dev] of pool.entries()) {
      await createVethPair(dev, `hedgq${run}${i}`);
      await runChecked('ip', ['link', 'set', `hedgq${run}${i}`, 'netns', peerNs]);
    }
    bridgeNet = new CniNetworkPlugin({ mode: { type: 'bridge', bridge: `hedgb${run}`, subnet: cluster.subnet }, dataDir, netnsDir });
    plugin = new MultusNetworkPlugin({ cluster: bridgeNet, clusterNetworkName: 'hedge', nads: { get: async (ns, name) => nads.get(`${ns}/${name}`) }, dataDir, passthroughDevices: pool });
    nad('shop', 'lan', { cniVersion: '1.0.0', name: 'lan', type: 'macvlan', master, mode: 'bridge', ipam: { type: 'host-local', subnet: lan.subnet, routes: [{ dst: '0.0.0.0/0' }] } });
    nad('infra', 'pt', { cniVersion: '1.0.0', name: 'pt', type: 'host-device' });
    nad('shop', 'fast', { cniVersion: '1.0.0', name: 'fast', type: 'ipvlan', master, ipam: { type: 'host-local', subnet: lan.subnet } });
    nad('shop', 'nic0', { cniVersion: '1.0.0', name: 'nic0', type: 'host-device', device: 'eth9' });
  });
  after(async () => {
    await bridgeNet?.destroy().catch(() => undefined);
    for (const l of [master, ...pool]) await deleteLink(l);
    await removeNetns(peerNs).catch(() => undefined);
    await rm(netnsDir, { recursive: true, force: true });
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('a pod without Multus annotations gets the cluster network only and no network-status', async () => {
    const sb = sandbox('plain');
    const res = await plugin.setUp(sb, signal);
    assert.ok(res.ips[0]?.address.startsWith(`${cluster.prefix}.`));
    assert.equal(res.networkStatus, undefined);
    await plugin.tearDown(sb, signal);
    assert.equal(await netnsExists(sb.netnsPath), false);
  });

  it('extra interfaces: a macvlan NAD as net1 and a pool device as a named interface, both in network-status; DEL frees all', async () => {
    const sb = sandbox('extra', { 'k8s.v1.cni.cncf.io/networks': 'lan, infra/pt@fast0' });
    const res = await plugin.setUp(sb, signal);
    const podIP = res.ips[0]?.address ?? '';
    assert.ok(podIP.startsWith(`${cluster.prefix}.`), 'the pod IP is the cluster network\'s');
    assert.deepEqual(res.ips.map((i) => i.interface), ['eth0']);
    const [lanIP] = await addrs(sb.netnsPath, 'net1');
    assert.ok(lanIP?.startsWith(`${lan.prefix}.`), `net1 has ${lanIP}`);
    assert.equal(await linkExists('fast0', sb.netnsPath), true, 'the pool device moved in as fast0');
    assert.equal(await linkExists(pool[0] ?? '', undefined), false, 'and left the host');
    assert.deepEqual(
      res.networkStatus?.map((n) => ({ name: n.name, interface: n.interface, ips: n.ips, default: n.default })),
      [
        { name: 'hedge', interface: 'eth0', ips: [podIP], default: true },
        { name: 'shop/lan', interface: 'net1', ips: [lanIP], default: undefined },
        { name: 'infra/pt', interface: 'fast0', ips: [], default: undefined },
      ],
    );
    assert.match(res.networkStatus?.[1]?.mac ?? '', /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    // after a restart the same answer comes from the cache
    const again = await new MultusNetworkPlugin({ cluster: bridgeNet, clusterNetworkName: 'hedge', nads: { get: async () => undefined }, dataDir, passthroughDevices: pool }).status(sb, signal, { check: true });
    assert.deepEqual(again?.networkStatus, res.networkStatus);

    // the second pod asking for a pool device gets the other one; a third finds none and leaves nothing behind
    const sb2 = sandbox('extra2', { 'k8s.v1.cni.cncf.io/networks': 'infra/pt' });
    await plugin.setUp(sb2, signal);
    assert.equal(await linkExists('net1', sb2.netnsPath), true);
    const sb3 = sandbox('extra3', { 'k8s.v1.cni.cncf.io/networks': 'infra/pt' });
    await assert.rejects(plugin.setUp(sb3, signal), (e: Error) => isHedgeError(e, 'Unavailable') && /no free passthrough device/.test(e.message));
    assert.equal(await netnsExists(sb3.netnsPath), false);

    await plugin.tearDown(sb, signal);
    await plugin.tearDown(sb2, signal);
    assert.equal(await netnsExists(sb.netnsPath), false);
    for (const d of pool) assert.equal(await linkExists(d), true, `${d} back on the host`);
    assert.deepEqual(await leaked(), []);
    // the pool is free again
    await plugin.setUp(sb3, signal);
    await plugin.tearDown(sb3, signal);
  });

  it('default-network: the macvlan NAD is eth0 and its address the pod IP; status after restart; teardown removes the netns', async () => {
    const sb = sandbox('primary', { 'v1.multus-cni.io/default-network': 'lan' });
    const res = await plugin.setUp(sb, signal);
    const ip = res.ips[0]?.address ?? '';
    assert.ok(ip.startsWith(`${lan.prefix}.`), ip);
    assert.deepEqual(await addrs(sb.netnsPath, 'eth0'), [ip]);
    assert.deepEqual(res.networkStatus?.map((n) => [n.name, n.interface, n.default]), [['shop/lan', 'eth0', true]]);
    const st = await plugin.status(sb, signal);
    assert.equal(st?.ips[0]?.address, ip);
    await plugin.tearDown(sb, signal);
    assert.equal(await netnsExists(sb.netnsPath), false);
    assert.deepEqual(await leaked(), []);
  });

  it('refuses clearly, before making anything: a missing NAD, a malformed annotation, a device outside the pool, a link type the kernel lacks', async () => {
    const cases: [Record<string, string>, string, RegExp][] = [
      [{ 'k8s.v1.cni.cncf.io/networks': 'nope' }, 'NotFound', /NetworkAttachmentDefinition shop\/nope not found \(pod annotation k8s\.v1\.cni\.cncf\.io\/networks\)/],
      [{ 'v1.multus-cni.io/default-network': 'other/nope' }, 'NotFound', /other\/nope not found/],
      [{ 'k8s.v1.cni.cncf.io/networks': 'a/b/c' }, 'Invalid', /pod annotation k8s\.v1\.cni\.cncf\.io\/networks: "a\/b\/c" is not/],
      [{ 'k8s.v1.cni.cncf.io/networks': 'lan@eth0' }, 'Invalid', /interface eth0 is used twice/],
      [{ 'k8s.v1.cni.cncf.io/networks': 'nic0' }, 'Forbidden', /device eth9 is not in this node's --passthrough-devices pool/],
    ];
    for (const [annotations, code, re] of cases) {
      const sb = sandbox('bad', annotations);
      await assert.rejects(plugin.setUp(sb, signal), (e: Error) => isHedgeError(e, code as 'NotFound') && re.test(e.message), JSON.stringify(annotations));
      assert.equal(await netnsExists(sb.netnsPath), false);
    }
    const noIpvlan = new MultusNetworkPlugin({ cluster: bridgeNet, clusterNetworkName: 'hedge', nads: { get: async (ns, name) => nads.get(`${ns}/${name}`) }, dataDir, linkKinds: { supported: async (k) => k !== 'ipvlan' } });
    const sb = sandbox('ipvl', { 'k8s.v1.cni.cncf.io/networks': 'fast' });
    await assert.rejects(noIpvlan.setUp(sb, signal), (e: Error) => isHedgeError(e, 'Unavailable') && /the ipvlan CNI plugin needs the kernel's ipvlan link type/.test(e.message));
    assert.equal(await netnsExists(sb.netnsPath), false);
    assert.deepEqual(await leaked(), []);
  });

  it('with a firewall: NAD interfaces get the pod netns tables before setUp returns; a pod with CAP_NET_ADMIN gets no NAD', async () => {
    const firewall = new NadFirewall({ enforcePolicy: true });
    const guarded = new MultusNetworkPlugin({ cluster: bridgeNet, clusterNetworkName: 'hedge', nads: { get: async (ns, name) => nads.get(`${ns}/${name}`) }, dataDir, firewall });
    const sb = sandbox('fw', { 'k8s.v1.cni.cncf.io/networks': 'lan' });
    await guarded.setUp(sb, signal);
    try {
      const tables = await inNetns(sb.netnsPath, ['nft', 'list', 'ruleset']);
      assert.match(tables.stdout, /hook egress device "net1"/);
      // closed: nothing but neighbour discovery (never policed) before the drop
      assert.match(tables.stdout, /chain ing \{\s*icmpv6 type \{[^}]*\} ip6 hoplimit 255 return\s*drop\s*\}/, 'closed: no policy is known yet');
      assert.deepEqual((await guarded.nadSandboxes()).map((s) => [s.id, s.pod.name, s.interfaces.map((i) => i.name)]), [[sb.id, 'fw', ['net1']]]);
    } finally {
      await guarded.tearDown(sb, signal);
    }
    const admin = { ...sandbox('fw-admin', { 'k8s.v1.cni.cncf.io/networks': 'lan' }), mayChangeNetns: true };
    await assert.rejects(guarded.setUp(admin, signal), (e: unknown) => isHedgeError(e, 'Forbidden') && /CAP_NET_ADMIN/.test((e as Error).message));
    assert.equal(await netnsExists(admin.netnsPath), false, 'nothing was made');
  });

  it('the kernel probe knows macvlan and no made-up kind', async () => {
    const k = new KernelLinkKinds();
    assert.equal(await k.supported('macvlan'), true);
    assert.equal(await k.supported('nosuchlinkkind'), false);
  });
});
