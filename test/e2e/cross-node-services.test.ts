/**
 * Issue 12, Services and cluster DNS across nodes: two hosts (network namespaces on one underlay,
 * two-hosts.ts), a `hedge node` in each with its default nftables proxy table (each node is in its
 * own netns, so the default name cannot collide). A Deployment on B behind a NodePort Service is
 * reached from a pod on A by ClusterIP and by the names `web`, `web.default` and
 * `web.default.svc.cluster.local` (nslookup, and wget through the pod's resolv.conf); the
 * NodePort answers from the root namespace ("outside") on A's underlay address for endpoints
 * on B; with A's cloud link cut, A's
 * DNS and a Service with endpoints on A keep answering; stopping the nodes removes their tables.
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Node, Pod, Service } from 'kubernetes-types/core/v1.js';
import { findKubectl, run } from './harness.ts';
import { edgeNodeSkipReason, type HedgeNode } from './node-harness.ts';
import { fetchText, waitUntil } from './pod-checks.ts';
import { assertHostsGone, IMAGE, startHostCluster, type Host, type HostCluster } from './two-hosts.ts';

const NEEDED = ['/usr/sbin/runc', '/usr/bin/conmon', '/usr/sbin/nft', '/usr/lib/cni/bridge', '/usr/lib/cni/host-local', '/bin/busybox', '/usr/bin/nsenter'];
const skip = edgeNodeSkipReason(NEEDED) ?? (findKubectl() ? undefined : 'no kubectl (run scripts/setup.sh)');

/** the node's default proxy table (src/cli/node.ts --service-proxy-table) */
const PROXY_TABLE = 'hedge-proxy';

const deployment = (name: string, nodeName: string, replicas: number): string =>
  JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'default' },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          nodeName,
          runtimeClassName: 'runc',
          terminationGracePeriodSeconds: 1,
          automountServiceAccountToken: false,
          containers: [
            {
              name: 'web',
              image: IMAGE,
              imagePullPolicy: 'Never',
              // each pod answers with its own name
              command: ['sh', '-c', 'mkdir -p /tmp/w && hostname > /tmp/w/index.html && exec httpd -f -p 8080 -h /tmp/w'],
              ports: [{ name: 'http', containerPort: 8080 }],
              readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 },
            },
          ],
        },
      },
    },
  });

const service = (name: string, type: 'ClusterIP' | 'NodePort'): string =>
  JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' }, spec: { type, selector: { app: name }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] } });

const esc = (s: string): string => s.replace(/\./g, '\\.');

