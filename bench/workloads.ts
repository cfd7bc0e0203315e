/**
 * Workload controllers at scale against a real `hedge server` (SQLite, its own scheduler and
 * workload controllers, leader-elected as in production) with fake nodes created through the
 * API and no agents: a Deployment from create to all pods bound, its rolling update, and the
 * garbage collector removing owned objects. A stand-in kubelet in this process reports bound pods
 * Running and Ready (one status write per pod, as a kubelet makes), since a rolling update only
 * advances as new pods become available. Prints tables;
 * asserts nothing. There is no kube-controller-manager on this machine to compare against.
 * Run: node --import tsx bench/workloads.ts [--replicas 1000] [--nodes 50] [--owned 1000]
 */
import { parseArgs } from 'node:util';
import type { KubeObject } from '../src/api/object.ts';
import { HttpKubeClient } from '../src/client/http-client.ts';
import { loadKubeconfig } from '../src/client/kubeconfig.ts';
import { Resources } from '../src/client/resources.ts';
import type { KubeClient } from '../src/client/types.ts';
import type { PodObject } from '../src/controllers/common/types.ts';
import { makeNode } from '../src/controllers/testing/objects.ts';
import { startHedgeServer } from '../test/e2e/harness.ts';
import { printTable, rssMiB } from './apiserver-seed.ts';

const { values } = parseArgs({ options: { replicas: { type: 'string' }, nodes: { type: 'string' }, owned: { type: 'string' } } });
const replicas = Number(values.replicas ?? 1000);
const nodeCount = Number(values.nodes ?? 50);
const owned = Number(values.owned ?? 1000);
const ns = 'default';

async function pool(n: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < n) await fn(next++);
  }));
}

