/**
 * An edge behind NAT, for tunnel tests: three network namespaces this run creates.
 *
 *   root ──veth── cloud (hedge server) ──veth "public"── router ──veth "private"── edge (hedge node)
 *
 * The router masquerades everything the edge sends out of its public side (nftables `masquerade`,
 * with a counter the test can read), so the cloud only ever sees the router's address. The edge
 * drops every inbound connection on its uplink (nftables: `ct state new` dropped on input and
 * forward; replies to what the edge opened pass). The cloud even has a route to the edge's private
 * range through the router, so the only thing stopping a direct dial to the node is that drop.
 * The node listens on its private address and advertises it as its InternalIP: everything the
 * apiserver does with the node (logs, exec, attach, port-forward, nodes/proxy) must go through the
 * tunnel the node opened outward. Names carry a random suffix and the subnets are drawn at random,
 * so runs do not collide.
 */
import { join } from 'node:path';
import { REPO_ROOT, run, startHedgeServer, type HedgeServer } from './harness.ts';
import { startHedgeNode, type HedgeNode } from './node-harness.ts';

export interface NattedEdge {
  server: HedgeServer;
  node: HedgeNode;
  nodeName: string;
  /** the node's private address (its InternalIP; the node server listens there) */
  edgeIP: string;
  /** the router's public address: the source the cloud sees for everything the edge sends */
  routerPublicIP: string;
  /** /run/netns paths, for nsenter --net= */
  netns: { cloud: string; router: string; edge: string };
  /** packets the router's masquerade rule has rewritten so far */
  masqueradedPackets(): Promise<number>;
  /** inbound connection attempts the edge has dropped so far */
  droppedInbound(): Promise<number>;
  /** removes the node and the server, the links and the three namespaces (best effort) */
  destroy(): Promise<void>;
}

export interface NattedEdgeOptions {
  /** the node's kubeconfig is written here */
  tmp: string;
  runtimes?: string[];
  /** more `hedge node` arguments */
  nodeArgs?: string[];
}

