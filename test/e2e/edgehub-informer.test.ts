/**
 * Issue 9: a @kubernetes/client-node informer on the node, whose only way to the cloud is the
 * node's edgehub, across a partition. Cloud and edge each run in a network namespace this test
 * creates, joined by a veth; nftables in the edge namespace drops everything on that veth. While
 * cut the cloud creates, changes and deletes Services; after the link returns the informer
 * (which never lost its watch on the hub) sees each change exactly once, in the cloud's order,
 * without a relist.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { findKubectl, REPO_ROOT, run, type HedgeServer } from './harness.ts';
import { edgeNodeSkipReason, type HedgeNode } from './node-harness.ts';
import { startPartitionedEdge, type PartitionedEdge } from './partitioned-edge.ts';
import { waitUntil } from './pod-checks.ts';

const NEEDED = ['/usr/sbin/runc', '/usr/bin/conmon', '/usr/sbin/nft', '/usr/lib/cni/bridge', '/usr/lib/cni/host-local', '/bin/busybox', '/usr/bin/nsenter'];
const kubectlPath = findKubectl();
const skip = edgeNodeSkipReason(NEEDED) ?? (kubectlPath ? undefined : 'no kubectl (run scripts/setup.sh)');

const NS = `inf-${Math.floor(Math.random() * 0xffffff).toString(16).padStart(6, '0')}`;

type Line = { ev?: 'add' | 'update' | 'delete'; name?: string; gen?: string; list?: number; error?: string; started?: boolean };

describe('edgehub: a client-node informer through the hub sees every change once across a partition', { skip, timeout: 240_000 }, () => {
  let tmp: string;
  let server: HedgeServer;
  let node: HedgeNode;
  let child: ChildProcess | undefined;
  const lines: Line[] = [];
  let stderr = '';
  let edge: PartitionedEdge;

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'hedge-edgehub-informer-'));
    // 10.224-231.x.0/29: away from the node harness' pod subnets, the default 10.88 and edgehub-offline's 10.216-223
    edge = await startPartitionedEdge({ letter: 'i', octetBase: 224, tmp, nodeArgs: ['--log-level', 'warn'] });
    ({ server, node } = edge);
  });

  after(async () => {
    child?.kill('SIGTERM');
    await edge?.destroy();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('writes in the cloud while cut arrive once each, in order, with no relist', async () => {
    const api = async (method: string, path: string, body?: unknown, ct?: string): Promise<void> => {
      const r = await server.api(method, path, body, ct);
      assert.ok(r.status >= 200 && r.status < 300, `${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
    };
    const svc = (name: string, gen: string): object => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: NS, labels: { gen } }, spec: { ports: [{ port: 80 }], selector: { app: name } } });
    await api('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    for (let i = 0; i < 3; i++) await api('POST', `/api/v1/namespaces/${NS}/services`, svc(`pre-${i}`, `pre-${i}`));

    child = spawn('nsenter', [`--net=${edge.edgeNetns}`, process.execPath, '--import', 'tsx', join(REPO_ROOT, 'test', 'e2e', 'hub-informer-child.ts'), join(node.dataDir, 'hub', 'kubeconfig'), NS], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        lines.push(JSON.parse(buf.slice(0, i)) as Line);
        buf = buf.slice(i + 1);
      }
    });
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const explain = (): string => `informer: ${JSON.stringify(lines)}\nstderr: ${stderr.slice(-2000)}\nnode: ${node.output().slice(-3000)}`;
    const changes = (): Line[] => lines.filter((l) => l.ev !== undefined);
    await waitUntil('the informer listed the three Services', 60_000, async () => (changes().length >= 3 ? true : undefined), explain);

    // ---- the link is cut: the hub notices (a write it cannot journal is refused at once) ----
    await edge.cut();
    try {
      await waitUntil('the hub is offline', 30_000, async () => {
        const r = await run('nsenter', [`--net=${edge.edgeNetns}`, kubectlPath!, '--kubeconfig', join(node.dataDir, 'hub', 'kubeconfig'), 'create', 'configmap', `probe-${Date.now()}`, '-n', NS, '--request-timeout=10s']);
        return r.code !== 0 && /unreachable/.test(r.stderr) ? true : undefined;
      }, explain);
      const before = changes().length;
      // the cloud changes things meanwhile: creates, updates, deletes, each with its own label
      const expected: string[] = [];
      let gen = 0;
      for (let i = 0; i < 8; i++) {
        await api('POST', `/api/v1/namespaces/${NS}/services`, svc(`s-${i}`, `g${++gen}`));
        expected.push(`add s-${i} g${gen}`);
      }
      for (const i of [0, 3, 5, 0]) {
        await api('PATCH', `/api/v1/namespaces/${NS}/services/s-${i}`, { metadata: { labels: { gen: `g${++gen}` } } }, 'application/merge-patch+json');
        expected.push(`update s-${i} g${gen}`);
      }
      await api('DELETE', `/api/v1/namespaces/${NS}/services/s-3`);
      expected.push(`delete s-3 g${gen - 2}`);
      await api('DELETE', `/api/v1/namespaces/${NS}/services/pre-1`);
      expected.push('delete pre-1 pre-1');
      assert.equal(changes().length, before, 'nothing reaches the informer while cut');

      // ---- the link is back ----
      await edge.heal();
      await api('POST', `/api/v1/namespaces/${NS}/services`, svc('zz-sentinel', 'last'));
      expected.push('add zz-sentinel last');
      await waitUntil('the informer saw the sentinel', 60_000, async () => (changes().some((l) => l.name === 'zz-sentinel') ? true : undefined), explain);
      const seen = changes().slice(before).map((l) => `${l.ev} ${l.name} ${l.gen}`);
      assert.deepEqual(seen, expected, explain());
      assert.deepEqual(lines.filter((l) => l.error !== undefined), [], 'no informer error');
      assert.equal(lines.filter((l) => l.list !== undefined).length, 1, 'one list: no relist');
      process.stderr.write(`# informer through the hub: ${seen.length} changes made while cut, each seen once, in order, one list\n`);
    } finally {
      await edge.heal().catch(() => undefined);
    }
  });
});
