/**
 * Issue 12, dual-stack pod networking: two hosts (two-hosts.ts) under a `hedge server
 * --cluster-cidr 10.244.0.0/16,fd00:10:244::/56`. Each Node gets podCIDRs [IPv4 /24, IPv6 /64];
 * pods get status.podIPs of both families; the vxlan overlay (over the IPv4 underlay) carries a
 * runc and a gVisor pod on A to a pod on B by its IPv6 address, and B sees A's pod's own IPv6 address (IPv6 is
 * never masqueraded); IPv4 keeps working beside it. With `--service-cluster-ip-range` holding an
 * IPv6 range too, a PreferDualStack Service's IPv6 ClusterIP carries A's pod to B's (DNAT only)
 * and the node's DNS answers AAAA for it. Tear-down leaves no namespace, link, route
 * (either family), neighbour or FDB entry.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { cidrContains } from '../../src/lib/cidr.ts';
import { findKubectl, run } from './harness.ts';
import { edgeNodeSkipReason } from './node-harness.ts';
import { waitUntil } from './pod-checks.ts';
import { assertHostsGone, clusterOps, ECHO_IP, hostJson, httpLastLine, ncGet, pinnedPod, plainIPv4, startHostCluster, type HostCluster, type IpRoute } from './two-hosts.ts';

const NEEDED = ['/usr/sbin/runc', '/usr/bin/runsc', '/usr/bin/conmon', '/usr/sbin/nft', '/usr/lib/cni/bridge', '/usr/lib/cni/host-local', '/bin/busybox', '/usr/bin/nsenter', '/usr/sbin/bridge'];
const skip = edgeNodeSkipReason(NEEDED) ?? (findKubectl() ? undefined : 'no kubectl (run scripts/setup.sh)');

const CLUSTER_CIDR = '10.244.0.0/16,fd00:10:244::/56';
const SERVICE_RANGE = '10.96.0.0/16,fd00:96::/112';

const v6Of = (p: Pod): string | undefined => p.status?.podIPs?.find((x) => x.ip?.includes(':'))?.ip;

describe('dual-stack pod networking across nodes', { skip, timeout: 600_000 }, () => {
  let c: HostCluster;
  let names: { netns: string[]; rootLinks: string[] };

  before(async () => {
    c = await startHostCluster({ hosts: ['a', 'b'], runtimes: ['runc', 'gvisor'], serverArgs: ['--cluster-cidr', CLUSTER_CIDR, '--service-cluster-ip-range', SERVICE_RANGE], nodeArgs: ['--cluster-cidr', CLUSTER_CIDR] });
    names = c.underlay.names();
  });
  after(async () => {
    await c?.close();
  });

  const { kubectl, getNode, running } = clusterOps(() => c);

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
    const attempts: string[] = [];
    const seen6 = await waitUntil(`pod on A reaches [${v6Of(echo)}]:8080`, 60_000, async () => {
      const r = await c.server.kubectl(['exec', 'client-a', '--', ...ncGet(v6Of(echo) ?? '', 8080, '/cgi-bin/ip')], { timeoutMs: 20_000 });
      attempts.push(`exit ${r.code}: ${(r.stderr || r.stdout).trim().slice(0, 200)}`);
      return r.code === 0 ? httpLastLine(r.stdout) : undefined;
    }, () => `attempts:\n${attempts.join('\n')}\n${c.explain()}`);
    assert.equal(seen6?.replace(/^\[|\]$/g, ''), v6Of(client), 'IPv6 source address preserved across nodes (no NAT)');

    // a gVisor pod (runsc on the pod netns' host stack) the same way; nc, not wget (see ncGet)
    await kubectl(['apply', '-f', '-'], pinnedPod('client-a-gvisor', nodeA, 'exec sleep 3600', 'gvisor'));
    const clientG = await running('client-a-gvisor');
    assert.equal(clientG.status?.podIPs?.length, 2, JSON.stringify(clientG.status?.podIPs));
    const attemptsG: string[] = [];
    const seenG = await waitUntil(`gVisor pod on A reaches [${v6Of(echo)}]:8080`, 90_000, async () => {
      const r = await c.server.kubectl(['exec', 'client-a-gvisor', '--', ...ncGet(v6Of(echo) ?? '', 8080, '/cgi-bin/ip')], { timeoutMs: 20_000 });
      attemptsG.push(`exit ${r.code}: ${(r.stderr || r.stdout).trim().slice(0, 200)}`);
      return r.code === 0 ? httpLastLine(r.stdout) : undefined;
    }, () => `attempts:\n${attemptsG.join('\n')}\n${c.explain()}`);
    assert.equal(seenG?.replace(/^\[|\]$/g, ''), v6Of(clientG));

    // IPv4 beside it, unchanged
    const seen4 = await waitUntil('pod on A reaches B over IPv4', 30_000, async () => {
      const r = await c.server.kubectl(['exec', 'client-a', '--', ...ncGet(echo.status?.podIP ?? '', 8080, '/cgi-bin/ip')], { timeoutMs: 20_000 });
      const line = r.code === 0 ? httpLastLine(r.stdout) : undefined;
      return line === undefined ? undefined : plainIPv4(line);
    }, () => c.explain());
    assert.equal(seen4, client.status?.podIP);
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
    await c.close();
    await assertHostsGone(c, names);
    const r6 = await run('ip', ['-6', '-j', 'route', 'show', 'proto', '104']);
    assert.equal(r6.stdout.trim() === '' || r6.stdout.trim() === '[]', true, `IPv6 overlay routes in the root namespace: ${r6.stdout}`);
  });
});