describe('Services and cluster DNS across two hosts', { skip, timeout: 600_000 }, () => {
  let c: HostCluster;
  let names: { netns: string[]; rootLinks: string[] };
  let webIP = '';
  let webNodePort = 0;
  let localIP = '';
  let podsB: string[] = [];
  let podsA: string[] = [];

  const kubectl = async (args: string[], input?: string): Promise<string> => {
    const r = await c.server.kubectl(args, { input, timeoutMs: 60_000 });
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}\n${c.explain()}`);
    return r.stdout;
  };
  const running = (name: string): Promise<Pod> =>
    waitUntil(`pod ${name} running`, 120_000, async () => {
      const r = await c.server.api('GET', `/api/v1/namespaces/default/pods/${name}`);
      const p = r.body as Pod;
      return r.status === 200 && p.status?.phase === 'Running' && p.status.podIP && p.status.containerStatuses?.[0]?.ready ? p : undefined;
    }, () => c.explain());
  const readyPods = (app: string, n: number): Promise<string[]> =>
    waitUntil(`${n} ready ${app} pods`, 120_000, async () => {
      const r = await c.server.api('GET', `/api/v1/namespaces/default/pods?labelSelector=app%3D${app}`);
      const items = ((r.body as { items?: Pod[] }).items ?? []).filter((p) => p.status?.phase === 'Running' && p.status.containerStatuses?.every((s) => s.ready));
      return items.length === n ? items.map((p) => p.metadata?.name ?? '').sort() : undefined;
    }, () => c.explain());
  /** busybox in the pod, through kubectl exec (wget -T crashes Debian's busybox: the exec timeout bounds it) */
  const inPod = async (pod: string, args: string[]): Promise<{ code: number; out: string }> => {
    const r = await c.server.kubectl(['exec', pod, '--', ...args], { timeoutMs: 20_000 });
    return { code: r.code ?? -1, out: `${r.stdout}${r.stderr}` };
  };
  /** retried until `expect` matches (a Service reaches the nodes a moment after it is written) */
  const podSays = (pod: string, args: string[], expect: RegExp): Promise<string> => {
    let last = '';
    return waitUntil(`${pod}: ${args.join(' ')} → ${String(expect)}`, 60_000, async () => {
      const r = await inPod(pod, args);
      last = r.out;
      // busybox nslookup exits 1 when any search expansion is NXDOMAIN: the output decides
      return expect.test(r.out) ? r.out : undefined;
    }, () => `last output:\n${last}\n${c.explain()}`);
  };
  /** the pod's network namespace on its node, found by its address (needs no apiserver) */
  const podNetns = async (node: HedgeNode, ip: string): Promise<string> => {
    for (const n of await readdir(node.netnsDir)) {
      const addrs = await run('nsenter', [`--net=${join(node.netnsDir, n)}`, 'ip', '-o', '-4', 'addr']);
      if (addrs.stdout.includes(` ${ip}/`)) return join(node.netnsDir, n);
    }
    throw new Error(`no netns on ${node.nodeName} holds ${ip}`);
  };
  const nftTables = async (h: Host): Promise<string> => (await h.exec('nft', ['list', 'tables'])).stdout;

  before(async () => {
    c = await startHostCluster({ hosts: ['a', 'b'], runtimes: ['runc'] });
    names = c.underlay.names();
  });
  after(async () => {
    await c?.close();
  });

  it('a Deployment on B behind a NodePort Service; a pod on A reaches it by ClusterIP', async () => {
    const [nodeA, nodeB] = [c.node('a').nodeName, c.node('b').nodeName];
    await kubectl(['apply', '-f', '-'], deployment('web', nodeB, 2));
    const svc = JSON.parse(await kubectl(['apply', '-o', 'json', '-f', '-'], service('web', 'NodePort'))) as Service;
    webIP = svc.spec?.clusterIP ?? '';
    webNodePort = svc.spec?.ports?.[0]?.nodePort ?? 0;
    assert.match(webIP, /^10\.(9[6-9]|10\d|11[01])\.\d+\.\d+$/, "in the default 10.96.0.0/12 range");
    assert.ok(webNodePort >= 30000 && webNodePort <= 32767, `nodePort ${webNodePort}`);
    await kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'client-a', namespace: 'default' }, spec: { nodeName: nodeA, runtimeClassName: 'runc', terminationGracePeriodSeconds: 1, automountServiceAccountToken: false, containers: [{ name: 'main', image: IMAGE, imagePullPolicy: 'Never', command: ['sleep', '3600'] }] } }));
    podsB = await readyPods('web', 2);
    await running('client-a');

    // each node programs the proxy in its own namespace, under the default table name
    for (const h of [c.host('a'), c.host('b')]) {
      await waitUntil(`${PROXY_TABLE} holds ${webIP} on ${h.name}`, 60_000, async () => {
        const r = await h.exec('nft', ['list', 'table', 'ip', PROXY_TABLE]);
        return r.code === 0 && new RegExp(`${esc(webIP)} \\. tcp \\. 80`).test(r.stdout) ? true : undefined;
      }, () => c.explain());
    }
    // both endpoints on B answer through A's proxy and the overlay
    const seen = new Set<string>();
    await waitUntil('both pods on B answer the ClusterIP from A', 90_000, async () => {
      const r = await inPod('client-a', ['wget', '-qO-', `http://${webIP}/`]);
      if (r.code === 0) seen.add(r.out.trim());
      return podsB.every((p) => seen.has(p)) ? true : undefined;
    }, () => `seen: ${[...seen].join(', ')}\n${c.explain()}`);
    assert.deepEqual([...seen].sort(), podsB);
  });

  it('a pod on A resolves name, name.ns and name.ns.svc.cluster.local (nslookup and wget by name)', async () => {
    const addr = new RegExp(`Address:\\s+${esc(webIP)}`);
    // `web`: busybox nslookup applies the resolv.conf search path to single labels
    await podSays('client-a', ['busybox', 'nslookup', 'web'], new RegExp(`Name:\\s+web\\.default\\.svc\\.cluster\\.local\\s+Address:\\s+${esc(webIP)}`));
    await podSays('client-a', ['busybox', 'nslookup', 'web.default.svc.cluster.local'], addr);
    // `web.default`: busybox nslookup does not apply the search path to dotted names, so the
    // search list is asserted here and the name itself is resolved by wget below (its resolver
    // applies the search path: ndots:5 tries web.default.default.svc…, then web.default.svc…)
    const conf = (await kubectl(['exec', 'client-a', '--', 'cat', '/etc/resolv.conf'])).trim();
    assert.match(conf, /^search default\.svc\.cluster\.local svc\.cluster\.local cluster\.local\b/m);
    assert.match(conf, /^options ndots:5$/m);
    const nodeA = (await c.server.api('GET', `/api/v1/nodes/${c.node('a').nodeName}`)).body as Node;
    const dnsA = nodeA.metadata?.labels?.['dns.hedge.io/cluster-dns'] ?? '';
    assert.match(conf, new RegExp(`^nameserver ${esc(dnsA)}$`, 'm'), 'the pod asks its own node');
    await podSays('client-a', ['busybox', 'nslookup', 'web.default.svc.cluster.local', dnsA], addr);
    // and over HTTP through the resolver wget uses: the FQDN, `name.ns` and `name` (search path)
    for (const host of ['web.default.svc.cluster.local', 'web.default', 'web']) {
      const byName = await inPod('client-a', ['wget', '-qO-', `http://${host}/`]);
      assert.equal(byName.code, 0, `wget http://${host}/: ${byName.out}`);
      assert.ok(podsB.includes(byName.out.trim()), `${host}: ${byName.out}`);
    }
  });

  it('the NodePort answers from outside on A\'s underlay address, for endpoints on B', async () => {
    const hostA = c.host('a');
    const seen = await waitUntil(`root netns → ${hostA.ip}:${webNodePort}`, 60_000, async () => {
      const body = await fetchText(hostA.ip, { port: webNodePort, timeoutMs: 5_000 }).catch(() => '');
      return body.trim() ? body.trim() : undefined;
    }, () => c.explain());
    assert.ok(podsB.includes(seen), `answered by ${seen}`);
    // and on B's address too
    assert.ok(podsB.includes((await fetchText(c.host('b').ip, { port: webNodePort, timeoutMs: 5_000 })).trim()));
  });

  it('with A cut off from the cloud, A\'s DNS and a Service with endpoints on A keep answering', async () => {
    const nodeA = c.node('a').nodeName;
    await kubectl(['apply', '-f', '-'], deployment('local', nodeA, 1));
    const svc = JSON.parse(await kubectl(['apply', '-o', 'json', '-f', '-'], service('local', 'ClusterIP'))) as Service;
    localIP = svc.spec?.clusterIP ?? '';
    podsA = await readyPods('local', 1);
    await podSays('client-a', ['wget', '-qO-', `http://${localIP}/`], new RegExp(`^${podsA[0]}$`, 'm'));
    await podSays('client-a', ['busybox', 'nslookup', 'local.default.svc.cluster.local'], new RegExp(`Address:\\s+${esc(localIP)}`));

    const client = ((await c.server.api('GET', '/api/v1/namespaces/default/pods/client-a')).body as Pod).status?.podIP ?? '';
    const netns = await podNetns(c.node('a'), client);
    const nodeObj = (await c.server.api('GET', `/api/v1/nodes/${nodeA}`)).body as Node;
    const dnsA = nodeObj.metadata?.labels?.['dns.hedge.io/cluster-dns'] ?? '';
    const inNs = (args: string[]): Promise<string> => run('nsenter', [`--net=${netns}`, '/bin/busybox', ...args], { timeoutMs: 20_000 }).then((r) => `${r.stdout}${r.stderr}`);
    const hostA = c.host('a');
    await c.underlay.cutCloud(hostA);
    try {
      // the cut is real: A cannot reach the server
      assert.notEqual((await hostA.exec('/bin/busybox', ['ping', '-c', '1', '-W', '2', c.underlay.rootIP], { timeoutMs: 10_000 })).code, 0);
      for (let i = 0; i < 3; i++) {
        assert.match(await inNs(['busybox', 'nslookup', 'local.default.svc.cluster.local', dnsA]), new RegExp(`Address:\\s+${esc(localIP)}`));
        assert.match(await inNs(['busybox', 'nslookup', 'web.default.svc.cluster.local', dnsA]), new RegExp(`Address:\\s+${esc(webIP)}`));
        assert.equal((await inNs(['wget', '-qO-', `http://${localIP}/`])).trim(), podsA[0]);
      }
      // the hosts still reach each other: B's endpoints still answer through A's proxy
      assert.ok(podsB.includes((await inNs(['wget', '-qO-', `http://${webIP}/`])).trim()));
    } finally {
      await c.underlay.healCloud(hostA);
    }
  });

  it('stopping the nodes removes their proxy tables; tear-down leaves no namespaces or links', async (t) => {
    for (const h of [c.host('a'), c.host('b')]) assert.match(await nftTables(h), new RegExp(`table ip ${PROXY_TABLE}\\b`));
    await kubectl(['delete', 'deployment', 'web', 'local', '--wait=true']);
    await kubectl(['delete', 'pods', '--all', '--wait=true', '--timeout=60s']);
    for (const n of c.nodes) await n.stop();
    for (const n of c.nodes) assert.deepEqual((await n.hostState()).bridgePorts, [], `${n.nodeName}: pod veths left on its bridge`);
    for (const h of [c.host('a'), c.host('b')]) assert.doesNotMatch(await nftTables(h), new RegExp(`table ip ${PROXY_TABLE}\\b`), `${PROXY_TABLE} left in ${h.netns}`);
    for (const h of [c.host('a'), c.host('b')]) {
      // what a stopped node leaves in its host until the namespace goes (the overlay stays by design for a restart)
      const links = (await h.exec('ip', ['-o', 'link'])).stdout.split('\n').map((l) => l.split(':')[1]?.trim()).filter(Boolean);
      t.diagnostic(`${h.name} after stop: links ${links.join(' ')}; nft tables: ${(await nftTables(h)).trim().replace(/\n/g, ', ') || 'none'}`);
    }
    await c.close();
    await assertHostsGone(c, names);
  });
});
