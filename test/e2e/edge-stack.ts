/** server + docker-registry (fixture images pushed) + node: the whole edge stack for e2e tests and benches. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildTestImages } from '../fixtures/images/build.ts';
import { pushLayout, startRegistry, type RunningRegistry } from '../fixtures/images/registry.ts';
import { REPO_ROOT, run, startHedgeServer, type HedgeServer } from './harness.ts';
import { startHedgeNode, type HedgeNode } from './node-harness.ts';

export interface EdgeStack {
  server: HedgeServer;
  node: HedgeNode;
  registry: RunningRegistry;
  httpdImage: string;
  busyboxImage: string;
  close(): Promise<void>;
}

export async function startEdgeStack(opts: { nodeName: string; runtimes?: string[]; nodeArgs?: string[] }): Promise<EdgeStack> {
  const tmp = await mkdtemp(join(tmpdir(), 'hedge-edge-stack-'));
  const images = await buildTestImages(join(tmp, 'images'));
  const registry = await startRegistry();
  await pushLayout(images.layoutDir, registry.url, 'hedge/httpd:1', 'httpd');
  await pushLayout(images.layoutDir, registry.url, 'hedge/busybox:1', 'busybox');
  const server = await startHedgeServer();
  const kubeconfig = join(tmp, 'node.kubeconfig');
  const tok = await run(process.execPath, [join(REPO_ROOT, 'bin', 'hedge.js'), 'token', 'create-node', opts.nodeName, '--data-dir', server.dataDir, '--kubeconfig-out', kubeconfig]);
  if (tok.code !== 0) throw new Error(`hedge token create-node: ${tok.stderr}`);
  const node = await startHedgeNode({ kubeconfig, nodeName: opts.nodeName, runtimes: opts.runtimes, extraArgs: opts.nodeArgs });
  return {
    server,
    node,
    registry,
    httpdImage: `${registry.host}/hedge/httpd:1`,
    busyboxImage: `${registry.host}/hedge/busybox:1`,
    async close() {
      await server.kubectl(['delete', 'pods', '--all', '--wait=true', '--timeout=60s'], { timeoutMs: 65_000 }).catch(() => undefined);
      await node.cleanup();
      await server.stop();
      await server.cleanup();
      await registry.stop();
      await rm(tmp, { recursive: true, force: true });
    },
  };
}
