/**
 * Issue 12, "each mode reaches microVM guests too": the network-attachments e2e for a microVM pod.
 * Two hosts on one L2 underlay (two-hosts.ts), a `hedge node` in each; a macvlan
 * NetworkAttachmentDefinition on the hosts' underlay interface. One microVM pod (qemu, TCG here)
 * with the NAD as an extra interface (`k8s.v1.cni.cncf.io/networks`) serves every check, since a
 * TCG boot is slow:
 * - the guest has a second NIC named net1 with the NAD's MAC and underlay address, beside its
 *   cluster eth0, and network-status says so as for runc;
 * - host B reaches the guest at that address directly on the L2 (no NAT), the guest reaches host B;
 * - NetworkPolicy holds on net1 as written (admitted, denied, admitted again) although the guest's
 *   traffic never enters the pod netns's stack (the runtime bridges net1 to the guest's tap);
 * - the guest's root cannot claim another L2 address with ARP;
 * - deleting the pod leaves no macvlan link, netns, cached attachment or address lease on host A.
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { findKubectl } from './harness.ts';
import { edgeNodeSkipReason, microvmSkipReason } from './node-harness.ts';
import { waitUntil } from './pod-checks.ts';
import { ECHO_IP, IMAGE, plainIPv4, startHostCluster, type HostCluster } from './two-hosts.ts';

const NEEDED = ['/usr/bin/conmon', '/usr/sbin/nft', '/usr/lib/cni/bridge', '/usr/lib/cni/host-local', '/usr/lib/cni/macvlan', '/bin/busybox', '/usr/bin/nsenter'];
const skip = edgeNodeSkipReason(NEEDED) ?? (findKubectl() ? undefined : 'no kubectl (run scripts/setup.sh)') ?? microvmSkipReason();

interface StatusEntry {
  name: string;
  interface?: string;
  ips?: string[];
  mac?: string;
  default?: boolean;
}

describe('microVM network attachments: a macvlan NIC in the guest on the hosts\' L2, policed', { skip, timeout: 600_000 }, () => {
  let c: HostCluster;
  let prefix: string;
  let l2 = '';
  const POD = 'mvm-lan';

  before(async () => {
    // the guest build is cached beside microvm.test.ts's; TCG without the KVM probe (it cannot work here, and costs a boot)
    c = await startHostCluster({ hosts: ['a', 'b'], runtimes: ['runc', 'microvm'], nodeArgs: ['--guest-dir', join(tmpdir(), 'hedge-guest-cache'), '--microvm-accelerator', 'tcg'] });
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
  const inGuest = async (cmd: string): Promise<{ code: number; out: string }> => {
    const r = await c.server.kubectl(['exec', POD, '--', 'sh', '-c', cmd], { timeoutMs: 60_000 });
    return { code: r.code ?? -1, out: r.stdout + r.stderr };
  };
  const networkStatus = (p: Pod): StatusEntry[] => JSON.parse(p.metadata?.annotations?.['k8s.v1.cni.cncf.io/network-status'] ?? '[]') as StatusEntry[];
  const url = (): string => `http://${l2}:8080/cgi-bin/ip`;
  /** one fetch from host B's namespace (the other machine on the L2) */
  const fetchFromB = async (): Promise<string | undefined> => {
    const r = await c.host('b').exec('busybox', ['timeout', '5', 'busybox', 'wget', '-qO-', url()], { timeoutMs: 10_000 });
    return r.code === 0 ? plainIPv4(r.stdout) : undefined;
  };

  it('a microVM pod with the macvlan NAD as net1 gets a guest NIC with the NAD\'s MAC and address; network-status as for runc', async () => {
    const config = JSON.stringify({
      cniVersion: '1.0.0',
      name: 'lan',
      type: 'macvlan',
      master: 'eth0',
      mode: 'bridge',
      ipam: { type: 'host-local', ranges: [[{ subnet: `${prefix}.0/24`, rangeStart: `${prefix}.200`, rangeEnd: `${prefix}.220` }]] },
    });
    await kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'k8s.cni.cncf.io/v1', kind: 'NetworkAttachmentDefinition', metadata: { name: 'lan', namespace: 'default' }, spec: { config } }));
    await kubectl(['apply', '-f', '-'], JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: POD, namespace: 'default', labels: { app: 'mvm-policed' }, annotations: { 'k8s.v1.cni.cncf.io/networks': 'lan' } },
      spec: {
        nodeName: c.node('a').nodeName,
        runtimeClassName: 'microvm',
        terminationGracePeriodSeconds: 1,
        automountServiceAccountToken: false,
        containers: [{ name: 'main', image: IMAGE, imagePullPolicy: 'Never', command: ['sh', '-c', ECHO_IP], resources: { limits: { memory: '64Mi' } } }],
      },
    }));
    const p = await waitUntil(`pod ${POD} running`, 240_000, async () => {
      const r = await c.server.api('GET', `/api/v1/namespaces/default/pods/${POD}`);
      const pod = r.body as Pod;
      return r.status === 200 && pod.status?.phase === 'Running' && pod.status.podIP && pod.metadata?.annotations?.['k8s.v1.cni.cncf.io/network-status'] ? pod : undefined;
    }, () => c.explain());
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
  });

  it('host B reaches the guest on its L2 address (no NAT), and the guest reaches host B from it', async () => {
    const hostB = c.host('b').ip;
    assert.equal(await waitUntil(`host B reaches ${url()}`, 90_000, fetchFromB, () => c.explain()), hostB);
    const ping = await inGuest(`ping -c 1 -W 5 -I net1 ${hostB}`);
    assert.equal(ping.code, 0, `the guest reaches host B over net1: ${ping.out}`);
  });

  it('NetworkPolicy holds on the guest\'s net1 as written, and the guest cannot claim another address with ARP', async () => {
    const hostB = c.host('b').ip;
    const allowFrom = (cidr: string): string =>
      JSON.stringify({
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: { name: 'mvm-policed-in', namespace: 'default' },
        spec: { podSelector: { matchLabels: { app: 'mvm-policed' } }, policyTypes: ['Ingress'], ingress: [{ from: [{ ipBlock: { cidr } }], ports: [{ port: 8080 }] }] },
      });
    const reachesBe = (what: string, want: boolean): Promise<true> => waitUntil(what, 45_000, async () => (((await fetchFromB()) !== undefined) === want ? true : undefined), () => c.explain());
    await kubectl(['apply', '-f', '-'], allowFrom(`${hostB}/32`));
    await reachesBe('host B admitted by its address', true);
    await kubectl(['apply', '-f', '-'], allowFrom('192.0.2.0/24'));
    await reachesBe('host B denied on the guest\'s net1', false);
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

  it('deleting the pod leaves no macvlan link, namespace, cached attachment or lease on host A', async () => {
    await kubectl(['delete', 'pod', POD, '--wait=true', '--timeout=90s']);
    const node = c.node('a');
    await waitUntil('no pod netns or macvlan on host A', 30_000, async () => {
      const r = await c.host('a').exec('ip', ['-j', '-d', 'link', 'show']);
      const links = JSON.parse(r.stdout) as { linkinfo?: { info_kind?: string } }[];
      const netns = await readdir(node.netnsDir).catch(() => [] as string[]);
      return links.some((l) => l.linkinfo?.info_kind === 'macvlan') || netns.length > 0 ? undefined : true;
    }, () => c.explain());
    assert.deepEqual(await readdir(join(node.dataDir, 'cni', 'multus', 'results')).catch(() => []), []);
    const leases = await readdir(join(node.dataDir, 'cni', 'ipam', 'lan')).catch(() => []);
    assert.deepEqual(leases.filter((f) => /^\d/.test(f)), [], 'host-local released the L2 address');
  });
});
