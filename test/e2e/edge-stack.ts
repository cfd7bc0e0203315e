/**
 * The whole edge stack for e2e tests and benches: a docker-registry holding the fixture images,
 * one `hedge server`, and N `hedge node`s, each with its own node credentials, data dir, netns dir,
 * cgroup root, bridge and pod subnet (node-harness.ts), so test files can run side by side.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildTestImages } from '../fixtures/images/build.ts';
import { pushLayout, startRegistry, type RunningRegistry } from '../fixtures/images/registry.ts';
import { REPO_ROOT, run, startHedgeServer, type HedgeServer, type StartOptions } from './harness.ts';
import { startHedgeNode, type HedgeNode } from './node-harness.ts';
import { waitUntil } from './pod-checks.ts';

export interface EdgeNodeOptions {
  name: string;
  /** RuntimeClass handlers the node offers (default runc, gvisor) */
  runtimes?: string[];
  /** more `hedge node` flags */
  extraArgs?: string[];
  /** environment on top of this process's, e.g. NODE_OPTIONS */
  env?: NodeJS.ProcessEnv;
  /** the apiserver URL in the node's kubeconfig (default the server's): a proxy standing in for the cloud link */
  serverUrl?: string;
}

export interface EdgeStackOptions {
  /** nodes started with the stack; more can join with `addNode` */
  nodes: EdgeNodeOptions[];
  /** `hedge server` options (flags, store) */
  server?: StartOptions;
  /** wait until each node reports Ready (default true) */
  waitReady?: boolean;
}

export interface EdgeStack {
  server: HedgeServer;
  registry: RunningRegistry;
  /** in start order */
  nodes: HedgeNode[];
  /** the first node, for single-node stacks */
  readonly node: HedgeNode;
  httpdImage: string;
  busyboxImage: string;
  /** a temp dir the stack removes on close */
  tmp: string;
  addNode(opts: EdgeNodeOptions): Promise<HedgeNode>;
  /** recent output of the server and every node, for failure messages */
  explain(): string;
  /** best effort: delete every pod (so the agents tear their sandboxes down) while some node still runs */
  deleteAllPods(opts?: { timeoutSeconds?: number }): Promise<void>;
  /** deleteAllPods, then remove every node's host state, stop the server and the registry */
  close(): Promise<void>;
}

export async function startEdgeStack(opts: EdgeStackOptions): Promise<EdgeStack> {
  const tmp = await mkdtemp(join(tmpdir(), 'hedge-edge-stack-'));
  const waitReady = opts.waitReady ?? true;
  let registry: RunningRegistry | undefined;
  let server: HedgeServer | undefined;
  const nodes: HedgeNode[] = [];

  /** every step runs even when an earlier one fails (a node whose clean-up threw left the server,
   * the registry and their mounts behind in CI); the failures are thrown together at the end */
  const close = async (): Promise<void> => {
    const failures: unknown[] = [];
    const step = async (f: () => Promise<unknown>): Promise<void> => {
      await f().catch((err: unknown) => failures.push(err));
    };
    await step(() => stack.deleteAllPods());
    await Promise.all(nodes.map((n) => step(() => n.cleanup())));
    await step(async () => server?.stop());
    await step(async () => server?.cleanup());
    await step(async () => registry?.stop());
    await step(() => rm(tmp, { recursive: true, force: true }));
    if (failures.length > 0) throw new AggregateError(failures, `edge stack close: ${failures.length} step(s) failed`);
  };

  const stack: EdgeStack = {
    get server(): HedgeServer {
      if (!server) throw new Error('edge stack: no server yet');
      return server;
    },
    get registry(): RunningRegistry {
      if (!registry) throw new Error('edge stack: no registry yet');
      return registry;
    },
    nodes,
    get node(): HedgeNode {
      const n = nodes[0];
      if (!n) throw new Error('edge stack: no node started');
      return n;
    },
    httpdImage: '',
    busyboxImage: '',
    tmp,
    async addNode(n) {
      const srv = stack.server;
      const kubeconfig = join(tmp, `${n.name}.kubeconfig`);
      const tok = await run(process.execPath, [
        join(REPO_ROOT, 'bin', 'hedge.js'), 'token', 'create-node', n.name,
        '--data-dir', srv.dataDir, '--kubeconfig-out', kubeconfig, ...(n.serverUrl ? ['--server', n.serverUrl] : []),
      ]);
      if (tok.code !== 0) throw new Error(`hedge token create-node ${n.name}: ${tok.stderr}`);
      // registered before it is ready: close() removes it even when its start (or a sibling's) fails
      const node = await startHedgeNode({ kubeconfig, nodeName: n.name, runtimes: n.runtimes, extraArgs: n.extraArgs, env: n.env, onSpawned: (spawned) => nodes.push(spawned) });
      if (waitReady) {
        await waitUntil(`node ${n.name} Ready`, 30_000, async () => {
          const r = await srv.api('GET', `/api/v1/nodes/${n.name}`);
          const conds = (r.body as { status?: { conditions?: { type: string; status: string }[] } }).status?.conditions ?? [];
          return conds.some((c) => c.type === 'Ready' && c.status === 'True') ? true : undefined;
        }, stack.explain);
      }
      return node;
    },
    explain() {
      return [`server:\n${server?.output().slice(-2000) ?? ''}`, ...nodes.map((n) => `node ${n.nodeName}:\n${n.output().slice(-3000)}`)].join('\n');
    },
    async deleteAllPods({ timeoutSeconds = 40 } = {}) {
      if (!server || !nodes.some((n) => n.running())) return;
      await server.kubectl(['delete', 'pods', '--all', '--wait=true', `--timeout=${timeoutSeconds}s`], { timeoutMs: (timeoutSeconds + 5) * 1000 }).catch(() => undefined);
    },
    close,
  };

  try {
    const [images, reg] = await Promise.all([buildTestImages(join(tmp, 'images')), startRegistry()]);
    registry = reg;
    await pushLayout(images.layoutDir, reg.url, 'hedge/httpd:1', 'httpd');
    await pushLayout(images.layoutDir, reg.url, 'hedge/busybox:1', 'busybox');
    stack.httpdImage = `${reg.host}/hedge/httpd:1`;
    stack.busyboxImage = `${reg.host}/hedge/busybox:1`;
    server = await startHedgeServer(opts.server);
    // settled, not all: close() below must not run while a sibling is still spawning its node
    const started = await Promise.allSettled(opts.nodes.map((n) => stack.addNode(n)));
    for (const r of started) if (r.status === 'rejected') throw r.reason;
    // they joined in parallel: keep `nodes` in the order asked for
    const order = opts.nodes.map((n) => n.name);
    nodes.sort((a, b) => order.indexOf(a.nodeName) - order.indexOf(b.nodeName));
  } catch (err) {
    await close().catch(() => undefined);
    throw err;
  }
  return stack;
}
