/**
 * Issue 12, "each mode reaches microVM guests too": the network-attachments e2e for a microVM pod.
 * Two hosts on one L2 underlay (two-hosts.ts), a `hedge node` in each; a macvlan
 * NetworkAttachmentDefinition on the hosts' underlay interface. Two microVM pods (qemu, TCG here,
 * booted side by side; each serves every check, since a TCG boot is slow): `mvm-lan` with the NAD
 * as an extra interface (`k8s.v1.cni.cncf.io/networks`), `mvm-lan0` with it as its default network
 * (`v1.multus-cni.io/default-network`: eth0 is the macvlan):
 * - mvm-lan's guest has a second NIC named net1 with the NAD's MAC and underlay address, beside its
 *   cluster eth0; mvm-lan0's guest eth0 has an underlay pod IP; network-status says so as for runc;
 * - host B reaches both guests at their underlay addresses directly on the L2 (no NAT), and they
 *   reach host B;
 * - NetworkPolicy holds on both (net1, and the NAD eth0) as written (admitted, denied, admitted
 *   again) although the guests' traffic never enters the pod netns's stack (the runtime bridges the
 *   NAD interface to the guest's tap);
 * - a guest's root cannot claim another L2 address with ARP;
 * - deleting the pods leaves no macvlan link, netns, cached attachment or address lease on host A.
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { findKubectl } from './harness.ts';
import { edgeNodeSkipReason, microvmSkipReason, pooledNetworks } from './node-harness.ts';
import { waitUntil } from './pod-checks.ts';
import { allowIngressFrom, ECHO_IP, IMAGE, lanNad, networkStatus, plainIPv4, startHostCluster, type HostCluster } from './two-hosts.ts';

const NEEDED = ['/usr/bin/conmon', '/usr/sbin/nft', '/usr/lib/cni/bridge', '/usr/lib/cni/host-local', '/usr/lib/cni/macvlan', '/bin/busybox', '/usr/bin/nsenter'];
const skip = edgeNodeSkipReason(NEEDED) ?? (findKubectl() ? undefined : 'no kubectl (run scripts/setup.sh)') ?? microvmSkipReason();

describe('microVM network attachments: a macvlan NIC in the guest on the hosts\' L2, policed', { skip, timeout: 600_000 }, () => {
  let c: HostCluster;
  let prefix: string;
  let l2 = '';
  let l2primary = '';
  const POD = 'mvm-lan';
  const POD0 = 'mvm-lan0';

  before(async () => {
    // the guest build is cached beside microvm.test.ts's; TCG without the KVM probe (it cannot work here, and costs a boot)
    c = await startHostCluster({ hosts: ['a', 'b'], runtimes: ['runc', 'microvm'], nodeArgs: ['--guest-dir', join(tmpdir(), 'hedge-guest-cache'), '--microvm-accelerator', 'tcg'] });
    prefix = c.host('a').ip.split('.').slice(0, 3).join('.');
  });
  after(async () => {
    await c?.close();
  });

  const kubectl = (args: string[], input?: string): Promise<string> => c.kubectl(args, input);
  const inGuest = async (cmd: string, pod = POD): Promise<{ code: number; out: string }> => {
    const r = await c.server.kubectl(['exec', pod, '--', 'sh', '-c', cmd], { timeoutMs: 60_000 });
    return { code: r.code ?? -1, out: r.stdout + r.stderr };
  };
  const url = (ip = l2): string => `http://${ip}:8080/cgi-bin/ip`;
  /** one fetch from host B's namespace (the other machine on the L2) */
  const fetchFromB = async (ip = l2): Promise<string | undefined> => {
    const r = await c.host('b').exec('busybox', ['timeout', '5', 'busybox', 'wget', '-qO-', url(ip)], { timeoutMs: 10_000 });
    return r.code === 0 ? plainIPv4(r.stdout) : undefined;
  };
  const running = (name: string): Promise<Pod> =>
    waitUntil(`pod ${name} running`, 240_000, async () => {
      const r = await c.server.api('GET', `/api/v1/namespaces/default/pods/${name}`);
      const pod = r.body as Pod;
      return r.status === 200 && pod.status?.phase === 'Running' && pod.status.podIP && pod.metadata?.annotations?.['k8s.v1.cni.cncf.io/network-status'] ? pod : undefined;
    }, () => c.explain());
  const mvmPod = (name: string, annotations: Record<string, string>): string =>
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: 'default', labels: { app: 'mvm-policed' }, annotations },
      spec: {
        nodeName: c.node('a').nodeName,
        runtimeClassName: 'microvm',
        terminationGracePeriodSeconds: 1,
        automountServiceAccountToken: false,
        containers: [{ name: 'main', image: IMAGE, imagePullPolicy: 'Never', command: ['sh', '-c', ECHO_IP], resources: { limits: { memory: '64Mi' } } }],
      },
    });

  it('microVM pods with the macvlan NAD as net1, and as eth0, get guest NICs with the NAD\'s MAC and address; network-status as for runc', async () => {
    await kubectl(['apply', '-f', '-'], lanNad(prefix));
    // both VMs boot side by side
    await kubectl(['apply', '-f', '-'], mvmPod(POD, { 'k8s.v1.cni.cncf.io/networks': 'lan' }));
    await kubectl(['apply', '-f', '-'], mvmPod(POD0, { 'v1.multus-cni.io/default-network': 'lan' }));
    const [p, p0] = await Promise.all([running(POD), running(POD0)]);
    const podIP = p.status?.podIP ?? '';
    assert.match(podIP, /^10\.244\./, 'the pod IP stays the cluster network\'s');
    const st = networkStatus(p);
    assert.deepEqual(st.map((e) => [e.name, e.interface, e.default]), [['hedge', 'eth0', true], ['default/lan', 'net1', undefined]]);
    l2 = st[1]?.ips?.[0] ?? '';
    assert.ok(l2.startsWith(`${prefix}.2`), `net1 has ${l2}`);
    const mac = st[1]?.mac ?? '';
    assert.match(mac, /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    // inside the VM: the guest kernel's own NICs, named as the pod expects
    const addr = await inGuest('ip -o -4 addr show; cat /sys/class/net/net1/address');
    assert.equal(addr.code, 0, addr.out);
    assert.match(addr.out, new RegExp(`\\d+: eth0\\s+inet ${podIP.replaceAll('.', '\\.')}/`));
    assert.match(addr.out, new RegExp(`\\d+: net1\\s+inet ${l2.replaceAll('.', '\\.')}/24`));
    assert.match(addr.out, new RegExp(`^${mac}$`, 'm'), 'net1 carries the NAD interface\'s MAC');

    l2primary = p0.status?.podIP ?? '';
    assert.ok(l2primary.startsWith(`${prefix}.2`), `the NAD-primary pod's IP ${l2primary} is on the underlay`);
    assert.deepEqual(networkStatus(p0).map((e) => [e.name, e.interface, e.ips, e.default]), [['default/lan', 'eth0', [l2primary], true]]);
    const addr0 = await inGuest('ip -o -4 addr show', POD0);
    assert.match(addr0.out, new RegExp(`\\d+: eth0\\s+inet ${l2primary.replaceAll('.', '\\.')}/24`), addr0.out);
  });

  it('host B reaches both guests on their L2 addresses (no NAT), and they reach host B', async () => {
    const hostB = c.host('b').ip;
    for (const ip of [l2, l2primary]) assert.equal(await waitUntil(`host B reaches ${url(ip)}`, 90_000, () => fetchFromB(ip), () => c.explain()), hostB);
    const ping = await inGuest(`ping -c 1 -W 5 -I net1 ${hostB}`);
    assert.equal(ping.code, 0, `the guest reaches host B over net1: ${ping.out}`);
    const ping0 = await inGuest(`ping -c 1 -W 5 ${hostB}`, POD0);
    assert.equal(ping0.code, 0, `the NAD-primary guest reaches host B: ${ping0.out}`);
  });

  it('NetworkPolicy holds on the guests\' NAD interfaces (net1, a NAD eth0) as written, and a guest cannot claim another address with ARP', async () => {
    const hostB = c.host('b').ip;
    const allowFrom = (cidr: string): string => allowIngressFrom('mvm-policed-in', 'mvm-policed', cidr);
    const reachesBe = (what: string, want: boolean): Promise<unknown> =>
      Promise.all([l2, l2primary].map((ip) => waitUntil(`${what} (${ip})`, 45_000, async () => (((await fetchFromB(ip)) !== undefined) === want ? true : undefined), () => c.explain())));
    await kubectl(['apply', '-f', '-'], allowFrom(`${hostB}/32`));
    await reachesBe('host B admitted by its address', true);
    await kubectl(['apply', '-f', '-'], allowFrom('192.0.2.0/24'));
    await reachesBe('host B denied on the guests\' NAD interfaces', false);
    await kubectl(['apply', '-f', '-'], allowFrom(`${hostB}/32`));
    await reachesBe('host B admitted again', true);
    await kubectl(['delete', 'networkpolicy', 'mvm-policed-in']);

    const learnt = async (addr: string): Promise<boolean> => /lladdr/.test((await c.host('b').exec('ip', ['neigh', 'show', addr])).stdout);
    const spoofed = `${prefix}.250`;
    await c.host('b').exec('ip', ['neigh', 'flush', 'dev', 'eth0']);
    await inGuest(`arping -c 2 -w 3 -I net1 -s ${l2} ${hostB}`);
    assert.ok(await learnt(l2), `host B learns the guest's own address from its ARP (the probe works)\n${c.explain()}`);
    await inGuest(`arping -c 2 -w 3 -I net1 -s ${spoofed} ${hostB}`);
    assert.equal(await learnt(spoofed), false, 'an ARP with a spoofed sender from the guest is dropped in the pod\'s namespace');
  });

  it('deleting the pods leaves no macvlan link, namespace, cached attachment or lease on host A', async () => {
    await kubectl(['delete', 'pod', POD, POD0, '--wait=true', '--timeout=90s']);
    const node = c.node('a');
    await waitUntil('no pod netns or macvlan on host A', 30_000, async () => {
      const r = await c.host('a').exec('ip', ['-j', '-d', 'link', 'show']);
      const links = JSON.parse(r.stdout) as { linkinfo?: { info_kind?: string } }[];
      // the networks the node keeps made for its next pods stay
      const pooled = new Set((await pooledNetworks(node.dataDir)).map((p) => p.id));
      const netns = (await readdir(node.netnsDir).catch(() => [] as string[])).filter((n) => !pooled.has(n));
      return links.some((l) => l.linkinfo?.info_kind === 'macvlan') || netns.length > 0 ? undefined : true;
    }, () => c.explain());
    assert.deepEqual(await readdir(join(node.dataDir, 'cni', 'multus', 'results')).catch(() => []), []);
    const leases = await readdir(join(node.dataDir, 'cni', 'ipam', 'lan')).catch(() => []);
    assert.deepEqual(leases.filter((f) => /^\d/.test(f)), [], 'host-local released the L2 addresses');
  });
});
