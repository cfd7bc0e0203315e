/**
 * Issue 12's cluster DNS end to end: a real `hedge server` + `hedge node`, pods under runc and
 * gVisor resolving Services through the node's DNS responder with busybox's nslookup and wget,
 * an outside name forwarded to a resolver this test runs on a loopback address (named by the
 * node's --resolv-conf), and the node still answering once the apiserver is stopped.
 *
 * Services carry an explicit spec.clusterIP and no selector, with EndpointSlices written by hand
 * (the documented way to give a selector-less Service its endpoints), so this test does not
 * depend on the ClusterIP allocator or the EndpointSlice controller.
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { RCode, encodeResponse, parseQuery } from '../../src/agent/network/dns/wire.ts';
import { startEdgeStack, type EdgeStack } from './edge-stack.ts';
import { findKubectl, run } from './harness.ts';
import { edgeNodeSkipReason } from './node-harness.ts';
import { waitUntil } from './pod-checks.ts';

const NEEDED = ['/usr/sbin/runc', '/usr/bin/conmon', '/usr/bin/docker-registry', '/usr/lib/cni/bridge', '/usr/lib/cni/host-local', '/bin/busybox', '/usr/bin/nsenter'];
const skip = edgeNodeSkipReason(NEEDED) ?? (findKubectl() ? undefined : 'no kubectl (run scripts/setup.sh)');
const GVISOR = existsSync('/usr/bin/runsc');

const EXTERNAL_NAME = 'ext.dns-e2e.test';
const EXTERNAL_ADDR = '192.0.2.44';
const CLUSTER_IP = '10.96.77.10';
const HOSTNET_NS = 'hostnet';

/** The "host's resolver": UDP port 53 on a random 127/8 address; knows one name, NXDOMAIN for the rest. */
async function startUpstream(): Promise<{ address: string; seen: string[]; close(): Promise<void> }> {
  const r = (): number => 1 + Math.floor(Math.random() * 250);
  const address = `127.${r()}.${r()}.${r()}`;
  const sock: Socket = createSocket('udp4');
  const seen: string[] = [];
  sock.on('message', (msg, from) => {
    const q = parseQuery(msg);
    seen.push(q.question.name);
    const known = q.question.name === EXTERNAL_NAME;
    const answers = known && q.question.type === 1 ? [{ name: EXTERNAL_NAME, ttl: 30, type: 'A' as const, address: EXTERNAL_ADDR }] : [];
    sock.send(encodeResponse({ id: q.id, rd: q.rd, opcode: 0, aa: true, rcode: known ? RCode.NoError : RCode.NXDomain, question: q.question, answers, authority: [], additional: [] }), from.port, from.address);
  });
  await new Promise<void>((resolve) => sock.bind(53, address, resolve));
  return { address, seen, close: () => new Promise((resolve) => sock.close(() => resolve())) };
}