let progress = '';
async function until(what: string, timeoutMs: number, probe: () => Promise<boolean>): Promise<number> {
  const start = performance.now();
  let said = start;
  for (;;) {
    if (await probe()) return performance.now() - start;
    if (performance.now() - said > 10_000) {
      said = performance.now();
      process.stderr.write(`waiting for ${what}: ${Math.round((said - start) / 1000)} s ${progress}\n`);
    }
    if (performance.now() - start > timeoutMs) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function listAll<T extends KubeObject>(client: KubeClient, res: typeof Resources.pods, selector: string): Promise<T[]> {
  const out: T[] = [];
  let cont: string | undefined;
  do {
    const page = await client.list<T>(res, { namespace: ns, labelSelector: selector, limit: 500, continue: cont });
    out.push(...page.items);
    cont = page.metadata.continue || undefined;
  } while (cont);
  return out;
}

async function main(): Promise<void> {
  const server = await startHedgeServer({ store: 'sqlite' });
  const client = new HttpKubeClient({ ...(await loadKubeconfig(server.kubeconfig)), userAgent: 'hedge-bench-workloads' });
  try {
    await pool(nodeCount, 8, async (i) => {
      const n = makeNode(`node-${i}`, { cpu: '64', memory: '256Gi', pods: '500' });
      await client.create(Resources.nodes, n);
      // a patch, not a PUT: the IPAM controller writes spec.podCIDR right after the create
      await client.patch(Resources.nodes, n.metadata.name ?? '', 'merge', { status: n.status }, { subresource: 'status' });
    });
    const rows: (string | number)[][] = [['phase', 'pods', 'seconds', 'pods/s']];
    // the stand-in kubelet: node leases renewed (else node-lifecycle finds the nodes unreachable,
    // marks their pods not Ready and the scheduler skips them), and bound pods that are not Ready
    // become Running + Ready
    const kubeletStop = new AbortController();
    const micro = (): string => new Date().toISOString().replace('Z', '000Z');
    await pool(nodeCount, 8, async (i) => {
      await client.create(Resources.leases, {
        apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: `node-${i}`, namespace: 'kube-node-lease' },
        spec: { holderIdentity: `node-${i}`, leaseDurationSeconds: 40, renewTime: micro() },
      } as KubeObject);
    });
    let renewedAt = performance.now();
    const isReady = (p: PodObject): boolean => !!p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
    const kubelet = (async () => {
      while (!kubeletStop.signal.aborted) {
        if (performance.now() - renewedAt > 5000) {
          renewedAt = performance.now();
          await pool(nodeCount, 8, async (i) => {
            await client.patch(Resources.leases, `node-${i}`, 'merge', { spec: { renewTime: micro() } }, { namespace: 'kube-node-lease' }).catch(() => undefined);
          });
        }
        const all = await listAll<PodObject>(client, Resources.pods, 'app=big').catch(() => [] as PodObject[]);
        // a kubelet confirms a graceful delete once the containers stopped: here at once
        const going = all.filter((p) => p.metadata.deletionTimestamp);
        await pool(going.length, 16, async (i) => {
          await client.delete(Resources.pods, going[i].metadata.name ?? '', { namespace: ns, gracePeriodSeconds: 0 }).catch(() => undefined);
        });
        const pods = all.filter((p) => p.spec?.nodeName && !p.metadata.deletionTimestamp && !isReady(p));
        await pool(pods.length, 16, async (i) => {
          const p = pods[i];
          const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
          await client
            .patch(Resources.pods, p.metadata.name ?? '', 'merge', { status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: now }] } }, { namespace: ns, subresource: 'status' })
            .catch(() => undefined);
        });
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    const template = (v: string): KubeObject['spec'] & object => ({
      metadata: { labels: { app: 'big' } },
      spec: { containers: [{ name: 'c', image: 'busybox', env: [{ name: 'V', value: v }], resources: { requests: { cpu: '10m', memory: '16Mi' } } }] },
    });
    const bound = async (wantHash?: string): Promise<boolean> => {
      const pods = (await listAll<PodObject>(client, Resources.pods, 'app=big')).filter((p) => !p.metadata.deletionTimestamp);
      const mine = wantHash ? pods.filter((p) => p.metadata.labels?.['pod-template-hash'] === wantHash) : pods;
      progress = `(${pods.length} pods, ${mine.length} of the wanted template, ${mine.filter((p) => p.spec?.nodeName).length} bound, ${mine.filter(isReady).length} Ready)`;
      return mine.length === replicas && pods.length === replicas && mine.every((p) => p.spec?.nodeName && p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
    };
    const t0 = performance.now();
    await client.create(Resources.deployments, {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'big', namespace: ns },
      spec: { replicas, selector: { matchLabels: { app: 'big' } }, template: template('1') },
    } as KubeObject);
    const created = await until('all pods created', 600_000, async () => (await listAll(client, Resources.pods, 'app=big')).length >= replicas);
    const allBound = await until('all pods bound', 600_000, () => bound());
    rows.push(['create → all pods exist', replicas, created / 1000, (replicas * 1000) / created]);
    rows.push(['create → all pods bound and Ready', replicas, (performance.now() - t0) / 1000, (replicas * 1000) / (performance.now() - t0)]);
    void allBound;

    const t1 = performance.now();
    await client.patch(Resources.deployments, 'big', 'merge', { spec: { template: template('2') } }, { namespace: ns });
    let newHash = '';
    await until('new replica set', 60_000, async () => {
      const sets = await client.list<KubeObject & { spec: { replicas: number } }>(Resources.replicasets, { namespace: ns, labelSelector: 'app=big' });
      const fresh = sets.items.find((rs) => rs.metadata.annotations?.['deployment.kubernetes.io/revision'] === '2');
      newHash = fresh?.metadata.labels?.['pod-template-hash'] ?? '';
      return newHash !== '';
    });
    try {
      await until('rolled and bound', Math.max(120_000, replicas * 600), () => bound(newHash));
      const rollMs = performance.now() - t1;
      // a rollout creates `replicas` pods and deletes as many
      rows.push(['rolling update (25% surge/unavailable) → new pods Ready, old gone', replicas, rollMs / 1000, (2 * replicas * 1000) / rollMs]);
    } catch {
      // a stalled rollout is a finding to print, not a reason to lose the other rows
      rows.push([`rolling update STALLED ${progress}`, replicas, (performance.now() - t1) / 1000, 0]);
    }

    const t2 = performance.now();
    await client.delete(Resources.deployments, 'big', { namespace: ns, propagationPolicy: 'Background' });
    await until('deployment collected', 900_000, async () => (await listAll(client, Resources.pods, 'app=big')).length === 0 && (await client.list(Resources.replicasets, { namespace: ns, labelSelector: 'app=big' })).items.length === 0);
    const gcDeploy = performance.now() - t2;
    kubeletStop.abort();
    await kubelet;
    rows.push(['delete Deployment → RS + pods collected', replicas, gcDeploy / 1000, (replicas * 1000) / gcDeploy]);
    printTable(`Deployment of ${replicas} replicas on ${nodeCount} fake nodes (real hedge server, SQLite, scheduler + controllers in-process)`, rows);

    const owner = await client.create<KubeObject>(Resources.configmaps, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'owner', namespace: ns } });
    await pool(owned, 16, async (i) => {
      await client.create(Resources.configmaps, {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: `owned-${i}`, namespace: ns, labels: { gc: 'bench' }, ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata.uid ?? '' }] },
      } as KubeObject);
    });
    const t3 = performance.now();
    await client.delete(Resources.configmaps, 'owner', { namespace: ns, propagationPolicy: 'Background' });
    await until('owned collected', 600_000, async () => (await listAll(client, Resources.configmaps, 'gc=bench')).length === 0);
    const gcMs = performance.now() - t3;
    const t4 = performance.now();
    const owner2 = await client.create<KubeObject>(Resources.configmaps, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'owner2', namespace: ns } });
    await pool(owned, 16, async (i) => {
      await client.create(Resources.configmaps, {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: `fg-${i}`, namespace: ns, labels: { gc: 'fg' }, ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner2', uid: owner2.metadata.uid ?? '', blockOwnerDeletion: true }] },
      } as KubeObject);
    });
    const seeded = performance.now() - t4;
    const t5 = performance.now();
    await client.delete(Resources.configmaps, 'owner2', { namespace: ns, propagationPolicy: 'Foreground' });
    await until('owner2 gone', 600_000, async () => {
      try {
        await client.get(Resources.configmaps, 'owner2', { namespace: ns });
        return false;
      } catch {
        return true;
      }
    });
    const fgMs = performance.now() - t5;
    printTable(`Garbage collection of ${owned} owned ConfigMaps`, [
      ['propagation', 'objects', 'seconds', 'objects/s'],
      ['Background (owner deleted, dependents collected)', owned, gcMs / 1000, (owned * 1000) / gcMs],
      ['Foreground (dependents first, then owner)', owned, fgMs / 1000, (owned * 1000) / fgMs],
      ['(seeding the dependents, for scale)', owned, seeded / 1000, (owned * 1000) / seeded],
    ]);
    process.stdout.write(`\nhedge server RSS after the runs: ${await rssMiB(server.pid)} MiB\n`);
  } finally {
    await server.stop();
    await server.cleanup();
  }
}

await main();
