/**
 * Issue 12, dual-stack pod networking: two hosts (two-hosts.ts) under a `hedge server
 * --cluster-cidr 10.244.0.0/16,fd00:10:244::/56`. Each Node gets podCIDRs [IPv4 /24, IPv6 /64];
 * pods get status.podIPs of both families; the vxlan overlay (over the IPv4 underlay) carries a
 * runc and a gVisor pod on A to a pod on B by its IPv6 address, and B sees A's pod's own IPv6 address (IPv6 is
 * not masqueraded inside the cluster CIDR); IPv4 keeps working beside it. Traffic to an IPv6
 * address outside the cluster (a namespace of the test's, "outside", linked to A only) is
 * masqueraded to A's address. NetworkPolicy over IPv6, enforced by A's nftables: a label-selected
 * peer (runc) is let in and another (gVisor) kept out by IPv6 as by IPv4, an IPv6 ipBlock (B's
 * IPv6 podCIDR) lets B's pod in over IPv6 only, and an egress policy with an IPv6 ipBlock and
 * except blocks the excepted range. A microVM pod (where qemu and a guest kernel are here) has
 * both leases on its guest's eth0, reaches B over IPv6 from its own address and is reached on it
 * by a runc pod. With `--service-cluster-ip-range` holding an IPv6 range too, a PreferDualStack
 * Service's IPv6 ClusterIP carries A's pod to B's (DNAT only) and the node's DNS answers AAAA for
 * it; pods have both bridge gateways as nameservers and the IPv6 one answers A and AAAA. From the
 * outside namespace, a NodePort on A's IPv6 address reaches B's pod masqueraded (Cluster) and A's
 * pod with the outside's own address (externalTrafficPolicy: Local). Tear-down leaves no namespace, link, route (either family),
 * neighbour or FDB entry.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile, chmod, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { gatewayOf } from '../../src/agent/network/dns/cluster-dns.ts';
import { cidrContains, networkAddress } from '../../src/lib/cidr.ts';
import { findKubectl, run } from './harness.ts';
import { edgeNodeSkipReason, microvmSkipReason } from './node-harness.ts';
import { waitUntil } from './pod-checks.ts';
import { assertHostsGone, clusterOps, ECHO_IP, hostJson, httpLastLine, ncGet, pinnedPod, plainIPv4, startHostCluster, type HostCluster, type IpRoute } from './two-hosts.ts';

const NEEDED = ['/usr/sbin/runc', '/usr/bin/runsc', '/usr/bin/conmon', '/usr/sbin/nft', '/usr/lib/cni/bridge', '/usr/lib/cni/host-local', '/bin/busybox', '/usr/bin/nsenter', '/usr/sbin/bridge'];
const skip = edgeNodeSkipReason(NEEDED) ?? (findKubectl() ? undefined : 'no kubectl (run scripts/setup.sh)');

const CLUSTER_CIDR = '10.244.0.0/16,fd00:10:244::/56';
// the microVM case only where a VM can boot; the guest build is cached beside microvm.test.ts's, TCG without the KVM probe
const microvmSkip = microvmSkipReason();
const microvmNodeArgs = microvmSkip ? [] : ['--guest-dir', join(tmpdir(), 'hedge-guest-cache'), '--microvm-accelerator', 'tcg'];
const SERVICE_RANGE = '10.96.0.0/16,fd00:96::/112';

const v6Of = (p: Pod): string | undefined => p.status?.podIPs?.find((x) => x.ip?.includes(':'))?.ip;

describe('dual-stack pod networking across nodes', { skip, timeout: 600_000 }, () => {
  let c: HostCluster;
  let names: { netns: string[]; rootLinks: string[] };

  before(async () => {
    c = await startHostCluster({ hosts: ['a', 'b'], runtimes: ['runc', 'gvisor', ...(microvmSkip ? [] : ['microvm'])], serverArgs: ['--cluster-cidr', CLUSTER_CIDR, '--service-cluster-ip-range', SERVICE_RANGE], nodeArgs: ['--cluster-cidr', CLUSTER_CIDR, ...microvmNodeArgs] });
    names = c.underlay.names();
  });
  /** the "outside" namespace of the masquerade test, linked to A */
  let out: { netns: string; link: string; dir: string; httpd?: ChildProcess } | undefined;
  const closeOutside = async (): Promise<void> => {
    if (!out) return;
    out.httpd?.kill();
    await run('ip', ['netns', 'del', out.netns]);
    await rm(out.dir, { recursive: true, force: true });
  };
  after(async () => {
    await closeOutside();
    await c?.close();
  });

  const { kubectl, getNode, running } = clusterOps(() => c);
  /** what `http://[ip]:8080/cgi-bin/ip` on the echo server answers to `pod` (the source it saw), retried until it answers */
  const sourceSeen = async (pod: string, ip: string, timeoutMs: number): Promise<string | undefined> => {
    const attempts: string[] = [];
    const seen = await waitUntil(`${pod} reaches [${ip}]:8080`, timeoutMs, async () => {
      const r = await c.server.kubectl(['exec', pod, '--', ...ncGet(ip, 8080, '/cgi-bin/ip')], { timeoutMs: 30_000 });
      attempts.push(`exit ${r.code}: ${(r.stderr || r.stdout).trim().slice(0, 200)}`);
      return r.code === 0 ? httpLastLine(r.stdout) : undefined;
    }, () => `attempts:\n${attempts.join('\n')}\n${c.explain()}`);
    return seen?.replace(/^\[|\]$/g, '');
  };

  it('each Node gets distinct podCIDRs [IPv4 /24, IPv6 /64], podCIDR the IPv4 one', async () => {
    const [a, b] = await Promise.all(c.nodes.map((n) => getNode(n.nodeName)));
    for (const n of [a, b]) {
      assert.equal(n.spec?.podCIDRs?.length, 2, JSON.stringify(n.spec));
      assert.match(n.spec?.podCIDRs?.[0] ?? '', /^10\.244\.\d+\.0\/24$/);
      assert.match(n.spec?.podCIDRs?.[1] ?? '', /^fd00:10:244:([0-9a-f]{1,4}:)?:\/64$/);
      assert.equal(n.spec?.podCIDR, n.spec?.podCIDRs?.[0]);
    }
    assert.notEqual(a.spec?.podCIDRs?.[1], b.spec?.podCIDRs?.[1]);
  });

  it('a pod on A reaches a pod on B by its IPv6 address over the overlay, unmasqueraded; IPv4 works beside it', async () => {
    const [nodeA, nodeB] = [c.node('a').nodeName, c.node('b').nodeName];
    await kubectl(['apply', '-f', '-'], pinnedPod('echo-b', nodeB, ECHO_IP));
    await kubectl(['apply', '-f', '-'], pinnedPod('client-a', nodeA, 'exec sleep 3600'));
    const [echo, client] = await Promise.all([running('echo-b'), running('client-a')]);
    const [specA, specB] = [(await getNode(nodeA)).spec, (await getNode(nodeB)).spec];

    // status.podIPs: one per family, podIP first, each in its node's range
    for (const [p, spec] of [[echo, specB], [client, specA]] as const) {
      assert.equal(p.status?.podIPs?.length, 2, JSON.stringify(p.status?.podIPs));
      assert.equal(p.status?.podIPs?.[0]?.ip, p.status?.podIP);
      const v6 = v6Of(p) ?? '';
      assert.ok(cidrContains(spec?.podCIDRs?.[1] ?? '', v6), `${v6} in ${spec?.podCIDRs?.[1]}`);
    }

    // the kernel state on A: B's IPv6 range via B's IPv6 vtep, a permanent neighbour for it
    const hostA = c.host('a');
    const b6 = specB?.podCIDRs?.[1] ?? '';
    const vtepB6 = b6.split('/')[0];
    await waitUntil('IPv6 route to B on A', 30_000, async () => {
      const routes = await hostJson<IpRoute[]>(hostA, 'ip', ['-6', '-j', 'route', 'show', 'proto', '104']);
      return routes.some((r) => r.dst === b6) ? true : undefined;
    }, () => c.explain());
    // (IPv6 routes also carry metric and pref)
    const routes6 = (await hostJson<IpRoute[]>(hostA, 'ip', ['-6', '-j', 'route', 'show', 'proto', '104'])).map((r) => ({ dst: r.dst, gateway: r.gateway, dev: r.dev, flags: r.flags }));
    assert.deepEqual(routes6, [{ dst: b6, gateway: vtepB6, dev: 'hedge.1', flags: ['onlink'] }]);
    const neigh = await hostJson<{ dst: string; lladdr: string }[]>(hostA, 'ip', ['-6', '-j', 'neigh', 'show', 'dev', 'hedge.1', 'nud', 'permanent']);
    assert.deepEqual(neigh.map((n) => n.dst), [vtepB6]);
    const addrs = await hostJson<{ addr_info: { local: string; prefixlen: number; scope: string }[] }[]>(hostA, 'ip', ['-j', 'addr', 'show', 'dev', 'hedge.1']);
    const a6 = specA?.podCIDRs?.[1] ?? '';
    assert.ok(addrs[0]?.addr_info.some((x) => `${x.local}/${x.prefixlen}` === `${a6.split('/')[0]}/128`), `A's IPv6 vtep address on hedge.1: ${JSON.stringify(addrs)}`);

    // IPv6, pod to pod: B sees A's pod's own IPv6 address
    const seen6 = await sourceSeen('client-a', v6Of(echo) ?? '', 60_000);
    assert.equal(seen6, v6Of(client), 'IPv6 source address preserved across nodes (no NAT)');

    // a gVisor pod (runsc on the pod netns' host stack) the same way; nc, not wget (see ncGet)
    await kubectl(['apply', '-f', '-'], pinnedPod('client-a-gvisor', nodeA, 'exec sleep 3600', 'gvisor'));
    const clientG = await running('client-a-gvisor');
    assert.equal(clientG.status?.podIPs?.length, 2, JSON.stringify(clientG.status?.podIPs));
    const seenG = await sourceSeen('client-a-gvisor', v6Of(echo) ?? '', 90_000);
    assert.equal(seenG, v6Of(clientG));

    // IPv4 beside it, unchanged
    const seen4 = await waitUntil('pod on A reaches B over IPv4', 30_000, async () => {
      const r = await c.server.kubectl(['exec', 'client-a', '--', ...ncGet(echo.status?.podIP ?? '', 8080, '/cgi-bin/ip')], { timeoutMs: 20_000 });
      const line = r.code === 0 ? httpLastLine(r.stdout) : undefined;
      return line === undefined ? undefined : plainIPv4(line);
    }, () => c.explain());
    assert.equal(seen4, client.status?.podIP);
  });

  it('IPv6 traffic to an address outside the cluster is masqueraded to the node\'s address', async () => {
    const hostA = c.host('a');
    const rand = Math.floor(Math.random() * 0xffffff).toString(16).padStart(6, '0');
    out = { netns: `v6p-out-${rand}`, link: `v6po${rand}`, dir: await mkdtemp(join(tmpdir(), 'v6policy-outside-')) };
    const sh = async (cmd: string, args: string[]): Promise<void> => {
      const r = await run(cmd, args);
      assert.equal(r.code, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
    };
    // outside: 2001:db8:99::2, linked to A only (A: 2001:db8:99::1); no route back to any pod range
    await sh('ip', ['netns', 'add', out.netns]);
    await sh('ip', ['-n', out.netns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', out.link, 'netns', hostA.netns]);
    await sh('ip', ['-n', out.netns, 'addr', 'add', '2001:db8:99::2/64', 'dev', 'eth0', 'nodad']);
    await sh('ip', ['-n', hostA.netns, 'addr', 'add', '2001:db8:99::1/64', 'dev', out.link, 'nodad']);
    for (const [ns, dev] of [[out.netns, 'eth0'], [out.netns, 'lo'], [hostA.netns, out.link]] as const) await sh('ip', ['-n', ns, 'link', 'set', dev, 'up']);
    await mkdir(join(out.dir, 'cgi-bin'));
    await writeFile(join(out.dir, 'cgi-bin', 'ip'), '#!/bin/sh\necho Content-Type: text/plain\necho\necho "$REMOTE_ADDR"\n');
    await chmod(join(out.dir, 'cgi-bin', 'ip'), 0o755);
    out.httpd = spawn('nsenter', [`--net=/run/netns/${out.netns}`, 'busybox', 'httpd', '-f', '-p', '8080', '-h', out.dir], { stdio: 'ignore' });

    const attempts: string[] = [];
    const seen = await waitUntil('pod on A reaches [2001:db8:99::2]:8080', 60_000, async () => {
      const r = await c.server.kubectl(['exec', 'client-a', '--', ...ncGet('2001:db8:99::2', 8080, '/cgi-bin/ip')], { timeoutMs: 20_000 });
      attempts.push(`exit ${r.code}: ${(r.stderr || r.stdout).trim().slice(0, 200)}`);
      return r.code === 0 ? httpLastLine(r.stdout) : undefined;
    }, () => `attempts:\n${attempts.join('\n')}\n${c.explain()}`);
    assert.equal(seen?.replace(/^\[|\]$/g, ''), '2001:db8:99::1', 'the outside sees the node\'s address, not the pod\'s');
  });

  it('NetworkPolicy over IPv6: a label-selected peer in, another out; an IPv6 ipBlock; an egress IPv6 ipBlock with except', async () => {
    const [nodeA, nodeB] = [c.node('a').nodeName, c.node('b').nodeName];
    const b6 = (await getNode(nodeB)).spec?.podCIDRs?.[1] ?? '';
    await kubectl(['apply', '-f', '-'], pinnedPod('echo-a', nodeA, ECHO_IP));
    await kubectl(['apply', '-f', '-'], pinnedPod('client-b', nodeB, 'exec sleep 3600'));
    const [echoA, echoB] = [await running('echo-a'), await running('echo-b')];
    await running('client-b');
    const [echoA4, echoA6, echoB4, echoB6] = [echoA.status?.podIP ?? '', v6Of(echoA) ?? '', echoB.status?.podIP ?? '', v6Of(echoB) ?? ''];
    await kubectl(['label', 'pod', 'echo-a', 'app=echo-a']);
    await kubectl(['label', 'pod', 'client-a', 'role=allowed']);
    await kubectl(['label', 'pod', 'client-a-gvisor', 'role=denied']);
    const reaches = async (from: string, ip: string): Promise<boolean> => {
      const r = await c.server.kubectl(['exec', from, '--', ...ncGet(ip, 8080, '/cgi-bin/ip')], { timeoutMs: 20_000 });
      return r.code === 0 && httpLastLine(r.stdout) !== undefined;
    };
    const expectReach = (from: string, ip: string, want: boolean): Promise<boolean> =>
      waitUntil(`${from} → ${ip} ${want ? 'allowed' : 'blocked'}`, 60_000, async () => ((await reaches(from, ip)) === want ? true : undefined), () => c.explain());
    const netpol = (name: string, spec: unknown): string => JSON.stringify({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace: 'default' }, spec });

    // the positive control: everyone reaches echo-a by both families
    for (const from of ['client-a', 'client-a-gvisor', 'client-b']) await expectReach(from, echoA6, true);

    // ingress to echo-a only from role=allowed on 8080: runc client-a in, gVisor client-a-gvisor out, by IPv6 as by IPv4
    const fromAllowed = { from: [{ podSelector: { matchLabels: { role: 'allowed' } } }], ports: [{ protocol: 'TCP', port: 8080 }] };
    await kubectl(['apply', '-f', '-'], netpol('echo-a-in', { podSelector: { matchLabels: { app: 'echo-a' } }, policyTypes: ['Ingress'], ingress: [fromAllowed] }));
    await expectReach('client-a-gvisor', echoA6, false);
    assert.equal(await reaches('client-a-gvisor', echoA4), false);
    assert.equal(await reaches('client-b', echoA6), false, 'a pod on B is no peer of a pod selector here (see policy/README.md) and no ipBlock lets it in yet');
    await expectReach('client-a', echoA6, true);
    assert.equal(await reaches('client-a', echoA4), true);
    const table = await c.host('a').exec('nft', ['list', 'table', 'inet', 'hedge-policy']);
    assert.match(table.stdout, new RegExp(`ip6 daddr ${echoA6} jump ing-default-echo-a`));
    assert.match(table.stdout, new RegExp(`ip6 saddr ${v6Of(await running('client-a'))} tcp dport 8080 return`));

    // an IPv6 ipBlock (B's IPv6 podCIDR) lets client-b in over IPv6, not over IPv4
    await kubectl(['apply', '-f', '-'], netpol('echo-a-in', { podSelector: { matchLabels: { app: 'echo-a' } }, policyTypes: ['Ingress'], ingress: [fromAllowed, { from: [{ ipBlock: { cidr: b6 } }] }] }));
    await expectReach('client-b', echoA6, true);
    assert.equal(await reaches('client-b', echoA4), false);
    assert.equal(await reaches('client-a-gvisor', echoA6), false);

    // egress of client-a only to the cluster's IPv6 range except B's: echo-a yes, echo-b no (either family)
    await expectReach('client-a', echoB6, true);
    await kubectl(['apply', '-f', '-'], netpol('client-a-out', { podSelector: { matchLabels: { role: 'allowed' } }, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: 'fd00:10:244::/56', except: [b6] } }] }] }));
    await expectReach('client-a', echoB6, false);
    assert.equal(await reaches('client-a', echoB4), false);
    assert.equal(await reaches('client-a', echoA6), true, 'in the allowed range, and echo-a lets client-a in');

    // the pod guard's fast path (same-node pod → pod, IPv6 TCP rule) skips the policy table: an
    // isolated pod's IPv6 traffic never takes it, an unisolated pair's does
    const fastTcp6 = async (): Promise<number> => {
      const tables = (await c.host('a').exec('nft', ['list', 'tables'])).stdout;
      const t = /table netdev (hedge-guard-\S+)/.exec(tables)?.[1] ?? '';
      const r = await hostJson<{ nftables: { rule?: { expr: { counter?: { packets: number } }[] } }[] }>(c.host('a'), 'nft', ['-j', 'list', 'chain', 'netdev', t, 'fast']);
      // the forwarding rules' counters (IPv4 TCP/UDP, IPv4 echo, IPv6 TCP/UDP, IPv6 echo); the exits to the bridge count nothing
      const counters = r.nftables.flatMap((i) => i.rule?.expr.flatMap((e) => (e.counter ? [e.counter.packets] : [])) ?? []);
      return counters[2] ?? -1;
    };
    const isolatedBefore = await fastTcp6();
    assert.equal(await reaches('client-a', echoA6), true);
    assert.equal(await fastTcp6(), isolatedBefore, 'isolated: IPv6 through the bridge and the policy table');

    // deleting the policies restores it all
    await kubectl(['delete', 'netpol', 'echo-a-in', 'client-a-out']);
    await expectReach('client-a', echoB6, true);
    await waitUntil('client-a → echo-a over IPv6 on the fast path once nothing isolates them', 30_000, async () => {
      const before = await fastTcp6();
      return (await reaches('client-a', echoA6)) && (await fastTcp6()) > before ? true : undefined;
    }, () => c.explain());
    await expectReach('client-a-gvisor', echoA6, true);
    assert.equal(await reaches('client-b', echoA4), true);
  });

  it('a microVM pod on A has its IPv6 lease inside the guest, reaches B from it and is reached on it', { skip: microvmSkip }, async () => {
    const nodeA = c.node('a').nodeName;
    await kubectl(['apply', '-f', '-'], pinnedPod('client-a-mvm', nodeA, ECHO_IP, 'microvm'));
    const vm = await waitUntil('microVM pod client-a-mvm running', 300_000, async () => {
      const r = await c.server.api('GET', '/api/v1/namespaces/default/pods/client-a-mvm');
      const pod = r.body as Pod;
      return r.status === 200 && pod.status?.phase === 'Running' && pod.status.podIP ? pod : undefined;
    }, () => c.explain());
    const [echo, client] = await Promise.all([running('echo-b'), running('client-a')]);
    assert.equal(vm.status?.podIPs?.length, 2, JSON.stringify(vm.status?.podIPs));
    const vm6 = v6Of(vm) ?? '';

    // inside the guest (its own kernel): every address status.podIPs lists is on eth0, and an IPv6 default route
    const inGuest = await c.server.kubectl(['exec', 'client-a-mvm', '--', 'sh', '-c', 'ip -o addr show dev eth0; ip -6 route show default'], { timeoutMs: 60_000 });
    assert.equal(inGuest.code, 0, inGuest.stderr);
    for (const { ip } of vm.status?.podIPs ?? []) assert.match(inGuest.stdout, new RegExp(`eth0\\s+inet6? ${ip?.replaceAll('.', '\\.')}/`), `${ip} in the guest:\n${inGuest.stdout}`);
    assert.doesNotMatch(inGuest.stdout, /tentative|dadfailed/, inGuest.stdout);
    assert.match(inGuest.stdout, /^default via \S+ dev eth0/m, inGuest.stdout);

    // the guest to B over IPv6: B sees the guest's own address (through the tap guard and the overlay)
    const seen = await sourceSeen('client-a-mvm', v6Of(echo) ?? '', 90_000);
    assert.equal(seen, vm6, 'the guest\'s IPv6 source address arrives unchanged');

    // and a runc pod reaches the guest's server on its IPv6 address, seen from its own
    const seenIn = await sourceSeen('client-a', vm6, 60_000);
    assert.equal(seenIn, v6Of(client));
  });

  it("a dual-stack Service: A's pod reaches B's pod through the IPv6 ClusterIP (its own address preserved); cluster DNS answers AAAA", async () => {
    await kubectl(['label', 'pod', 'echo-b', 'app=echo6', '--overwrite']);
    const svc = JSON.parse(
      await kubectl(['apply', '-o', 'json', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'echo6' }, spec: { ipFamilyPolicy: 'PreferDualStack', selector: { app: 'echo6' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] } })),
    ) as { spec: { clusterIPs?: string[]; ipFamilies?: string[] } };
    assert.deepEqual(svc.spec.ipFamilies, ['IPv4', 'IPv6']);
    const ip6 = svc.spec.clusterIPs?.[1] ?? '';
    assert.ok(cidrContains('fd00:96::/112', ip6), ip6);
    const client = await running('client-a');
    const attempts: string[] = [];
    const seen = await waitUntil(`pod on A reaches the IPv6 ClusterIP [${ip6}]:80`, 60_000, async () => {
      const r = await c.server.kubectl(['exec', 'client-a', '--', ...ncGet(ip6, 80, '/cgi-bin/ip')], { timeoutMs: 20_000 });
      attempts.push(`exit ${r.code}: ${(r.stderr || r.stdout).trim().slice(0, 200)}`);
      return r.code === 0 ? httpLastLine(r.stdout) : undefined;
    }, () => `attempts:\n${attempts.join('\n')}\n${c.explain()}`);
    assert.equal(seen?.replace(/^\[|\]$/g, ''), v6Of(client), 'DNAT only: the client pod\'s own IPv6 address reaches the endpoint');
    // the node's DNS: AAAA for the Service's IPv6 ClusterIP beside its A record
    let last = '';
    await waitUntil('AAAA for echo6', 60_000, async () => {
      const r = await c.server.kubectl(['exec', 'client-a', '--', 'busybox', 'nslookup', '-type=AAAA', 'echo6.default.svc.cluster.local'], { timeoutMs: 20_000 });
      last = `${r.stdout}${r.stderr}`;
      return last.includes(ip6) ? true : undefined;
    }, () => `last output:\n${last}\n${c.explain()}`);
  });

  it("the node's DNS over IPv6: pods get both bridge gateways as nameservers, and the IPv6 one answers A and AAAA", async () => {
    const specA = (await getNode(c.node('a').nodeName)).spec;
    const [gw4, gw6] = [gatewayOf(specA?.podCIDRs?.[0] ?? '').address, gatewayOf(specA?.podCIDRs?.[1] ?? '').address];
    const resolv = await c.server.kubectl(['exec', 'client-a', '--', 'cat', '/etc/resolv.conf'], { timeoutMs: 20_000 });
    assert.equal(resolv.code, 0, resolv.stderr);
    assert.deepEqual([...resolv.stdout.matchAll(/^nameserver (\S+)$/gm)].map((m) => m[1]), [gw4, gw6], resolv.stdout);
    const svc = JSON.parse(await kubectl(['get', 'svc', 'echo6', '-o', 'json'])) as { spec: { clusterIPs: string[] } };
    const [ip4, ip6] = svc.spec.clusterIPs;
    // busybox nslookup asks the server given (an IPv6 one: the question and the answer go over IPv6)
    for (const [type, want] of [['A', ip4], ['AAAA', ip6]] as const) {
      const r = await c.server.kubectl(['exec', 'client-a', '--', 'busybox', 'nslookup', `-type=${type}`, 'echo6.default.svc.cluster.local', gw6], { timeoutMs: 20_000 });
      assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
      assert.match(r.stdout, new RegExp(`Server:\\s+${gw6}`), r.stdout);
      assert.ok(r.stdout.includes(`Address: ${want}`), `${type} echo6 from [${gw6}]:53:\n${r.stdout}`);
    }
  });

  it("NodePorts on the node's IPv6 address from outside the cluster: Cluster masquerades, Local keeps the client's address", async () => {
    assert.ok(out, 'the outside namespace of the masquerade test');
    const outside = out;
    const specA = (await getNode(c.node('a').nodeName)).spec;
    const nodePortService = async (name: string, app: string, local: boolean): Promise<number> => {
      const spec = { type: 'NodePort', ipFamilyPolicy: 'PreferDualStack', ...(local ? { externalTrafficPolicy: 'Local' } : {}), selector: { app }, ports: [{ port: 80, targetPort: 8080 }] };
      const svc = JSON.parse(await kubectl(['apply', '-o', 'json', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name }, spec }))) as { spec: { ports: { nodePort: number }[] } };
      return svc.spec.ports[0]!.nodePort;
    };
    /** GET /cgi-bin/ip on [A's outside-link address]:port from the outside namespace: the source the pod saw */
    const fromOutside = async (port: number): Promise<string | undefined> => {
      const attempts: string[] = [];
      const seen = await waitUntil(`outside reaches [2001:db8:99::1]:${port}`, 60_000, async () => {
        const r = await run('nsenter', [`--net=/run/netns/${outside.netns}`, 'sh', '-c', `printf 'GET /cgi-bin/ip HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 5 2001:db8:99::1 ${port}`]);
        attempts.push(`exit ${r.code}: ${(r.stderr || r.stdout).trim().slice(0, 200)}`);
        return r.code === 0 ? httpLastLine(r.stdout) : undefined;
      }, () => `attempts:\n${attempts.join('\n')}\n${c.explain()}`);
      return seen?.replace(/^\[|\]$/g, '');
    };
    // Cluster (the default), its endpoint on B: masqueraded to A's address on the overlay (its IPv6 vtep)
    const clusterPort = await nodePortService('echo6-np', 'echo6', false);
    assert.equal(await fromOutside(clusterPort), networkAddress(specA?.podCIDRs?.[1] ?? ''));
    // Local, its endpoint on A: the outside's own address reaches the pod
    const localPort = await nodePortService('echo-a-np', 'echo-a', true);
    assert.equal(await fromOutside(localPort), '2001:db8:99::2');
    await kubectl(['delete', 'svc', 'echo6-np', 'echo-a-np']);
  });

  it("deleting B's Node removes A's IPv6 route and neighbour for it too", async () => {
    const hostA = c.host('a');
    const nodeB = c.node('b').nodeName;
    await c.node('b').stop();
    await kubectl(['delete', 'pod', 'echo-b', '--force', '--grace-period=0', '--wait=false']);
    await kubectl(['delete', 'node', nodeB]);
    await waitUntil("B's entries gone from A", 30_000, async () => {
      const routes = await hostJson<IpRoute[]>(hostA, 'ip', ['-j', 'route', 'show', 'proto', '104']);
      const routes6 = await hostJson<IpRoute[]>(hostA, 'ip', ['-6', '-j', 'route', 'show', 'proto', '104']);
      const neigh = await hostJson<unknown[]>(hostA, 'ip', ['-6', '-j', 'neigh', 'show', 'dev', 'hedge.1', 'nud', 'permanent']);
      const fdb = await hostJson<{ dst?: string }[]>(hostA, 'bridge', ['-j', 'fdb', 'show', 'dev', 'hedge.1']);
      return routes.length === 0 && routes6.length === 0 && neigh.length === 0 && !fdb.some((f) => f.dst) ? true : undefined;
    }, () => c.explain());
  });

  it('tear-down leaves no namespaces, links, routes of either family or FDB entries', async () => {
    await closeOutside();
    await c.close();
    if (out) assert.notEqual((await run('ip', ['netns', 'pids', out.netns])).code, 0, `netns ${out.netns} left`);
    await assertHostsGone(c, names);
    const r6 = await run('ip', ['-6', '-j', 'route', 'show', 'proto', '104']);
    assert.equal(r6.stdout.trim() === '' || r6.stdout.trim() === '[]', true, `IPv6 overlay routes in the root namespace: ${r6.stdout}`);
  });
});
