/**
 * NadFirewall against the real kernel: a pod namespace whose `net1` is a macvlan on a wire that
 * ends in a "lan" namespace (the other machine on the L2), all created here. Each property is
 * shown both ways: the probe works before the tables are installed, and the tables stop exactly
 * what they should. Needs root, nft, ip and busybox.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import type { NetworkPolicy } from 'kubernetes-types/networking/v1.js';
import { runChecked } from '../../host/run-command.ts';
import { createNetns, removeNetns } from '../netns.ts';
import type { PolicyPod } from '../policy/render.ts';
import { inNetns, randomSubnet, randomSuffix } from '../test-helpers.ts';
import { plugSteps } from '../../runtime/microvm/pod-network.ts';
import { guardedNadInterfaces, INGRESS_MARK, NadFirewall, renderNadTables, type NadSandbox } from './nad-firewall.ts';

function skipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root';
  for (const b of ['/usr/sbin/nft', '/bin/busybox', '/usr/bin/nsenter']) if (!existsSync(b)) return `${b} not installed`;
  return undefined;
}

const target: PolicyPod = { namespace: 'n', name: 'p', labels: { app: 'p' }, ips: [], namedPorts: { web: [{ protocol: 'TCP', port: 8080 }] } };
const sandbox = (netns = '/x'): NadSandbox => ({ id: 'sb', netns, pod: { namespace: 'n', name: 'p' }, interfaces: [{ name: 'net1', mac: '02:00:00:00:00:01', addresses: [{ address: '192.0.2.5', family: 4 }] }] });
const policy = (name: string, spec: Omit<NonNullable<NetworkPolicy['spec']>, 'podSelector'>): NetworkPolicy => ({ metadata: { namespace: 'n', name }, spec: { podSelector: { matchLabels: { app: 'p' } }, ...spec } });
const nad = (policies: NetworkPolicy[]): Parameters<NadFirewall['setPolicy']>[0] => ({ input: { policies, pods: [], namespaces: { n: {} } }, localPod: (ns, name) => (ns === 'n' && name === 'p' ? target : undefined) });

it('renders the guard always, closed until the policies are known, the pod\'s chains once they are', () => {
  const closed = renderNadTables(sandbox(), undefined);
  assert.match(closed, /type filter hook egress device "net1" priority filter; policy drop;/);
  assert.match(closed, /ether saddr 02:00:00:00:00:01 ether type ip ip saddr \{ 192\.0\.2\.5 \} accept/);
  assert.match(closed, /arp saddr ether 02:00:00:00:00:01 arp saddr ip \{ 192\.0\.2\.5 \} accept/);
  assert.match(closed, /chain ing \{\n\t\ticmpv6 type [^\n]+ return\n\t\tdrop\n/);
  assert.match(closed, /chain egr \{\n\t\ticmpv6 type [^\n]+ return\n\t\tdrop\n/);
  const off = renderNadTables(sandbox(), 'off');
  assert.doesNotMatch(off, /jump/);
  assert.match(off, /hook egress device "net1"/);
  const open = renderNadTables(sandbox(), nad([]));
  assert.doesNotMatch(open, /jump/, 'no policy selects the pod: not isolated');
  const web = renderNadTables(sandbox(), nad([policy('web', { ingress: [{ from: [{ ipBlock: { cidr: '192.0.2.0/24' } }], ports: [{ port: 'web' }] }] })]));
  assert.match(web, /chain ing \{\n\t\ticmpv6 type [^\n]+ return\n\t\tip saddr 192\.0\.2\.0\/24 tcp dport 8080 return\n\t\tdrop\n/);
  assert.doesNotMatch(web, /jump egr/);
  assert.match(renderNadTables(sandbox(), { ...nad([]), localPod: () => undefined }), /chain ing \{\n\t\ticmpv6 type [^\n]+ return\n\t\tdrop\n/, 'a pod the node does not know yet stays closed');
  assert.match(web, new RegExp(`chain mark-net1 \\{\\n\\t\\ttype filter hook ingress device "net1" priority filter; policy accept;\\n\\t\\tmeta mark set ${INGRESS_MARK}\\n`));
  assert.match(web, new RegExp(`ct state established,related accept\\n\\t\\tmeta mark ${INGRESS_MARK} jump ing\\n\\t\\}`), 'bridged to a microVM: ingress by the mark');
  assert.match(web, /chain input \{\n\t\ttype filter hook input priority filter; policy accept;\n\t\tiifname "hedgebr\*" drop\n/);
  assert.doesNotMatch(off, /mark .* jump/);
  assert.throws(() => renderNadTables({ ...sandbox(), interfaces: [{ name: 'net1"; flush ruleset', addresses: [] }] }, 'off'), /not an interface name/);
  assert.throws(() => renderNadTables({ ...sandbox(), interfaces: [{ name: 'net1', mac: 'x } ;', addresses: [] }] }, 'off'), /not a MAC/);
});

/**
 * The lab both suites use: a pod namespace whose `net1` is a macvlan on a wire that ends in a "lan"
 * namespace (the other machine on the L2), plus any namespaces a suite adds; busybox nc listeners.
 */
