/**
 * PodGuard against the real kernel: a "host" namespace with a bridge and three "pod" namespaces
 * on veths, all created here. Each property is shown both ways: the attack works before the
 * guard is installed (so the probe is real) and fails after, while the same pod's honest traffic
 * still flows. Needs root, nft, ip and busybox.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { runChecked } from '../../host/run-command.ts';
import { createNetns, removeNetns } from '../netns.ts';
import { inNetns, randomSubnet, randomSuffix } from '../test-helpers.ts';
import { PodGuard, parseGuardSets, planAllow, planForget, sweepStaleGuards, type GuardState } from './pod-guard.ts';

function skipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root';
  for (const b of ['/usr/sbin/nft', '/bin/busybox', '/usr/bin/nsenter']) if (!existsSync(b)) return `${b} not installed`;
  return undefined;
}

it('parseGuardSets reads the sets nft -j prints', () => {
  const json = JSON.stringify({
    nftables: [
      { metainfo: {} },
      { set: { family: 'bridge', name: 'ports', table: 't', type: 'ifname', elem: ['veth1', 'veth2'] } },
      { set: { family: 'bridge', name: 'allowed4', table: 't', type: ['ifname', 'ipv4_addr'], elem: [{ concat: ['veth1', '10.1.0.2'] }] } },
      { set: { family: 'bridge', name: 'allowed6', table: 't', type: ['ifname', 'ipv6_addr'] } },
    ],
  });
  assert.deepEqual(parseGuardSets(json), { ports: ['veth1', 'veth2'], elements: [{ set: 'allowed4', ifname: 'veth1', address: '10.1.0.2' }] });
});

it('planAllow/planForget: the state a change leaves is what the next one starts from', () => {
  const empty: GuardState = { sets: { ports: [], elements: [] }, fast: { pods: [], hostPorts: [], chain: false } };
  const a = planAllow('t', true, empty, [{ hostInterface: 'va', addresses: [{ address: '10.0.0.2', family: 4 }], hostPortTargets: [{ protocol: 'tcp', port: 80 }] }]);
  assert.ok(a.script.some((l) => l.startsWith('add chain netdev t fast {')), 'the first port makes the chain');
  assert.deepEqual(a.next, {
    sets: { ports: ['va'], elements: [{ set: 'allowed4', ifname: 'va', address: '10.0.0.2' }] },
    fast: { pods: [{ ifname: 'va', address: '10.0.0.2' }], hostPorts: [{ address: '10.0.0.2', element: '10.0.0.2 . tcp . 80' }], chain: true },
  });
  // b takes over a's address (a is gone, its address handed out again): a's claim goes, b is hooked on the chain as it is
  const b = planAllow('t', true, a.next, [{ hostInterface: 'vb', addresses: [{ address: '10.0.0.2', family: 4 }] }]);
  assert.ok(b.script.includes('delete element netdev t pods4 { "va" . 10.0.0.2 }'));
  assert.ok(b.script.includes('delete element netdev t hostports4 { 10.0.0.2 . tcp . 80 }'));
  assert.ok(b.script.includes('add chain netdev t fast { type filter hook ingress devices = { "vb" } priority -500; policy accept; }'));
  assert.ok(!b.script.some((l) => l.startsWith('delete chain')), 'no rebuild on allow');
  assert.deepEqual(b.next.fast, { pods: [{ ifname: 'vb', address: '10.0.0.2' }], hostPorts: [], chain: true });
  const f = planForget('t', b.next, 'va');
  assert.deepEqual(f.next.sets, { ports: ['vb'], elements: [{ set: 'allowed4', ifname: 'vb', address: '10.0.0.2' }] });
  assert.ok(f.script.includes('delete element bridge t ports { "va" }'));
  const g = planForget('t', f.next, 'vb');
  assert.deepEqual(g.next, { sets: { ports: [], elements: [] }, fast: { pods: [], hostPorts: [], chain: false } });
  assert.ok(g.script.includes('delete chain netdev t fast'), 'the last port gone, the chain goes');
  assert.deepEqual(planForget('t', g.next, 'vb').script, [], 'forgetting twice does nothing');
});

it('refuses names and addresses that are not what they claim (nothing reaches an nft script)', async () => {
  assert.throws(() => new PodGuard({ bridge: 'br0; flush ruleset' }), /not an interface name/);
  const g = new PodGuard({ bridge: 'br0', nft: '/nonexistent' });
  await assert.rejects(g.allow({ hostInterface: 'veth"x', addresses: [] }), /not an interface name/);
  await assert.rejects(g.allow({ hostInterface: 'veth1', addresses: [{ address: '10.0.0.1 } ; flush', family: 4 }] }), /not an IPv4 address/);
  await assert.rejects(g.ensure([0]), /not a TCP port/);
});

describe('PodGuard on a real bridge', { skip: skipReason(), concurrency: false }, () => {
  const run = randomSuffix();
  const dir = `/run/hedge/guard-test-${run}`;
  const ns = (n: string): string => `${dir}/${n}`;
  const bridge = `hg${run}`;
  const { prefix } = randomSubnet();
  const ip = { host: `${prefix}.1`, a: `${prefix}.2`, b: `${prefix}.3`, c: `${prefix}.4`, unused: `${prefix}.99` };
  const p6 = `fd00:6:${run.slice(0, 4)}:${run.slice(4)}`;
  const ip6 = { a: `${p6}::2`, b: `${p6}::3`, c: `${p6}::4`, unused: `${p6}::99` };
  const guard = new PodGuard({ bridge, netnsPath: ns('host') });
  const listeners: ChildProcess[] = [];
  const deniedPort = 20000 + Math.floor(Math.random() * 20000);
  const openPort = deniedPort + 1;

  const inPod = (pod: string, sh: string): Promise<{ code: number; stdout: string; stderr: string }> => inNetns(ns(pod), ['busybox', 'sh', '-c', sh]);
  const ping = async (from: string, src: string, dst: string): Promise<boolean> => (await inPod(from, `ping -c1 -W2 -I ${src} ${dst}`)).code === 0;
  const connects = async (port: number): Promise<boolean> => (await inPod('a', `nc -w 3 ${ip.host} ${port} </dev/null`)).code === 0;
  // not /sys/class/net: nsenter --net keeps the host's sysfs
  const macOf = async (pod: string): Promise<string> => /link\/ether (\S+)/.exec((await inPod(pod, 'ip -o link show eth0')).stdout)?.[1] ?? '';
  const neighMac = async (pod: string, addr: string): Promise<string> => /lladdr (\S+)/.exec((await inPod(pod, `ip neigh show ${addr}`)).stdout)?.[1] ?? '';
  /** pod a claims pod b's address with a gratuitous ARP; returns the MAC pod c then has for b */
  const arpPoison = async (): Promise<string> => {
    assert.ok(await ping('c', ip.c, ip.b), 'c resolves b first');
    await inPod('a', `ip addr add ${ip.b}/32 dev eth0 && arping -U -c 2 -I eth0 -s ${ip.b} ${ip.b}; ip addr del ${ip.b}/32 dev eth0`);
    return neighMac('c', ip.b);
  };

  before(async () => {
    await mkdir(dir, { recursive: true });
    for (const n of ['host', 'a', 'b', 'c']) await createNetns(ns(n));
    const h = (args: string[]): Promise<string> => runChecked('nsenter', [`--net=${ns('host')}`, '--', 'ip', ...args]).then((r) => r.stdout);
    await h(['link', 'add', bridge, 'type', 'bridge']);
    await h(['addr', 'add', `${ip.host}/24`, 'dev', bridge]);
    await h(['link', 'set', bridge, 'up']);
    for (const p of ['a', 'b', 'c'] as const) {
      await h(['link', 'add', `v${p}${run}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns(p)]);
      await h(['link', 'set', `v${p}${run}`, 'master', bridge, 'up']);
      await runChecked('nsenter', [`--net=${ns(p)}`, '--', 'ip', 'addr', 'add', `${ip[p]}/24`, 'dev', 'eth0']);
      await runChecked('nsenter', [`--net=${ns(p)}`, '--', 'ip', 'addr', 'add', `${ip6[p]}/64`, 'dev', 'eth0', 'nodad']);
      await runChecked('nsenter', [`--net=${ns(p)}`, '--', 'ip', 'link', 'set', 'eth0', 'up']);
    }
    for (const port of [deniedPort, openPort]) {
      const l = spawn('nsenter', [`--net=${ns('host')}`, '--', 'busybox', 'nc', '-ll', '-p', String(port), '-e', 'true'], { stdio: 'ignore' });
      listeners.push(l);
    }
    // the listeners are up once a connection goes through (the probe the tests use)
    for (let i = 0; i < 50 && !(await connects(openPort)); i++) await new Promise((r) => setTimeout(r, 100));
  });

  after(async () => {
    for (const l of listeners) if (l.pid) process.kill(l.pid, 'SIGKILL');
    await guard.destroy().catch(() => undefined);
    for (const n of ['a', 'b', 'c', 'host']) await removeNetns(ns(n)).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  it('before the guard: a pod can spoof a source address, poison ARP and reach every host port (the probes work)', async () => {
    assert.ok(await ping('a', ip.a, ip.c), 'own address');
    await inPod('a', `ip addr add ${ip.unused}/32 dev eth0`);
    assert.ok(await ping('a', ip.unused, ip.c), 'a spoofed source gets its reply back');
    assert.equal(await arpPoison(), await macOf('a'), "c now sends b's traffic to a");
    await inPod('c', `ip neigh flush dev eth0`);
    assert.ok(await connects(deniedPort));
    assert.ok(await connects(openPort));
  });

  it('after the guard: spoofed source and ARP are dropped at the bridge port, honest traffic flows', async () => {
    await guard.ensure([deniedPort]);
    for (const p of ['a', 'b', 'c'] as const) {
      await guard.allow({ hostInterface: `v${p}${run}`, addresses: [{ address: ip[p], family: 4 }] });
    }
    assert.ok(await ping('a', ip.a, ip.c), 'own address still works');
    assert.equal(await ping('a', ip.unused, ip.c), false, 'a spoofed source is dropped');
    assert.equal(await arpPoison(), await macOf('b'), "c keeps b's real MAC");
    assert.ok(await ping('c', ip.c, ip.b));
  });

  it('allows made at once go out together: one read of each table and one transaction, every port guarded', async () => {
    // the same guard through an nft that counts its runs (pods starting side by side after a reboot)
    const log = `${dir}/nft-runs`;
    const nft = `${dir}/nft-counting`;
    await writeFile(nft, `#!/bin/sh\necho "$*" >> ${log}\nexec nft "$@"\n`, { mode: 0o755 });
    const counted = new PodGuard({ bridge, netnsPath: ns('host'), nft });
    await Promise.all((['a', 'b', 'c'] as const).map((p) => counted.allow({ hostInterface: `v${p}${run}`, addresses: [{ address: ip[p], family: 4 }] })));
    const runs = (await readFile(log, 'utf8')).trim().split('\n');
    assert.equal(runs.length, counted.fastPath ? 3 : 2, `nft runs: ${JSON.stringify(runs)}`);
    assert.deepEqual(
      (await guard.list()).map((g) => [g.hostInterface, g.addresses.map((a) => a.address)]).sort(),
      (['a', 'b', 'c'] as const).map((p) => [`v${p}${run}`, [ip[p]]]),
    );
    assert.equal(await ping('a', ip.unused, ip.c), false, 'a spoofed source is still dropped');
    assert.ok(await ping('a', ip.a, ip.c), 'honest traffic flows');
  });

  it('a guard knows what it wrote: the next allow and forget are one nft run each; changed behind its back, it reads again', async () => {
    const log = `${dir}/nft-runs-known`;
    const nft = `${dir}/nft-counting-known`;
    await writeFile(nft, `#!/bin/sh\necho "$*" >> ${log}\nexec nft "$@"\n`, { mode: 0o755 });
    const counted = new PodGuard({ bridge, netnsPath: ns('host'), nft });
    const runs = async (): Promise<string[]> => {
      const text = await readFile(log, 'utf8').catch(() => '');
      await rm(log, { force: true });
      return text.trim().split('\n').filter(Boolean);
    };
    await counted.allow({ hostInterface: `va${run}`, addresses: [{ address: ip.a, family: 4 }] });
    assert.equal((await runs()).length, counted.fastPath ? 3 : 2, 'the first change reads the tables');
    await counted.forget(`vc${run}`);
    await counted.allow({ hostInterface: `vc${run}`, addresses: [{ address: ip.c, family: 4 }] });
    assert.deepEqual(await runs(), ['-f -', '-f -'], 'then each change is its transaction alone');
    if (counted.fastPath) {
      const chain = await runChecked('nsenter', [`--net=${ns('host')}`, '--', 'nft', 'list', 'chain', 'netdev', guard.table, 'fast']);
      assert.match(chain.stdout, new RegExp(`devices = \\{[^}]*"?vc${run}"?`), 'the re-allowed port is hooked on the fast chain again');
      assert.equal(chain.stdout.match(/counter/g)?.length, 4, 'the rules are kept, once');
    }
    assert.ok(await ping('a', ip.a, ip.c), 'c is guarded again and reachable');
    assert.equal(await ping('c', ip.unused, ip.a), false, "c's spoofed source is dropped");
    // an element removed by hand: the transaction that deletes it fails, the guard reads and redoes it
    await runChecked('nsenter', [`--net=${ns('host')}`, '--', 'nft', `delete element bridge ${guard.table} allowed4 { "vc${run}" . ${ip.c} }`]);
    await counted.allow({ hostInterface: `vc${run}`, addresses: [{ address: ip.c, family: 4 }] });
    assert.equal((await runs()).filter((r) => r.startsWith('-j list')).length, counted.fastPath ? 2 : 1, 'read again after the failed transaction');
    assert.deepEqual((await guard.list()).find((g) => g.hostInterface === `vc${run}`)?.addresses, [{ address: ip.c, family: 4 }]);
    assert.ok(await ping('c', ip.c, ip.a), 'honest traffic flows');
  });

  it('fast path: pod → pod IPv4 skips the bridge; NetworkPolicy-isolated pods and Service endpoints keep the bridge path', async () => {
    /** packets the fast path forwarded (its forwarding rules' counters: tcp/udp, icmp echo; the exits to the bridge count nothing) */
    const fwd = async (): Promise<number[]> => {
      const r = await runChecked('nsenter', [`--net=${ns('host')}`, '--', 'nft', '-j', 'list', 'chain', 'netdev', guard.table, 'fast']);
      const doc = JSON.parse(r.stdout) as { nftables: { rule?: { expr: { counter?: { packets: number } }[] } }[] };
      return doc.nftables.flatMap((i) => i.rule?.expr.flatMap((e) => (e.counter ? [e.counter.packets] : [])) ?? []);
    };
    const tcpPort = openPort + 1;
    const l = spawn('nsenter', [`--net=${ns('c')}`, '--', 'busybox', 'nc', '-ll', '-p', String(tcpPort), '-e', 'true'], { stdio: 'ignore' });
    listeners.push(l);
    const tcp = async (): Promise<boolean> => (await inPod('a', `nc -w 3 ${ip.c} ${tcpPort} </dev/null`)).code === 0;
    for (let i = 0; i < 50 && !(await tcp()); i++) await new Promise((r) => setTimeout(r, 100));
    const delta = async (probe: () => Promise<boolean>): Promise<number[]> => {
      const before = await fwd();
      assert.ok(await probe(), 'the traffic itself flows');
      return (await fwd()).map((n, i) => n - (before[i] ?? 0));
    };
    const [, icmp] = await delta(() => ping('a', ip.a, ip.c));
    assert.equal(icmp, 2, 'echo request and reply went the fast way');
    const [open] = await delta(tcp);
    assert.ok(open! >= 6, `the TCP exchange both ways went the fast way (${open})`);
    await guard.setSlowPods([ip.c]);
    assert.deepEqual(await delta(() => ping('a', ip.a, ip.c)), [0, 0, 0, 0], 'an isolated pod is reached through the bridge (and its policy)');
    assert.deepEqual(await delta(tcp), [0, 0, 0, 0]);
    await guard.setSlowPods([]);
    await guard.setSlowEndpoints([{ ip: ip.c, protocol: 'tcp', port: tcpPort }]);
    const [oneWay] = await delta(tcp);
    assert.ok(oneWay! > 0 && oneWay! < open!, `what the endpoint sends takes the bridge (conntrack un-NATs Service replies): ${oneWay} of ${open}`);
    await guard.setSlowEndpoints([]);
    // a hostPort's target port: portmap DNATs to it, so the same holds
    await guard.allow({ hostInterface: `vc${run}`, addresses: [{ address: ip.c, family: 4 }], hostPortTargets: [{ protocol: 'tcp', port: tcpPort }] });
    const viaHostPort = (await delta(tcp))[0]!;
    assert.ok(viaHostPort > 0 && viaHostPort < open!, `what the hostPort target sends takes the bridge: ${viaHostPort} of ${open}`);
    await guard.allow({ hostInterface: `vc${run}`, addresses: [{ address: ip.c, family: 4 }] });
    const again = (await delta(tcp))[0]!;
    assert.ok(again >= 6, `re-allowed without the hostPort, both ways are fast again (${again})`);
    assert.equal(await ping('a', ip.unused, ip.c), false, 'a spoofed source is not forwarded either');

    // IPv6: the same, in the family's own sets and rules (the counters' third and fourth)
    for (const p of ['a', 'b', 'c'] as const) await guard.allow({ hostInterface: `v${p}${run}`, addresses: [{ address: ip[p], family: 4 }, { address: ip6[p], family: 6 }] });
    const tcp6 = async (): Promise<boolean> => (await inPod('a', `nc -w 3 ${ip6.c} ${tcpPort} </dev/null`)).code === 0;
    for (let i = 0; i < 50 && !(await tcp6()); i++) await new Promise((r) => setTimeout(r, 100));
    const [, , , echo6] = await delta(() => ping('a', ip6.a, ip6.c));
    assert.equal(echo6, 2, 'IPv6 echo request and reply went the fast way');
    const [, , open6] = await delta(tcp6);
    assert.ok(open6! >= 6, `the IPv6 TCP exchange both ways went the fast way (${open6})`);
    await guard.setSlowPods([ip.a, ip6.c]);
    assert.deepEqual(await delta(tcp6), [0, 0, 0, 0], 'an isolated pod\'s IPv6 address is reached through the bridge');
    await guard.setSlowPods([]);
    await guard.setSlowEndpoints([{ ip: ip6.c, protocol: 'tcp', port: tcpPort }]);
    const [, , oneWay6] = await delta(tcp6);
    assert.ok(oneWay6! > 0 && oneWay6! < open6!, `what an IPv6 endpoint sends takes the bridge: ${oneWay6} of ${open6}`);
    await guard.setSlowEndpoints([]);
    await inPod('a', `ip addr add ${ip6.unused}/128 dev eth0 nodad`);
    assert.equal(await ping('a', ip6.unused, ip6.c), false, 'a spoofed IPv6 source is not forwarded (and the bridge guard drops it)');
    await inPod('a', `ip addr del ${ip6.unused}/128 dev eth0`);
    const listed = await runChecked('nsenter', [`--net=${ns('host')}`, '--', 'nft', 'list', 'set', 'netdev', guard.table, 'pods6']);
    // nft prints the address in RFC 5952's canonical form ("0d" → "d", a zero group folded into "::"), as the URL serializer does
    const canonical6 = new URL(`http://[${ip6.a}]/`).hostname.slice(1, -1);
    assert.ok(listed.stdout.includes(`"va${run}" . ${canonical6}`), listed.stdout);
  });

  it('after the guard: the node ports are refused from pods, other host ports are not', async () => {
    assert.equal(await connects(deniedPort), false);
    assert.ok(await connects(openPort));
    // a port known only later (the agent listening on port 0)
    await guard.denyNodePorts([openPort]);
    assert.equal(await connects(openPort), false);
    await guard.ensure([deniedPort]);
    assert.ok(await connects(openPort), 'ensure rewrites the port set');
  });

  it('allow replaces an interface\'s addresses, forget removes it, ensure keeps pods guarded', async () => {
    await guard.allow({ hostInterface: `va${run}`, addresses: [{ address: ip.unused, family: 4 }] });
    assert.ok(await ping('a', ip.unused, ip.c), 'the new address is allowed');
    assert.equal(await ping('a', ip.a, ip.c), false, 'the old one is not');
    await guard.allow({ hostInterface: `va${run}`, addresses: [{ address: ip.a, family: 4 }] });
    await guard.ensure([deniedPort]);
    const listed = await guard.list();
    assert.deepEqual(listed.find((p) => p.hostInterface === `va${run}`)?.addresses, [{ address: ip.a, family: 4 }]);
    assert.equal(listed.length, 3);
    await guard.forget(`vb${run}`);
    await guard.forget(`vb${run}`);
    assert.deepEqual((await guard.list()).map((p) => p.hostInterface).sort(), [`va${run}`, `vc${run}`]);
    const fast = await runChecked('nsenter', [`--net=${ns('host')}`, '--', 'nft', 'list', 'table', 'netdev', guard.table]);
    assert.doesNotMatch(fast.stdout, new RegExp(`vb${run}|${ip.b.replaceAll('.', '\\.')}\\b`), 'the fast path forgot b too');
    assert.match(fast.stdout, new RegExp(`devices = \\{ "?va${run}"?, "?vc${run}"? \\}`));
  });

  it('sweeps the tables of bridges that are gone, not its own', async () => {
    const other = new PodGuard({ bridge: `hgx${run}`, netnsPath: ns('host') });
    await other.ensure([]);
    const swept = await sweepStaleGuards(bridge, async (b) => b === bridge, { netnsPath: ns('host') });
    assert.deepEqual(swept, [`hgx${run}`]);
    assert.equal((await guard.list()).length, 2);
    await guard.destroy();
    await guard.destroy();
    assert.deepEqual(await guard.list(), []);
  });
});