describe('cluster DNS on the node', { skip, timeout: 300_000 }, () => {
  let stack: EdgeStack | undefined;
  let upstream: Awaited<ReturnType<typeof startUpstream>> | undefined;
  let dir = '';
  let webIP = '';

  const s = (): EdgeStack => {
    if (!stack) throw new Error('no stack');
    return stack;
  };
  const kubectl = async (args: string[], input?: string): Promise<string> => {
    const r = await s().server.kubectl(args, { input });
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}\n${r.stdout}`);
    return r.stdout;
  };
  const exec = (pod: string, cmd: string): Promise<string> => kubectl(['exec', pod, '--', 'sh', '-c', cmd]);
  const getPod = async (name: string, ns = 'default'): Promise<Pod | undefined> => {
    const r = await s().server.api('GET', `/api/v1/namespaces/${ns}/pods/${name}`);
    return r.status === 200 ? (r.body as Pod) : undefined;
  };
  const waitRunning = (name: string, ns = 'default'): Promise<Pod> =>
    waitUntil(`${name} Running and ready`, 90_000, async () => {
      const p = await getPod(name, ns);
      return p?.status?.phase === 'Running' && p.status.podIP && p.status.containerStatuses?.every((c) => c.ready) ? p : undefined;
    }, () => s().explain());
  /** the node's DNS address: the pod bridge's gateway, as the Node's label says */
  let dnsIP = '';

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hedge-dns-e2e-'));
    upstream = await startUpstream();
    const resolvConf = join(dir, 'resolv.conf');
    await writeFile(resolvConf, `# the test's stand-in for the host resolver\nnameserver ${upstream.address}\nsearch dns-e2e.test\n`);
    stack = await startEdgeStack({ nodes: [{ name: `dns-${process.pid}`, runtimes: GVISOR ? ['runc', 'gvisor'] : ['runc'], extraArgs: ['--resolv-conf', resolvConf] }] });
    const httpd = stack.httpdImage;
    const busybox = stack.busyboxImage;
    const pod = (name: string, runtimeClassName: string, container: Record<string, unknown>): string =>
      JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { runtimeClassName, terminationGracePeriodSeconds: 1, containers: [{ name: 'c', ...container }] } });
    await kubectl(['apply', '-f', '-'], pod('web', 'runc', { image: httpd, command: ['httpd', '-f', '-p', '8080', '-h', '/www'], readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 } }));
    await kubectl(['apply', '-f', '-'], pod('client', 'runc', { image: busybox, command: ['sleep', '3600'] }));
    if (GVISOR) await kubectl(['apply', '-f', '-'], pod('client-gvisor', 'gvisor', { image: busybox, command: ['sleep', '3600'] }));
    // on the host network: ClusterFirstWithHostNet gets the cluster DNS, ClusterFirst the host's resolvers
    // (in a namespace whose Pod Security level allows host namespaces)
    await kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: HOSTNET_NS, labels: { 'pod-security.kubernetes.io/enforce': 'privileged' } } }));
    for (const [name, dnsPolicy] of [['hostnet-cluster', 'ClusterFirstWithHostNet'], ['hostnet-default', 'ClusterFirst']]) {
      const spec = { runtimeClassName: 'runc', hostNetwork: true, dnsPolicy, terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: busybox, command: ['sleep', '3600'] }] };
      await kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: HOSTNET_NS }, spec }));
    }
    webIP = (await waitRunning('web')).status?.podIP ?? '';
    await waitRunning('client');
    if (GVISOR) await waitRunning('client-gvisor');
    await waitRunning('hostnet-cluster', HOSTNET_NS);
    await waitRunning('hostnet-default', HOSTNET_NS);

    const svc = (name: string, spec: Record<string, unknown>): Record<string, unknown> => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' }, spec });
    const slice = (svcName: string, port: number): Record<string, unknown> => ({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: `${svcName}-manual`, namespace: 'default', labels: { 'kubernetes.io/service-name': svcName, 'endpointslice.kubernetes.io/managed-by': 'cluster-dns-e2e' } },
      addressType: 'IPv4',
      endpoints: [{ addresses: [webIP], hostname: 'web-0', conditions: { ready: true } }],
      ports: [{ name: 'http', port, protocol: 'TCP' }],
    });
    const list = {
      apiVersion: 'v1',
      kind: 'List',
      items: [
        svc('web', { clusterIP: CLUSTER_IP, clusterIPs: [CLUSTER_IP], ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] }),
        slice('web', 8080),
        svc('web-hl', { clusterIP: 'None', ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] }),
        slice('web-hl', 8080),
      ],
    };
    await kubectl(['apply', '-f', '-'], JSON.stringify(list));
    const nodeObj = await s().server.api('GET', `/api/v1/nodes/${s().node.nodeName}`);
    dnsIP = (nodeObj.body as { metadata?: { labels?: Record<string, string> } }).metadata?.labels?.['dns.hedge.io/cluster-dns'] ?? '';
  });

  after(async () => {
    await stack?.close();
    await upstream?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** nslookup in the pod until it names `expect` (the Service may reach the node a moment after it is written) */
  const lookup = (pod: string, args: string, expect: RegExp): Promise<string> => {
    let last = '';
    return waitUntil(`${pod}: nslookup ${args} → ${String(expect)}`, 30_000, async () => {
      const r = await s().server.kubectl(['exec', pod, '--', 'busybox', 'nslookup', ...args.split(' ')]);
      last = `${r.stdout}${r.stderr}`;
      return expect.test(last) ? last : undefined;
    }, () => `last output:\n${last}\n${s().explain()}`);
  };

  it('the Node names its DNS address, the pod bridge gateway; pods get it with the cluster search path', async () => {
    const gw = s().node.podSubnet.replace(/\.0\/24$/, '.1');
    assert.equal(dnsIP, gw);
    const conf = await exec('client', 'cat /etc/resolv.conf');
    assert.match(conf, new RegExp(`^nameserver ${gw.replace(/\./g, '\\.')}$`, 'm'));
    assert.match(conf, /^search default\.svc\.cluster\.local svc\.cluster\.local cluster\.local dns-e2e\.test$/m);
    assert.match(conf, /^options ndots:5$/m);
  });

  it('a pod resolves name and name.ns.svc.cluster.local; the search path covers name.ns', async () => {
    const ip = new RegExp(`Address: ${CLUSTER_IP.replace(/\./g, '\\.')}`);
    // busybox's nslookup applies the search path to single labels only, and the image's static
    // busybox cannot use the C library's resolver (getaddrinfo crashes without the NSS libraries),
    // so `name.ns` is checked as the resolver would expand it with the search entry svc.cluster.local
    for (const name of ['web', 'web.default.svc.cluster.local']) await lookup('client', name, ip);
    const conf = await exec('client', 'cat /etc/resolv.conf');
    assert.match(conf, /^search .*\bsvc\.cluster\.local\b/m);
  });

  it('SRV for the named port; a headless Service answers its endpoint, by its hostname too', async () => {
    await lookup('client', '-type=srv _http._tcp.web.default.svc.cluster.local', /service = 0 100 80 web\.default\.svc\.cluster\.local/);
    await lookup('client', '-type=srv _http._tcp.web-hl.default.svc.cluster.local', /service = 0 100 8080 web-0\.web-hl\.default\.svc\.cluster\.local/);
    await lookup('client', 'web-hl', new RegExp(`Address: ${webIP.replace(/\./g, '\\.')}`));
    await lookup('client', 'web-0.web-hl.default.svc.cluster.local', new RegExp(`Address: ${webIP.replace(/\./g, '\\.')}`));
  });

  it('an unknown cluster name is NXDOMAIN', async () => {
    const r = await s().server.kubectl(['exec', 'client', '--', 'busybox', 'nslookup', 'nope.default.svc.cluster.local']);
    assert.match(`${r.stdout}${r.stderr}`, /NXDOMAIN/);
  });

  it('a name outside the cluster goes to the host resolver', async () => {
    await lookup('client', EXTERNAL_NAME, new RegExp(`Address: ${EXTERNAL_ADDR.replace(/\./g, '\\.')}`));
    assert.ok(upstream?.seen.includes(EXTERNAL_NAME), `upstream saw ${upstream?.seen.join(', ')}`);
  });

  it('a gVisor pod resolves the same names', { skip: GVISOR ? undefined : 'no runsc' }, async () => {
    await lookup('client-gvisor', 'web', new RegExp(`Address: ${CLUSTER_IP.replace(/\./g, '\\.')}`));
    await lookup('client-gvisor', EXTERNAL_NAME, new RegExp(`Address: ${EXTERNAL_ADDR.replace(/\./g, '\\.')}`));
  });

  it('hostNetwork: ClusterFirstWithHostNet resolves Services through the node DNS from the host netns; ClusterFirst gets the host\'s resolvers', async () => {
    const hostExec = (pod: string, cmd: string[]): Promise<string> => kubectl(['exec', '-n', HOSTNET_NS, pod, '--', ...cmd]);
    const cluster = await hostExec('hostnet-cluster', ['cat', '/etc/resolv.conf']);
    assert.equal(cluster, `search ${HOSTNET_NS}.svc.cluster.local svc.cluster.local cluster.local dns-e2e.test\nnameserver ${dnsIP}\noptions ndots:5\n`);
    // the responder listens on the bridge gateway, an address of the host: the host's netns reaches it
    const ask = async (pod: string, name: string, expect: RegExp): Promise<void> => {
      let last = '';
      await waitUntil(`${pod}: nslookup ${name} → ${String(expect)}`, 30_000, async () => {
        const r = await s().server.kubectl(['exec', '-n', HOSTNET_NS, pod, '--', 'busybox', 'nslookup', name]);
        last = `${r.stdout}${r.stderr}`;
        return expect.test(last) ? last : undefined;
      }, () => `last output:\n${last}\n${s().explain()}`);
    };
    await ask('hostnet-cluster', 'web.default.svc.cluster.local', new RegExp(`Address: ${CLUSTER_IP.replace(/\./g, '\\.')}`));
    await ask('hostnet-cluster', EXTERNAL_NAME, new RegExp(`Address: ${EXTERNAL_ADDR.replace(/\./g, '\\.')}`));
    // the host's resolv.conf as it is: its loopback resolver answers a pod that shares the host's netns
    // and the host's name and hosts file, as under containerd (the host's UTS namespace) and the kubelet
    assert.equal((await hostExec('hostnet-cluster', ['hostname'])).trim(), hostname());
    const hosts = await hostExec('hostnet-cluster', ['cat', '/etc/hosts']);
    assert.equal(hosts, `# Kubernetes-managed hosts file (host network).\n${await readFile('/etc/hosts', 'utf8')}`);
    const host = await hostExec('hostnet-default', ['cat', '/etc/resolv.conf']);
    assert.equal(host, `search dns-e2e.test\nnameserver ${upstream?.address ?? ''}\n`);
    await ask('hostnet-default', EXTERNAL_NAME, new RegExp(`Address: ${EXTERNAL_ADDR.replace(/\./g, '\\.')}`));
    const r = await s().server.kubectl(['exec', '-n', HOSTNET_NS, 'hostnet-default', '--', 'busybox', 'nslookup', 'web.default.svc.cluster.local']);
    assert.doesNotMatch(`${r.stdout}${r.stderr}`, new RegExp(CLUSTER_IP.replace(/\./g, '\\.')));
  });

  it('with the apiserver stopped, the node keeps answering from what it saw', async () => {
    const node = s().node;
    // the client pod's namespace, found by its address: kubectl exec needs the apiserver, nsenter does not
    const client = await getPod('client');
    const clientIP = client?.status?.podIP ?? '';
    let netns = '';
    for (const n of await readdir(node.netnsDir)) {
      const addrs = await run('nsenter', [`--net=${join(node.netnsDir, n)}`, 'ip', '-o', '-4', 'addr']);
      if (addrs.stdout.includes(` ${clientIP}/`)) netns = join(node.netnsDir, n);
    }
    assert.ok(netns, `no netns holds ${clientIP}`);
    await s().server.stop();
    const ask = (name: string): Promise<string> => run('nsenter', [`--net=${netns}`, '/bin/busybox', 'nslookup', name, dnsIP]).then((r) => `${r.stdout}${r.stderr}`);
    assert.match(await ask('web.default.svc.cluster.local'), new RegExp(`Address: ${CLUSTER_IP.replace(/\./g, '\\.')}`));
    assert.match(await ask('web-hl.default.svc.cluster.local'), new RegExp(`Address: ${webIP.replace(/\./g, '\\.')}`));
    assert.match(await ask(EXTERNAL_NAME), new RegExp(`Address: ${EXTERNAL_ADDR.replace(/\./g, '\\.')}`));
  });
});