function macvlanLab(name: string, extra: string[] = []) {
  const run = randomSuffix();
  const dir = `/run/hedge/${name}-${run}`;
  const ns = (n: string): string => `${dir}/${n}`;
  const { prefix } = randomSubnet();
  const ip = { pod: `${prefix}.2`, lan: `${prefix}.3`, spoofed: `${prefix}.99` };
  const port = { allowed: 21000 + Math.floor(Math.random() * 20000), denied: 0, lanAllowed: 0 };
  port.denied = port.allowed + 1;
  port.lanAllowed = port.allowed + 2;
  const listeners: ChildProcess[] = [];
  const sh = (n: string, cmd: string): Promise<{ code: number; stdout: string; stderr: string }> => inNetns(ns(n), ['busybox', 'sh', '-c', cmd]);
  return {
    ns,
    prefix,
    ip,
    port,
    sh,
    connects: async (from: string, to: string, p: number): Promise<boolean> => (await sh(from, `nc -w 2 ${to} ${p} </dev/null`)).code === 0,
    /** makes the namespaces and the macvlan; the sandbox as the Multus plugin reports it */
    async setUp(): Promise<NadSandbox> {
      await mkdir(dir, { recursive: true });
      for (const n of ['wire', 'pod', 'lan', ...extra]) await createNetns(ns(n));
      const w = (args: string[]): Promise<unknown> => runChecked('nsenter', [`--net=${ns('wire')}`, '--', 'ip', ...args]);
      await w(['link', 'add', 'up0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns('lan')]);
      await w(['link', 'set', 'up0', 'up']);
      await w(['link', 'add', 'mv0', 'link', 'up0', 'type', 'macvlan', 'mode', 'bridge']);
      await w(['link', 'set', 'mv0', 'netns', ns('pod')]);
      await sh('pod', `ip link set mv0 name net1 && ip addr add ${ip.pod}/24 dev net1 && ip link set net1 up`);
      await sh('lan', `ip addr add ${ip.lan}/24 dev eth0 && ip link set eth0 up`);
      const mac = /link\/ether (\S+)/.exec((await sh('pod', 'ip -o link show net1')).stdout)?.[1];
      return { id: `sb${run}`, netns: ns('pod'), pod: { namespace: 'n', name: 'p' }, interfaces: [{ name: 'net1', ...(mac ? { mac } : {}), addresses: [{ address: ip.pod, family: 4 }] }] };
    },
    listen(where: [string, number][]): void {
      for (const [n, p] of where) listeners.push(spawn('nsenter', [`--net=${ns(n)}`, '--', 'busybox', 'nc', '-ll', '-p', String(p), '-e', 'true'], { stdio: 'ignore' }));
    },
    async tearDown(): Promise<void> {
      for (const l of listeners) if (l.pid) process.kill(l.pid, 'SIGKILL');
      for (const n of [...extra, 'pod', 'lan', 'wire']) await removeNetns(ns(n)).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

describe('NadFirewall on a real macvlan', { skip: skipReason(), concurrency: false }, () => {
  const lab = macvlanLab('nadfw-test');
  const { ip, port, prefix, sh } = lab;
  const connects = (from: 'pod' | 'lan', to: string, p: number): Promise<boolean> => lab.connects(from, to, p);
  let sb: NadSandbox;

  const ping = async (src: string): Promise<boolean> => (await sh('pod', `ping -c1 -W2 -I ${src} ${ip.lan}`)).code === 0;
  /** the pod claims an address that is not its own with gratuitous ARP; true when the lan learnt it */
  const arpSpoofed = async (): Promise<boolean> => {
    await sh('lan', 'ip neigh flush dev eth0');
    await sh('pod', `arping -U -c 2 -I net1 -s ${ip.spoofed} ${ip.spoofed}`);
    await sh('pod', `arping -c 1 -w 1 -I net1 -s ${ip.spoofed} ${ip.lan}`);
    return /lladdr/.test((await sh('lan', `ip neigh show ${ip.spoofed}`)).stdout);
  };

  before(async () => {
    sb = await lab.setUp();
    lab.listen([['pod', port.allowed], ['pod', port.denied], ['lan', port.lanAllowed], ['lan', port.denied]]);
    for (let i = 0; i < 50 && !(await connects('lan', ip.pod, port.allowed)); i++) await new Promise((r) => setTimeout(r, 100));
  });

  after(() => lab.tearDown());

  it('before the tables: the pod spoofs a source and ARP on the L2, every port is open (the probes work)', async () => {
    assert.ok(await ping(ip.pod));
    await sh('pod', `ip addr add ${ip.spoofed}/32 dev net1`);
    assert.ok(await ping(ip.spoofed), 'a spoofed source gets its reply back');
    assert.ok(await arpSpoofed(), 'the lan learnt the spoofed address');
    assert.ok(await connects('lan', ip.pod, port.denied));
    assert.ok(await connects('pod', ip.lan, port.denied));
  });

  const fw = new NadFirewall({ enforcePolicy: true });
  fw.useSource(async () => [sb]);

  it('protected before the policies are known: closed both ways', async () => {
    await fw.protect(sb);
    assert.equal(await connects('lan', ip.pod, port.allowed), false);
    assert.equal(await connects('pod', ip.lan, port.lanAllowed), false);
  });

  it('ingress as written: the allowed port from the allowed block, nothing else; spoofed sources and ARP are dropped', async () => {
    await fw.setPolicy(nad([policy('in', { ingress: [{ from: [{ ipBlock: { cidr: `${ip.lan}/32` } }], ports: [{ port: port.allowed }] }] })]));
    assert.ok(await connects('lan', ip.pod, port.allowed));
    assert.equal(await connects('lan', ip.pod, port.denied), false);
    assert.ok(await connects('pod', ip.lan, port.denied), 'egress is not isolated');
    assert.ok(await ping(ip.pod), 'own address');
    assert.equal(await ping(ip.spoofed), false, 'a spoofed source is dropped');
    assert.equal(await arpSpoofed(), false, 'spoofed ARP is dropped');
  });

  it('egress as written: only the allowed destination port', async () => {
    await fw.setPolicy(nad([policy('out', { policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: `${prefix}.0/24` } }], ports: [{ port: port.lanAllowed }] }] })]));
    assert.ok(await connects('pod', ip.lan, port.lanAllowed));
    assert.equal(await connects('pod', ip.lan, port.denied), false);
    assert.ok(await connects('lan', ip.pod, port.denied), 'ingress is no longer isolated');
  });

  it('--network-policy false: the guard only', async () => {
    const guardOnly = new NadFirewall({ enforcePolicy: false });
    await guardOnly.protect(sb);
    assert.ok(await connects('pod', ip.lan, port.denied));
    assert.ok(await connects('lan', ip.pod, port.denied));
    assert.equal(await ping(ip.spoofed), false);
  });
});

