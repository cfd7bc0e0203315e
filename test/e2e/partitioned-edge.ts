/**
 * A cloud (`hedge server`) and an edge (`hedge node`), each in a network namespace this run
 * creates, for partition tests: root ⇄ cloud on one veth (the test drives the server from the
 * root namespace), cloud ⇄ edge on another (the link that is cut). `cut()` has nftables in the
 * edge namespace drop everything on that veth, both ways; `heal()` removes the rule. Names carry
 * a random suffix and the /29 is drawn from the test's own /13, so runs and files do not collide.
 */
import { join } from 'node:path';
import { REPO_ROOT, run, startHedgeServer, type HedgeServer } from './harness.ts';
import { startHedgeNode, type HedgeNode } from './node-harness.ts';

export interface PartitionedEdge {
  server: HedgeServer;
  node: HedgeNode;
  nodeName: string;
  /** the edge namespace's path (for nsenter --net=) */
  edgeNetns: string;
  /** the edge namespace's name (for ip -n / ip netns exec) */
  edgeNetnsName: string;
  /** the hub's kubeconfig on the node, for clients inside the edge namespace */
  hubKubeconfig: string;
  cut(): Promise<void>;
  heal(): Promise<void>;
  /** heals, removes the node and the server, the links and both namespaces (best effort) */
  destroy(): Promise<void>;
}

export interface PartitionedEdgeOptions {
  /** one letter starting every name this run creates (namespaces `<l>c-`/`<l>e-`, links `<l>r`/`<l>c`/`<l>x`/`<l>y`) */
  letter: string;
  /** the first of eight second octets the /29 is drawn from (10.<base..base+7>.x.0/29), apart from other tests' */
  octetBase: number;
  /** the node's kubeconfig is written here */
  tmp: string;
  /** more `hedge node` arguments */
  nodeArgs?: string[];
  /** --runtimes (default runc) */
  runtimes?: string[];
}

async function sh(cmd: string, args: string[]): Promise<string> {
  const r = await run(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

export async function startPartitionedEdge(o: PartitionedEdgeOptions): Promise<PartitionedEdge> {
  const l = o.letter;
  const rand = Math.floor(Math.random() * 0xffffff).toString(16).padStart(6, '0');
  const net = { cloud: `${l}c-${rand}`, edge: `${l}e-${rand}` };
  const nsPath = (n: string): string => `/run/netns/${n}`;
  const prefix = `10.${o.octetBase + Math.floor(Math.random() * 8)}.${Math.floor(Math.random() * 256)}`;
  const ip = { root: `${prefix}.1`, cloudA: `${prefix}.2`, cloudB: `${prefix}.5`, edge: `${prefix}.6` };
  const ifs = { root: `${l}r${rand}`, cloudA: `${l}c${rand}`, cloudB: `${l}x${rand}`, edge: `${l}y${rand}` };
  const nodeName = `edge-${rand}`;
  const heal = async (): Promise<void> => void (await sh('ip', ['netns', 'exec', net.edge, 'nft', 'delete table inet hedgecut']));
  let server: HedgeServer | undefined;
  let node: HedgeNode | undefined;
  const destroy = async (): Promise<void> => {
    await heal().catch(() => undefined);
    await node?.cleanup();
    await server?.stop();
    await server?.cleanup();
    await run('ip', ['link', 'del', ifs.root]);
    await run('ip', ['netns', 'del', net.edge]);
    await run('ip', ['netns', 'del', net.cloud]);
  };
  try {
    await sh('ip', ['netns', 'add', net.cloud]);
    await sh('ip', ['netns', 'add', net.edge]);
    await sh('ip', ['link', 'add', ifs.root, 'type', 'veth', 'peer', 'name', ifs.cloudA, 'netns', net.cloud]);
    await sh('ip', ['link', 'add', ifs.edge, 'netns', net.edge, 'type', 'veth', 'peer', 'name', ifs.cloudB, 'netns', net.cloud]);
    await sh('ip', ['addr', 'add', `${ip.root}/30`, 'dev', ifs.root]);
    await sh('ip', ['link', 'set', ifs.root, 'up']);
    for (const [ns, dev, addr] of [[net.cloud, ifs.cloudA, ip.cloudA], [net.cloud, ifs.cloudB, ip.cloudB], [net.edge, ifs.edge, ip.edge]] as const) {
      await sh('ip', ['-n', ns, 'addr', 'add', `${addr}/30`, 'dev', dev]);
      await sh('ip', ['-n', ns, 'link', 'set', dev, 'up']);
      await sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    // the server listens on its root-facing address; the edge reaches it across the cloud namespace
    await sh('ip', ['-n', net.edge, 'route', 'add', `${ip.cloudA}/32`, 'via', ip.cloudB]);
    server = await startHedgeServer({ netns: nsPath(net.cloud), extraArgs: ['--listen', `${ip.cloudA}:0`, '--advertise-host', ip.cloudA] });
    const kubeconfig = join(o.tmp, 'node.kubeconfig');
    await sh(process.execPath, [join(REPO_ROOT, 'bin', 'hedge.js'), 'token', 'create-node', nodeName, '--data-dir', server.dataDir, '--kubeconfig-out', kubeconfig, '--server', server.url]);
    node = await startHedgeNode({ kubeconfig, nodeName, runtimes: o.runtimes ?? ['runc'], netns: nsPath(net.edge), extraArgs: o.nodeArgs ?? [], onSpawned: (n) => (node = n) });
  } catch (err) {
    await destroy();
    throw err;
  }
  return {
    server,
    node,
    nodeName,
    edgeNetns: nsPath(net.edge),
    edgeNetnsName: net.edge,
    hubKubeconfig: join(node.dataDir, 'hub', 'kubeconfig'),
    /** the partition: drop every packet on the edge's veth, both ways */
    cut: async () =>
      void (await sh('ip', ['netns', 'exec', net.edge, 'nft', `add table inet hedgecut { chain i { type filter hook input priority 0; iifname "${ifs.edge}" drop; }; chain o { type filter hook output priority 0; oifname "${ifs.edge}" drop; }; }`])),
    heal,
    destroy,
  };
}
