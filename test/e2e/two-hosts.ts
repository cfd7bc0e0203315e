/**
 * The shared two-host harness (issue 12): N network namespaces standing in for N hosts on one
 * L2 "underlay", a `hedge node` in each, one `hedge server` both reach. Cross-node networking
 * e2e (overlay, Services, DNS, NetworkPolicy) builds on it.
 *
 *   root netns ── hr<rand> ═╗
 *                           ║  switch netns hs-<rand>: bridge br0
 *   host netns ha-<rand> ── eth0 ═╣   (one veth per host into the bridge)
 *   host netns hb-<rand> ── eth0 ═╝
 *
 * Underlay addresses: a random /24 in 10.232.0.0/13 (away from the node harness' 10.200/13, the
 * edgehub test's 10.216/13 and the cluster CIDR 10.244/16): root `.1` (the server listens
 * there; the test process drives it), hosts `.10`, `.11`, …. Pods get the server's
 * `--cluster-cidr` (default 10.244.0.0/16) ranges, which only exist inside the host namespaces.
 * No registry crosses into the hosts: the busybox image is imported into each node through its
 * control socket (`IMAGE`, use `imagePullPolicy: Never`).
 *
 * `cutCloud(host)` drops the host's traffic to and from the server only (the cloud link is down,
 * the hosts still reach each other); `cutLink(host)` drops everything on its eth0.
 * Everything is removed by `close()`: nodes (pods deleted first), server, namespaces, links.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import type { Node, Pod } from 'kubernetes-types/core/v1.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NetworkStatusEntry } from '../../src/api/annotations/multus.ts';
import { buildTestImages } from '../fixtures/images/build.ts';
import { REPO_ROOT, run, startHedgeServer, type HedgeServer, type RunResult, type StartOptions } from './harness.ts';
import { startHedgeNode, type HedgeNode } from './node-harness.ts';
import { waitUntil } from './pod-checks.ts';

/** the image every node has (imported, not pulled): busybox with httpd, wget, nc */
export const IMAGE = 'docker.io/hedge/busybox:latest';

export interface Host {
  /** short name given by the test ("a", "b") */
  name: string;
  /** `ip netns` name */
  netns: string;
  /** /run/netns/<netns> */
  nsPath: string;
  /** the host's underlay address (its node's InternalIP) */
  ip: string;
  /** its IPv6 underlay address, with `createUnderlay({ ipv6: true })` (a /64 shared by the hosts) */
  ip6?: string;
  /** the underlay interface inside the host */
  dev: 'eth0';
  /** runs a command inside the host's namespace (nsenter --net, so cgroup mounts stay visible) */
  exec(cmd: string, args: string[], opts?: { timeoutMs?: number }): Promise<RunResult>;
}

export interface Underlay {
  /** the root namespace's underlay address */
  rootIP: string;
  /** prefix length of the underlay subnet */
  prefixLength: 24;
  hosts: Host[];
  host(name: string): Host;
  addHost(name: string): Promise<Host>;
  /** the cloud link of `host` is down: its traffic to and from rootIP is dropped (nftables in the host) */
  cutCloud(host: Host): Promise<void>;
  healCloud(host: Host): Promise<void>;
  /** the host is cut off entirely: everything on its eth0 is dropped */
  cutLink(host: Host): Promise<void>;
  healLink(host: Host): Promise<void>;
  /** every namespace and link this underlay made (for leak checks after close) */
  names(): { netns: string[]; rootLinks: string[] };
  close(): Promise<void>;
}