/**
 * A microVM's NAD interface: the runtime bridges it to the guest's tap (plugSteps), and the same
 * tables police the bridged traffic. A veth stands in for the tap (node cannot hold a tap's fd
 * open the way qemu does; a veth port is bridged alike), its peer in a "guest" netns holds the
 * interface's MAC and address, as the guest's virtio-net does.
 */
describe('NadFirewall on a macvlan bridged to a microVM guest', { skip: skipReason(), concurrency: false }, () => {
  const lab = macvlanLab('nadfw-vm-test', ['guest']);
  const { ip, port, prefix, sh, ns } = lab;
  const connects = (from: 'guest' | 'lan', to: string, p: number): Promise<boolean> => lab.connects(from, to, p);
  let sb: NadSandbox;
  const fw = new NadFirewall({ enforcePolicy: true });
  fw.useSource(async () => [sb]);

  before(async () => {
    sb = await lab.setUp();
    const mac = sb.interfaces[0]?.mac ?? '';
    // as MultusNetworkPlugin.setUp leaves it: guarded and closed, before the runtime plugs the guest in
    await fw.protect(sb);
    const nft = await runChecked('nsenter', [`--net=${ns('pod')}`, '--', 'nft', '-j', 'list', 'table', 'netdev', 'hedge-nad']);
    assert.deepEqual(guardedNadInterfaces(nft.stdout), ['net1'], 'the runtime finds net1 guarded: it bridges it');
    await runChecked('nsenter', [`--net=${ns('pod')}`, '--', 'ip', 'link', 'add', 'hedgetap1', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns('guest')]);
    // the netns's own default must not matter: the bridge asks for br_netfilter itself
    await runChecked('nsenter', [`--net=${ns('pod')}`, '--', 'sysctl', '-q', '-w', 'net.bridge.bridge-nf-call-iptables=0']);
    const steps = plugSteps({ podInterface: 'net1', tap: 'hedgetap1', bridge: 'hedgebr1', mac, mtu: 1500, address: ip.pod, prefixLength: 24 }).filter((x) => x[1] !== 'tuntap');
    for (const st of steps) await runChecked('nsenter', [`--net=${ns('pod')}`, '--', ...st]);
    await sh('guest', `ip link set eth0 address ${mac} && ip addr add ${ip.pod}/24 dev eth0 && ip link set eth0 up && ip link set lo up`);
    lab.listen([['guest', port.allowed], ['guest', port.denied], ['lan', port.lanAllowed], ['lan', port.denied]]);
    await new Promise((r) => setTimeout(r, 300));
  });

  after(() => lab.tearDown());

  it('closed until the policies are known, then open without a policy: the guest is on the L2 with the interface\'s MAC', async () => {
    assert.equal(await connects('lan', ip.pod, port.allowed), false, 'closed');
    await fw.setPolicy(nad([]));
    for (let i = 0; i < 30 && !(await connects('lan', ip.pod, port.allowed)); i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(await connects('lan', ip.pod, port.allowed), 'the lan reaches the guest through the bridge');
    assert.ok(await connects('guest', ip.lan, port.denied), 'the guest reaches the lan');
  });

  it('ingress as written on the bridged traffic; replies pass; egress not isolated', async () => {
    await fw.setPolicy(nad([policy('in', { ingress: [{ from: [{ ipBlock: { cidr: `${ip.lan}/32` } }], ports: [{ port: port.allowed }] }] })]));
    assert.ok(await connects('lan', ip.pod, port.allowed));
    assert.equal(await connects('lan', ip.pod, port.denied), false);
    assert.ok(await connects('guest', ip.lan, port.denied), 'egress is not isolated, its replies come back');
  });

  it('egress as written on the bridged traffic', async () => {
    await fw.setPolicy(nad([policy('out', { policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: `${prefix}.0/24` } }], ports: [{ port: port.lanAllowed }] }] })]));
    assert.ok(await connects('guest', ip.lan, port.lanAllowed));
    assert.equal(await connects('guest', ip.lan, port.denied), false);
    assert.ok(await connects('lan', ip.pod, port.denied), 'ingress is no longer isolated');
  });

  it('the guest cannot forge a source address or ARP sender through the bridge', async () => {
    await fw.setPolicy(nad([]));
    await sh('guest', `ip addr add ${ip.spoofed}/32 dev eth0`);
    await sh('lan', 'ip neigh flush dev eth0');
    await sh('guest', `arping -c 1 -w 1 -I eth0 -s ${ip.spoofed} ${ip.lan}`);
    assert.doesNotMatch((await sh('lan', `ip neigh show ${ip.spoofed}`)).stdout, /lladdr/, 'spoofed ARP dropped');
    assert.notEqual((await sh('guest', `ping -c1 -W2 -I ${ip.spoofed} ${ip.lan}`)).code, 0, 'spoofed source dropped');
    assert.equal((await sh('guest', `ping -c1 -W2 -I ${ip.pod} ${ip.lan}`)).code, 0, 'its own address passes');
  });
});