async function sh(cmd: string, args: string[]): Promise<string> {
  const r = await run(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

const counterPackets = (nftOutput: string): number => Number(/packets (\d+)/.exec(nftOutput)?.[1] ?? NaN);

export async function startNattedEdge(o: NattedEdgeOptions): Promise<NattedEdge> {
  const rand = Math.floor(Math.random() * 0xffffff).toString(16).padStart(6, '0');
  const ns = { cloud: `nc-${rand}`, router: `nr-${rand}`, edge: `ne-${rand}` };
  const nsPath = (n: string): string => `/run/netns/${n}`;
  // "public" side: 10.240-247.x.0/29 (root ⇄ cloud .1/.2, cloud ⇄ router .5/.6); private: 172.16-23.y.0/30
  const pub = `10.${240 + Math.floor(Math.random() * 8)}.${Math.floor(Math.random() * 256)}`;
  const priv = `172.${16 + Math.floor(Math.random() * 8)}.${Math.floor(Math.random() * 256)}`;
  const ip = { root: `${pub}.1`, cloud: `${pub}.2`, cloudPub: `${pub}.5`, routerPub: `${pub}.6`, routerPriv: `${priv}.1`, edge: `${priv}.2` };
  const ifs = { root: `nr${rand}`, cloud: `nc${rand}`, cloudPub: `np${rand}`, routerPub: `nq${rand}`, routerPriv: `ns${rand}`, edge: `nt${rand}` };
  const nodeName = `natted-${rand}`;
  let server: HedgeServer | undefined;
  let node: HedgeNode | undefined;
  const destroy = async (): Promise<void> => {
    await node?.cleanup();
    await server?.stop();
    await server?.cleanup();
    await run('ip', ['link', 'del', ifs.root]);
    for (const n of [ns.edge, ns.router, ns.cloud]) await run('ip', ['netns', 'del', n]);
  };
  try {
    for (const n of Object.values(ns)) await sh('ip', ['netns', 'add', n]);
    await sh('ip', ['link', 'add', ifs.root, 'type', 'veth', 'peer', 'name', ifs.cloud, 'netns', ns.cloud]);
    await sh('ip', ['link', 'add', ifs.cloudPub, 'netns', ns.cloud, 'type', 'veth', 'peer', 'name', ifs.routerPub, 'netns', ns.router]);
    await sh('ip', ['link', 'add', ifs.routerPriv, 'netns', ns.router, 'type', 'veth', 'peer', 'name', ifs.edge, 'netns', ns.edge]);
    await sh('ip', ['addr', 'add', `${ip.root}/30`, 'dev', ifs.root]);
    await sh('ip', ['link', 'set', ifs.root, 'up']);
    for (const [n, dev, addr] of [
      [ns.cloud, ifs.cloud, ip.cloud],
      [ns.cloud, ifs.cloudPub, ip.cloudPub],
      [ns.router, ifs.routerPub, ip.routerPub],
      [ns.router, ifs.routerPriv, ip.routerPriv],
      [ns.edge, ifs.edge, ip.edge],
    ] as const) {
      await sh('ip', ['-n', n, 'addr', 'add', `${addr}/30`, 'dev', dev]);
      await sh('ip', ['-n', n, 'link', 'set', dev, 'up']);
    }
    for (const n of Object.values(ns)) await sh('ip', ['-n', n, 'link', 'set', 'lo', 'up']);
    // the edge's only way out is its router; the router reaches the server's address through the cloud
    await sh('ip', ['-n', ns.edge, 'route', 'add', 'default', 'via', ip.routerPriv]);
    await sh('ip', ['-n', ns.router, 'route', 'add', `${ip.cloud}/32`, 'via', ip.cloudPub]);
    // the cloud can route to the private range: only the edge's firewall stops a direct dial
    await sh('ip', ['-n', ns.cloud, 'route', 'add', `${priv}.0/30`, 'via', ip.routerPub]);
    await sh('ip', ['netns', 'exec', ns.router, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
    await sh('ip', ['netns', 'exec', ns.router, 'nft', `add table ip hedgenat { chain post { type nat hook postrouting priority 100; oifname "${ifs.routerPub}" counter masquerade; }; }`]);
    await sh('ip', ['netns', 'exec', ns.edge, 'nft',
      `add table inet hedgenatin { counter dropped { }; ` +
      `chain i { type filter hook input priority 0; iifname "${ifs.edge}" ct state new counter name dropped drop; }; ` +
      `chain f { type filter hook forward priority 0; iifname "${ifs.edge}" ct state new counter name dropped drop; }; }`]);

    server = await startHedgeServer({ netns: nsPath(ns.cloud), extraArgs: ['--listen', `${ip.cloud}:0`, '--advertise-host', ip.cloud] });
    const kubeconfig = join(o.tmp, 'node.kubeconfig');
    await sh(process.execPath, [join(REPO_ROOT, 'bin', 'hedge.js'), 'token', 'create-node', nodeName, '--data-dir', server.dataDir, '--kubeconfig-out', kubeconfig, '--server', server.url]);
    await startHedgeNode({
      kubeconfig,
      nodeName,
      runtimes: o.runtimes ?? ['runc'],
      netns: nsPath(ns.edge),
      internalIP: ip.edge,
      // later flags win: the node server listens on the private address, where a direct dial would land
      extraArgs: ['--listen', `${ip.edge}:0`, ...(o.nodeArgs ?? [])],
      onSpawned: (n) => (node = n),
    });
  } catch (err) {
    await destroy();
    throw err;
  }
  if (!node) throw new Error('natted edge: the node was not started');
  return {
    server,
    node,
    nodeName,
    edgeIP: ip.edge,
    routerPublicIP: ip.routerPub,
    netns: { cloud: nsPath(ns.cloud), router: nsPath(ns.router), edge: nsPath(ns.edge) },
    masqueradedPackets: async () => counterPackets(await sh('ip', ['netns', 'exec', ns.router, 'nft', 'list', 'table', 'ip', 'hedgenat'])),
    droppedInbound: async () => counterPackets(await sh('ip', ['netns', 'exec', ns.edge, 'nft', 'list', 'counter', 'inet', 'hedgenatin', 'dropped'])),
    destroy,
  };
}