async function sh(cmd: string, args: string[]): Promise<string> {
  const r = await run(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

export async function createUnderlay(opts: { hosts: string[]; ipv6?: boolean }): Promise<Underlay> {
  const rand = Math.floor(Math.random() * 0xffffff).toString(16).padStart(6, '0');
  // groups without leading zeros: the form the kernel and the node print an address in
  const group = (hex: string): string => parseInt(hex, 16).toString(16);
  const prefix6 = `fd00:ee:${group(rand.slice(0, 4))}:${group(rand.slice(4))}`;
  const prefix = `10.${232 + Math.floor(Math.random() * 8)}.${Math.floor(Math.random() * 256)}`;
  const switchNs = `hs-${rand}`;
  const rootLink = `hr${rand}`;
  const rootIP = `${prefix}.1`;
  const hosts: Host[] = [];
  const netns: string[] = [switchNs];

  const nftInHost = (h: Host, rules: string): Promise<string> => sh('nsenter', [`--net=${h.nsPath}`, 'nft', rules]);

  const underlay: Underlay = {
    rootIP,
    prefixLength: 24,
    hosts,
    host(name) {
      const h = hosts.find((x) => x.name === name);
      if (!h) throw new Error(`underlay: no host ${name}`);
      return h;
    },
    async addHost(name) {
      const i = hosts.length;
      const ns = `h${name}-${rand}`;
      const nsPath = `/run/netns/${ns}`;
      const port = `hp${i}${rand}`;
      await sh('ip', ['netns', 'add', ns]);
      netns.push(ns);
      await sh('ip', ['-n', ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', port, 'netns', switchNs]);
      await sh('ip', ['-n', switchNs, 'link', 'set', port, 'master', 'br0', 'up']);
      const ip = `${prefix}.${10 + i}`;
      await sh('ip', ['-n', ns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
      const ip6 = opts.ipv6 ? `${prefix6}::${(10 + i).toString(16)}` : undefined;
      if (ip6) await sh('ip', ['-n', ns, 'addr', 'add', `${ip6}/64`, 'dev', 'eth0', 'nodad']);
      await sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
      await sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      const h: Host = {
        name,
        netns: ns,
        nsPath,
        ip,
        ...(ip6 ? { ip6 } : {}),
        dev: 'eth0',
        exec: (cmd, args, o) => run('nsenter', [`--net=${nsPath}`, cmd, ...args], { timeoutMs: o?.timeoutMs }),
      };
      hosts.push(h);
      return h;
    },
    async cutCloud(h) {
      await nftInHost(h, `add table inet hedgecutcloud { chain i { type filter hook input priority 0; ip saddr ${rootIP} drop; }; chain o { type filter hook output priority 0; ip daddr ${rootIP} drop; }; }`);
    },
    async healCloud(h) {
      await nftInHost(h, 'delete table inet hedgecutcloud');
    },
    async cutLink(h) {
      await nftInHost(h, 'add table inet hedgecutlink { chain i { type filter hook input priority 0; iifname "eth0" drop; }; chain o { type filter hook output priority 0; oifname "eth0" drop; }; chain f { type filter hook forward priority 0; oifname "eth0" drop; iifname "eth0" drop; }; }');
    },
    async healLink(h) {
      await nftInHost(h, 'delete table inet hedgecutlink');
    },
    names: () => ({ netns: [...netns], rootLinks: [rootLink] }),
    async close() {
      await run('ip', ['link', 'del', rootLink]);
      for (const ns of [...netns].reverse()) await run('ip', ['netns', 'del', ns]);
    },
  };

  try {
    await sh('ip', ['netns', 'add', switchNs]);
    await sh('ip', ['-n', switchNs, 'link', 'add', 'br0', 'type', 'bridge']);
    await sh('ip', ['-n', switchNs, 'link', 'set', 'br0', 'up']);
    await sh('ip', ['link', 'add', rootLink, 'type', 'veth', 'peer', 'name', 'uplink', 'netns', switchNs]);
    await sh('ip', ['-n', switchNs, 'link', 'set', 'uplink', 'master', 'br0', 'up']);
    await sh('ip', ['addr', 'add', `${rootIP}/24`, 'dev', rootLink]);
    await sh('ip', ['link', 'set', rootLink, 'up']);
    for (const name of opts.hosts) await underlay.addHost(name);
  } catch (err) {
    await underlay.close();
    throw err;
  }
  return underlay;
}

export interface HostClusterOptions {
  /** host names; one node per host, named `<host>-<rand>` (default ["a", "b"]) */
  hosts?: string[];
  /** more `hedge server` flags (e.g. --cluster-cidr) */
  serverArgs?: string[];
  server?: Omit<StartOptions, 'extraArgs' | 'netns'>;
  /** more `hedge node` flags for every node (e.g. --overlay host-gw) */
  nodeArgs?: string[];
  /** RuntimeClass handlers each node offers (default runc, gvisor) */
  runtimes?: string[];
  /** the hosts get IPv6 underlay addresses too (Host.ip6) */
  underlayIPv6?: boolean;
}

export interface HostCluster {
  underlay: Underlay;
  server: HedgeServer;
  /** in host order */
  nodes: HedgeNode[];
  /** the node running on host `name` */
  node(hostName: string): HedgeNode;
  host(hostName: string): Host;
  /** recent output of the server and every node */
  explain(): string;
  /** kubectl against the server; fails the test (with explain()) unless it exits 0; its stdout */
  kubectl(args: string[], input?: string): Promise<string>;
  close(): Promise<void>;
}

/**
 * `createUnderlay` plus a server in the root namespace (on rootIP) and a node per host whose
 * InternalIP is the host's address and whose pod range is the podCIDR the cluster assigns
 * (no --pod-subnet), with the test images imported. Nodes are Ready when this resolves.
 */
export async function startHostCluster(opts: HostClusterOptions = {}): Promise<HostCluster> {
  const rand = Math.floor(Math.random() * 0xffffff).toString(16).padStart(6, '0');
  const tmp = await mkdtemp(join(tmpdir(), 'hedge-two-hosts-'));
  const underlay = await createUnderlay({ hosts: opts.hosts ?? ['a', 'b'], ipv6: opts.underlayIPv6 });
  let server: HedgeServer | undefined;
  const nodes: HedgeNode[] = [];
  let closing: Promise<void> | undefined;

  const cluster: HostCluster = {
    underlay,
    get server(): HedgeServer {
      if (!server) throw new Error('host cluster: no server yet');
      return server;
    },
    nodes,
    node(hostName) {
      const i = underlay.hosts.findIndex((h) => h.name === hostName);
      const n = nodes[i];
      if (!n) throw new Error(`host cluster: no node on host ${hostName}`);
      return n;
    },
    host: (hostName) => underlay.host(hostName),
    explain() {
      return [`server:\n${server?.output().slice(-2000) ?? ''}`, ...nodes.map((n) => `node ${n.nodeName}:\n${n.output().slice(-3000)}`)].join('\n');
    },
    async kubectl(args, input) {
      const r = await cluster.server.kubectl(args, { input, timeoutMs: 60_000 });
      assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}\n${cluster.explain()}`);
      return r.stdout;
    },
    close() {
      closing ??= closeAll();
      return closing;
    },
  };
  const closeAll = async (): Promise<void> => {
    {
      if (server && nodes.some((n) => n.running())) {
        await server.kubectl(['delete', 'pods', '--all', '--all-namespaces', '--wait=true', '--timeout=40s'], { timeoutMs: 45_000 }).catch(() => undefined);
      }
      for (const n of nodes) await n.cleanup();
      await server?.stop();
      await server?.cleanup();
      await underlay.close();
      await rm(tmp, { recursive: true, force: true });
    }
  };

  try {
    const [images, srv] = await Promise.all([
      buildTestImages(join(tmp, 'images')),
      startHedgeServer({ ...opts.server, extraArgs: ['--listen', `${underlay.rootIP}:0`, '--advertise-host', underlay.rootIP, ...(opts.serverArgs ?? [])] }),
    ]);
    server = srv;
    for (const h of underlay.hosts) {
      const nodeName = `${h.name}-${rand}`;
      const kubeconfig = join(tmp, `${nodeName}.kubeconfig`);
      const tok = await run(process.execPath, [join(REPO_ROOT, 'bin', 'hedge.js'), 'token', 'create-node', nodeName, '--data-dir', srv.dataDir, '--kubeconfig-out', kubeconfig, '--server', srv.url]);
      if (tok.code !== 0) throw new Error(`hedge token create-node ${nodeName}: ${tok.stderr}`);
      const node = await startHedgeNode({
        kubeconfig,
        nodeName,
        runtimes: opts.runtimes,
        netns: h.nsPath,
        podSubnet: null,
        internalIP: h.ip,
        extraArgs: opts.nodeArgs,
      });
      nodes.push(node);
      const imp = await run(process.execPath, [join(REPO_ROOT, 'bin', 'hedge.js'), 'image', 'import', images.dockerArchive, '--data-dir', node.dataDir], { timeoutMs: 120_000 });
      if (imp.code !== 0) throw new Error(`hedge image import into ${nodeName}: ${imp.stderr}`);
    }
    for (const n of nodes) {
      await waitUntil(`node ${n.nodeName} Ready`, 60_000, async () => {
        const r = await srv.api('GET', `/api/v1/nodes/${n.nodeName}`);
        const conds = (r.body as { status?: { conditions?: { type: string; status: string }[] } }).status?.conditions ?? [];
        return conds.some((c) => c.type === 'Ready' && c.status === 'True') ? true : undefined;
      }, cluster.explain);
    }
  } catch (err) {
    await cluster.close().catch(() => undefined);
    throw err;
  }
  return cluster;
}

/**
 * A busybox httpd answering /cgi-bin/ip with the caller's address as it arrives, to check that
 * traffic is not NATed (Debian's busybox wget crashes with -T: the kubectl exec timeout bounds it).
 */
export const ECHO_IP = [
  'mkdir -p /w/cgi-bin',
  `printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\necho "$REMOTE_ADDR"\\n' > /w/cgi-bin/ip`,
  'busybox chmod +x /w/cgi-bin/ip',
  'exec httpd -f -p 8080 -h /w',
].join('; ');

/** a pod's `k8s.v1.cni.cncf.io/network-status` */
export const networkStatus = (p: Pod): NetworkStatusEntry[] => JSON.parse(p.metadata?.annotations?.['k8s.v1.cni.cncf.io/network-status'] ?? '[]') as NetworkStatusEntry[];

/** a macvlan NetworkAttachmentDefinition `lan` on the hosts' underlay (eth0), leasing <prefix>.200–220 */
export const lanNad = (prefix: string): string =>
  JSON.stringify({
    apiVersion: 'k8s.cni.cncf.io/v1',
    kind: 'NetworkAttachmentDefinition',
    metadata: { name: 'lan', namespace: 'default' },
    spec: {
      config: JSON.stringify({
        cniVersion: '1.0.0',
        name: 'lan',
        type: 'macvlan',
        master: 'eth0',
        mode: 'bridge',
        ipam: { type: 'host-local', ranges: [[{ subnet: `${prefix}.0/24`, rangeStart: `${prefix}.200`, rangeEnd: `${prefix}.220` }]] },
      }),
    },
  });

/** a NetworkPolicy `name` admitting ingress to port 8080 of the pods labelled app=<app> only from `cidr` */
export const allowIngressFrom = (name: string, app: string, cidr: string): string =>
  JSON.stringify({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name, namespace: 'default' },
    spec: { podSelector: { matchLabels: { app } }, policyTypes: ['Ingress'], ingress: [{ from: [{ ipBlock: { cidr } }], ports: [{ port: 8080 }] }] },
  });

/** ECHO_IP's answer as a bare IPv4 address (httpd may report it IPv4-mapped) */
/**
 * `kubectl exec` argv fetching http://IP:PORT/PATH with busybox nc, which polls before it reads. For
 * gVisor pods: runsc's host network (this gVisor build) returns EAGAIN to a *blocking* read(2) on a
 * TCP socket when nothing is queued yet, so busybox wget (stdio fgets) fails with "error getting
 * response: Resource temporarily unavailable" unless the reply is already there (docs/host-notes.md).
 */
export const ncGet = (ip: string, port: number, path: string): string[] => ['sh', '-c', `printf 'GET ${path} HTTP/1.0\\r\\n\\r\\n' | nc -w 5 ${ip} ${port}`];
/** the body's last line of a raw HTTP/1.0 reply, or undefined unless it is a 200 */
export const httpLastLine = (reply: string): string | undefined =>
  /^HTTP\/1\.[01] 200 /.test(reply) ? reply.trim().split('\n').at(-1)?.trim() : undefined;
export const plainIPv4 = (s: string): string => s.trim().replace(/^\[?::ffff:([\d.]+)\]?$/, '$1');

/** after `c.close()`: no host netns, underlay link, overlay route, conmon, pod cgroup or mount left */
export async function assertHostsGone(c: HostCluster, names: { netns: string[]; rootLinks: string[] }): Promise<void> {
  const netns = await readdir('/run/netns').catch(() => [] as string[]);
  for (const ns of names.netns) assert.equal(netns.includes(ns), false, `netns ${ns} left`);
  for (const l of names.rootLinks) assert.notEqual((await run('ip', ['link', 'show', 'dev', l])).code, 0, `link ${l} left`);
  const routes = await run('ip', ['-j', 'route', 'show', 'proto', '104']);
  assert.equal(routes.stdout.trim() === '' || routes.stdout.trim() === '[]', true, `overlay routes in the root namespace: ${routes.stdout}`);
  for (const n of c.nodes) {
    const st = await n.hostState();
    assert.deepEqual([st.conmonPids, st.podCgroups, st.mounts], [[], [], []], `${n.nodeName} left host state`);
  }
}

/** a pod pinned to `nodeName` running `command` in the test image (JSON for `kubectl apply -f -`) */
export const pinnedPod = (name: string, nodeName: string, command: string, runtimeClassName = 'runc'): string =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: {
      nodeName,
      runtimeClassName,
      terminationGracePeriodSeconds: 1,
      automountServiceAccountToken: false,
      containers: [{ name: 'main', image: IMAGE, imagePullPolicy: 'Never', command: ['sh', '-c', command] }],
    },
  });

/** a route as `ip -j route` prints it */
export interface IpRoute {
  dst: string;
  gateway?: string;
  dev: string;
  flags?: string[];
}

/** `cmd args` in the host's namespace, its JSON output parsed (`[]` when it printed nothing) */
export async function hostJson<T>(host: Host, cmd: string, args: string[]): Promise<T> {
  const r = await host.exec(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} in ${host.netns}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim() || '[]') as T;
}

/**
 * What cross-node tests do through the server, for the cluster `cluster()` returns (tests make it
 * in `before`): kubectl that must succeed, a Node by name, and a wait for a pod Running and ready.
 */
export function clusterOps(cluster: () => HostCluster): { kubectl(args: string[], input?: string): Promise<string>; getNode(name: string): Promise<Node>; running(name: string): Promise<Pod> } {
  return {
    kubectl: (args, input) => cluster().kubectl(args, input),
    getNode: async (name) => (await cluster().server.api('GET', `/api/v1/nodes/${name}`)).body as Node,
    running: (name) =>
      waitUntil(`pod ${name} running`, 120_000, async () => {
        const r = await cluster().server.api('GET', `/api/v1/namespaces/default/pods/${name}`);
        const p = r.body as Pod;
        return r.status === 200 && p.status?.phase === 'Running' && p.status.podIP && p.status.containerStatuses?.[0]?.ready ? p : undefined;
      }, () => cluster().explain()),
  };
}
