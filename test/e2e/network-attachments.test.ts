/**
 * Issue 12, network modes per pod (the Multus conventions): two hosts on one L2 underlay
 * (two-hosts.ts), a `hedge node` in each. A macvlan NetworkAttachmentDefinition on the hosts'
 * underlay interface hands pods addresses of the underlay itself:
 * - a runc pod whose `v1.multus-cni.io/default-network` is that NAD has an underlay address as its
 *   pod IP, is reached from host B's namespace at it, and reaches host B;
 * - a gVisor pod with the NAD as an extra interface (`k8s.v1.cni.cncf.io/networks`) keeps its
 *   cluster pod IP and also answers on its underlay address;
 * - `k8s.v1.cni.cncf.io/network-status` says which network holds which address;
 * - NetworkPolicy holds on a pod's macvlan interface as written (allowed from host B's address,
 *   denied once no rule admits it), and the pod cannot spoof another source or ARP on the L2;
 *   a pod with CAP_NET_ADMIN (which could rewrite its namespace's firewall) gets no NAD interface;
 * - a pod naming a NAD that does not exist, or an ipvlan NAD on a kernel without ipvlan, gets a
 *   FailedCreatePodSandBox event saying so;
 * - deleting the pods leaves no macvlan link, netns or cached attachment on host A.
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { findKubectl, run } from './harness.ts';
import { edgeNodeSkipReason, pooledNetworks } from './node-harness.ts';
import { waitUntil } from './pod-checks.ts';
import { allowIngressFrom, ECHO_IP, IMAGE, lanNad, networkStatus, plainIPv4, startHostCluster, type HostCluster } from './two-hosts.ts';

const NEEDED = ['/usr/sbin/runc', '/usr/bin/runsc', '/usr/bin/conmon', '/usr/sbin/nft', '/usr/lib/cni/bridge', '/usr/lib/cni/host-local', '/usr/lib/cni/macvlan', '/bin/busybox', '/usr/bin/nsenter'];
const skip = edgeNodeSkipReason(NEEDED) ?? (findKubectl() ? undefined : 'no kubectl (run scripts/setup.sh)');

describe('network modes per pod: macvlan NetworkAttachmentDefinitions on the hosts\' L2', { skip, timeout: 600_000 }, () => {
  let c: HostCluster;
  let prefix: string;

  before(async () => {
    c = await startHostCluster({ hosts: ['a', 'b'], runtimes: ['runc', 'gvisor'] });
    prefix = c.host('a').ip.split('.').slice(0, 3).join('.');
  });
  after(async () => {
    await c?.close();
  });

  const kubectl = async (args: string[], input?: string): Promise<string> => {
    const r = await c.server.kubectl(args, { input, timeoutMs: 60_000 });
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}\n${c.explain()}`);
    return r.stdout;
  };
  const pod = (name: string, annotations: Record<string, string>, runtimeClassName: string, command = ECHO_IP, extra: { labels?: Record<string, string>; netAdmin?: boolean; namespace?: string } = {}): string =>
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: extra.namespace ?? 'default', annotations, ...(extra.labels ? { labels: extra.labels } : {}) },
      spec: {
        nodeName: c.node('a').nodeName,
        runtimeClassName,
        terminationGracePeriodSeconds: 1,
        automountServiceAccountToken: false,
        containers: [
          {
            name: 'main',
            image: IMAGE,
            imagePullPolicy: 'Never',
            command: ['sh', '-c', command],
            ...(extra.netAdmin ? { securityContext: { capabilities: { add: ['NET_ADMIN'] } } } : {}),
          },
        ],
      },
    });
  const running = (name: string): Promise<Pod> =>
    waitUntil(`pod ${name} running`, 120_000, async () => {
      const r = await c.server.api('GET', `/api/v1/namespaces/default/pods/${name}`);
      const p = r.body as Pod;
      return r.status === 200 && p.status?.phase === 'Running' && p.status.podIP && p.status.containerStatuses?.[0]?.ready && p.metadata?.annotations?.['k8s.v1.cni.cncf.io/network-status'] ? p : undefined;
    }, () => c.explain());
  /** wget from host B's namespace (the other machine on the L2) */
  const fromHostB = (url: string): Promise<string> =>
    waitUntil(`host B reaches ${url}`, 30_000, async () => {
      const r = await c.host('b').exec('busybox', ['wget', '-qO-', url], { timeoutMs: 10_000 });
      return r.code === 0 ? plainIPv4(r.stdout) : undefined;
    }, () => c.explain());

  it('serves NetworkAttachmentDefinitions (kubectl, short name) and refuses a config that is not CNI JSON', async () => {
    await kubectl(['apply', '-f', '-'], lanNad(prefix));
    assert.match(await kubectl(['get', 'net-attach-def']), /^lan\s/m);
    const bad = await c.server.kubectl(['apply', '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'k8s.cni.cncf.io/v1', kind: 'NetworkAttachmentDefinition', metadata: { name: 'bad', namespace: 'default' }, spec: { config: '{"master":"eth0"}' } }),
      timeoutMs: 60_000,
    });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /spec\.config/);
  });

  it('a runc pod whose default network is the macvlan NAD has an L2 address, reached from host B, and reaches host B', async () => {
    await kubectl(['apply', '-f', '-'], pod('lan-primary', { 'v1.multus-cni.io/default-network': 'lan' }, 'runc'));
    const p = await running('lan-primary');
    const ip = p.status?.podIP ?? '';
    assert.ok(ip.startsWith(`${prefix}.2`), `pod IP ${ip} is on the underlay`);
    assert.deepEqual(p.status?.podIPs, [{ ip }]);
    assert.deepEqual(networkStatus(p).map((e) => [e.name, e.interface, e.ips, e.default]), [['default/lan', 'eth0', [ip], true]]);
    assert.equal(await fromHostB(`http://${ip}:8080/cgi-bin/ip`), c.host('b').ip, 'host B reaches the pod directly on the L2 (no NAT)');
    const ping = await c.server.kubectl(['exec', 'lan-primary', '--', 'busybox', 'ping', '-c', '1', '-W', '5', c.host('b').ip], { timeoutMs: 30_000 });
    assert.equal(ping.code, 0, `the pod reaches host B: ${ping.stdout}${ping.stderr}`);
  });

  it('a gVisor pod with the NAD as an extra interface has both its cluster IP and an L2 address', async () => {
    await kubectl(['apply', '-f', '-'], pod('lan-extra', { 'k8s.v1.cni.cncf.io/networks': 'lan' }, 'gvisor'));
    const p = await running('lan-extra');
    const podIP = p.status?.podIP ?? '';
    assert.match(podIP, /^10\.244\./, 'the pod IP stays the cluster network\'s');
    const st = networkStatus(p);
    assert.deepEqual(st.map((e) => [e.name, e.interface, e.default]), [['hedge', 'eth0', true], ['default/lan', 'net1', undefined]]);
    assert.deepEqual(st[0]?.ips, [podIP]);
    const l2 = st[1]?.ips?.[0] ?? '';
    assert.ok(l2.startsWith(`${prefix}.2`), `net1 has ${l2}`);
    assert.equal(await fromHostB(`http://${l2}:8080/cgi-bin/ip`), c.host('b').ip);
  });

  it('NetworkPolicy holds on the macvlan interface as written, and the pod cannot spoof a source or ARP there', async () => {
    await kubectl(['apply', '-f', '-'], pod('lan-policed', { 'k8s.v1.cni.cncf.io/networks': 'lan' }, 'runc', ECHO_IP, { labels: { app: 'policed' } }));
    const p = await running('lan-policed');
    const l2 = networkStatus(p)[1]?.ips?.[0] ?? '';
    const hostB = c.host('b').ip;
    const url = `http://${l2}:8080/cgi-bin/ip`;
    assert.equal(await fromHostB(url), hostB, 'no policy selects the pod: open');
    const allowFrom = (cidr: string): string => allowIngressFrom('policed-in', 'policed', cidr);
    /** waits until host B's fetch succeeds (want) or fails; a timeout names the NAD tables of host A's pods */
    const reachesBe = async (what: string, want: boolean): Promise<void> => {
      try {
        await waitUntil(what, 30_000, async () => ((await reaches()) === want ? true : undefined), () => c.explain());
      } catch (err) {
        const dirs = await readdir(c.node('a').netnsDir).catch(() => [] as string[]);
        const tables = await Promise.all(dirs.map(async (d) => (await run('nsenter', [`--net=${join(c.node('a').netnsDir, d)}`, '--', 'nft', 'list', 'table', 'inet', 'hedge-nad'])).stdout));
        throw new Error(`${(err as Error).message}\nNAD tables on host A:\n${tables.join('\n')}`, { cause: err });
      }
    };
    const reaches = async (): Promise<boolean> => (await c.host('b').exec('busybox', ['timeout', '5', 'busybox', 'wget', '-qO-', url], { timeoutMs: 10_000 })).code === 0;
    // host B is admitted by its address: the policy is in force and still lets it in
    await kubectl(['apply', '-f', '-'], allowFrom(`${hostB}/32`));
    await reachesBe('host B still admitted', true);
    // no rule admits host B any more: denied on the macvlan, which the node's bridge never sees
    await kubectl(['apply', '-f', '-'], allowFrom('192.0.2.0/24'));
    await reachesBe('host B denied on net1', false);
    await kubectl(['apply', '-f', '-'], allowFrom(`${hostB}/32`));
    await reachesBe('host B admitted again', true);

    // the guard: gratuitous ARP claiming another L2 address from the pod (NET_RAW is in the default set)
    const spoofed = `${prefix}.250`;
    const learnt = async (addr: string): Promise<boolean> => /lladdr/.test((await c.host('b').exec('ip', ['neigh', 'show', addr])).stdout);
    const arping = async (src: string): Promise<void> => {
      await c.server.kubectl(['exec', 'lan-policed', '--', 'busybox', 'arping', '-c', '2', '-w', '3', '-I', 'net1', '-s', src, hostB], { timeoutMs: 30_000 });
    };
    await c.host('b').exec('ip', ['neigh', 'flush', 'dev', 'eth0']);
    await arping(l2);
    assert.ok(await learnt(l2), `host B learns the pod's own address from its ARP (the probe works)\n${c.explain()}`);
    await arping(spoofed);
    assert.equal(await learnt(spoofed), false, 'an ARP with a spoofed sender is dropped in the pod\'s namespace');
    await kubectl(['delete', 'networkpolicy', 'policed-in']);
  });

  it('a pod with CAP_NET_ADMIN gets no NAD interface (it could rewrite the firewall in its namespace)', async () => {
    // baseline PodSecurity refuses NET_ADMIN in `default`: a namespace that allows it, the NAD from `default`
    await kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'netadmin', labels: { 'pod-security.kubernetes.io/enforce': 'privileged' } } }));
    await kubectl(['apply', '-f', '-'], pod('lan-netadmin', { 'k8s.v1.cni.cncf.io/networks': 'default/lan' }, 'runc', 'exec sleep 3600', { netAdmin: true, namespace: 'netadmin' }));
    const ev = await waitUntil('FailedCreatePodSandBox event', 60_000, async () => {
      const out = await kubectl(['get', 'events', '-n', 'netadmin', '--field-selector', 'involvedObject.name=lan-netadmin', '-o', 'json']);
      return (JSON.parse(out) as { items: { reason: string; message: string }[] }).items.find((e) => e.reason === 'FailedCreatePodSandBox');
    }, () => c.explain());
    assert.match(ev.message, /CAP_NET_ADMIN/);
    await kubectl(['delete', 'namespace', 'netadmin', '--wait=true', '--timeout=60s']);
  });

  it('a pod naming a missing NAD gets a clear FailedCreatePodSandBox event, not a crash', async () => {
    await kubectl(['apply', '-f', '-'], pod('lan-missing', { 'k8s.v1.cni.cncf.io/networks': 'nope' }, 'runc', 'exec sleep 3600'));
    const ev = await waitUntil('FailedCreatePodSandBox event', 60_000, async () => {
      const out = await kubectl(['get', 'events', '--field-selector', 'involvedObject.name=lan-missing', '-o', 'json']);
      const items = (JSON.parse(out) as { items: { reason: string; message: string }[] }).items;
      return items.find((e) => e.reason === 'FailedCreatePodSandBox');
    }, () => c.explain());
    assert.match(ev.message, /NetworkAttachmentDefinition default\/nope not found/);
    const p = (await c.server.api('GET', '/api/v1/namespaces/default/pods/lan-missing')).body as Pod;
    assert.equal(p.status?.phase, 'Pending');
  });

  it('an ipvlan NAD on a kernel without ipvlan: the pod gets an event saying so', async (t) => {
    const probe = await run('unshare', ['--net', 'ip', 'link', 'add', 'probe0', 'type', 'ipvlan']);
    if (!/unknown device type/i.test(probe.stderr)) {
      t.skip('this kernel has ipvlan');
      return;
    }
    const config = JSON.stringify({ cniVersion: '1.0.0', name: 'fast', type: 'ipvlan', master: 'eth0', ipam: { type: 'host-local', subnet: `${prefix}.0/24` } });
    await kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'k8s.cni.cncf.io/v1', kind: 'NetworkAttachmentDefinition', metadata: { name: 'fast', namespace: 'default' }, spec: { config } }));
    await kubectl(['apply', '-f', '-'], pod('lan-ipvlan', { 'k8s.v1.cni.cncf.io/networks': 'fast' }, 'runc', 'exec sleep 3600'));
    const ev = await waitUntil('FailedCreatePodSandBox event', 60_000, async () => {
      const out = await kubectl(['get', 'events', '--field-selector', 'involvedObject.name=lan-ipvlan', '-o', 'json']);
      return (JSON.parse(out) as { items: { reason: string; message: string }[] }).items.find((e) => e.reason === 'FailedCreatePodSandBox');
    }, () => c.explain());
    assert.match(ev.message, /the ipvlan CNI plugin needs the kernel's ipvlan link type/);
  });

  it('deleting the pods leaves no macvlan link, namespace or cached attachment on host A', async () => {
    await kubectl(['delete', 'pod', 'lan-primary', 'lan-extra', 'lan-policed', 'lan-missing', 'lan-ipvlan', '--ignore-not-found', '--wait=true', '--timeout=60s']);
    const hostA = c.host('a');
    const node = c.node('a');
    await waitUntil('no pod links on host A', 30_000, async () => {
      const r = await hostA.exec('ip', ['-j', '-d', 'link', 'show']);
      const links = JSON.parse(r.stdout) as { ifname: string; linkinfo?: { info_kind?: string } }[];
      // the node's pool of networks made ready for its next pods keeps its veths
      const pooled = new Set((await pooledNetworks(node.dataDir)).map((p) => p.hostInterface));
      const podVeth = (l: (typeof links)[number]): boolean => l.linkinfo?.info_kind === 'veth' && l.ifname.startsWith('veth') && !pooled.has(l.ifname);
      return links.some((l) => l.linkinfo?.info_kind === 'macvlan' || podVeth(l)) ? undefined : true;
    }, () => c.explain());
    const results = await readdir(join(node.dataDir, 'cni', 'multus', 'results')).catch(() => []);
    assert.deepEqual(results, []);
    const leases = await readdir(join(node.dataDir, 'cni', 'ipam', 'lan')).catch(() => []);
    assert.deepEqual(leases.filter((f) => /^\d/.test(f)), [], 'host-local released the L2 addresses');
  });
});
