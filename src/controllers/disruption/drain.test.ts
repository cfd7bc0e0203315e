import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { kubectlPath, startKubectlServer, type KubectlRun, type KubectlServer } from '../../apiserver/testing/kubectl.ts';
import { testToken } from '../../apiserver/testing/test-server.ts';
import { HttpKubeClient } from '../../client/http-client.ts';
import { Resources } from '../../client/resources.ts';
import { isHedgeError } from '../../lib/errors.ts';
import { silentLogger } from '../../lib/log.ts';
import type { NodeObject, PodObject } from '../common/types.ts';
import { makeNode } from '../testing/objects.ts';
import { SharedInformers } from '../workloads/informers.ts';
import { WorkloadControllers } from '../workloads/manager.ts';
import { deployment, waitFor } from '../workloads/testing/api-harness.ts';
import type { PdbObject } from './budget.ts';
import { DisruptionController } from './controller.ts';

/**
 * `kubectl drain` against the real apiserver, the workload controllers and the disruption
 * controller. No real node: a stand-in kubelet binds pods to the first schedulable node, reports
 * them Running and Ready, and removes them once they are being deleted.
 */

describe('kubectl drain honours PodDisruptionBudgets', { skip: kubectlPath ? false : 'kubectl not installed' }, () => {
  let k: KubectlServer;
  let client: HttpKubeClient;
  const ac = new AbortController();
  const runs: Promise<unknown>[] = [];
  /** fewest Ready, not-terminating web pods the stand-in kubelet saw since the last reset */
  let minReady = Number.POSITIVE_INFINITY;
  const kubectl = (args: string[]): Promise<KubectlRun> => k.kubectl(args, { timeoutMs: 90_000 });

  before(async () => {
    k = await startKubectlServer('hedge-drain-');
    client = new HttpKubeClient({ server: k.t.url, token: testToken, ca: k.caCert });
    await client.create(Resources.nodes, makeNode('edge-1'));
    await client.create(Resources.nodes, makeNode('edge-2'));
    const workloads = new WorkloadControllers({ client, logger: silentLogger() });
    const informers = new SharedInformers({ client, logger: silentLogger() });
    const disruption = new DisruptionController({ client, logger: silentLogger(), informers });
    informers.start(ac.signal);
    runs.push(workloads.run(ac.signal), disruption.run(ac.signal), standInKubelet(ac.signal), informers.done());
  });
  after(async () => {
    ac.abort();
    await Promise.allSettled(runs);
    await k?.close();
  });

  async function standInKubelet(signal: AbortSignal): Promise<void> {
    const reported = new Set<string>();
    while (!signal.aborted) {
      try {
        const nodes = (await client.list<NodeObject>(Resources.nodes, { signal })).items;
        const pods = (await client.list<PodObject>(Resources.pods, { signal })).items;
        const ready = pods.filter((p) => !p.metadata.deletionTimestamp && (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'));
        if (pods.length > 0) minReady = Math.min(minReady, ready.length);
        for (const p of pods) {
          const name = p.metadata.name ?? '';
          try {
            if (p.metadata.deletionTimestamp) {
              await client.delete(Resources.pods, name, { namespace: 'default', gracePeriodSeconds: 0, signal });
            } else if (!p.spec?.nodeName) {
              const node = nodes.find((n) => !n.spec?.unschedulable);
              if (node) await client.bind({ namespace: 'default', name, nodeName: node.metadata.name ?? '', uid: p.metadata.uid, signal });
            } else if (!reported.has(p.metadata.uid ?? '')) {
              await client.patch(Resources.pods, name, 'merge', { status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } }, { namespace: 'default', subresource: 'status', signal });
              reported.add(p.metadata.uid ?? '');
            }
          } catch (err) {
            if (!isHedgeError(err, 'NotFound') && !isHedgeError(err, 'Conflict')) throw err;
          }
        }
      } catch {
        // the server is going away
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  const budget = (): Promise<PdbObject> => client.get<PdbObject>(Resources.poddisruptionbudgets, 'web', { namespace: 'default' });
  const webPodsOn = async (node: string): Promise<string[]> =>
    (await client.list<PodObject>(Resources.pods, { namespace: 'default' })).items.filter((p) => p.spec?.nodeName === node && !p.metadata.deletionTimestamp).map((p) => p.metadata.name ?? '');

  it('minAvailable 2 of 2: the drain cannot evict and gives up at its timeout; minAvailable 1: one at a time', async () => {
    await client.create(Resources.deployments, deployment('web', 2));
    await client.create(Resources.poddisruptionbudgets, {
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: { name: 'web', namespace: 'default' },
      spec: { minAvailable: 2, selector: { matchLabels: { app: 'web' } } },
    } as PdbObject);
    const st = await waitFor('budget status with 2 healthy', async () => {
      const b = await budget();
      return b.status?.currentHealthy === 2 && b.status;
    });
    assert.deepEqual({ ...st, conditions: st.conditions?.map((c) => [c.type, c.status, c.reason]) }, {
      currentHealthy: 2,
      desiredHealthy: 2,
      expectedPods: 2,
      disruptionsAllowed: 0,
      observedGeneration: 1,
      conditions: [['DisruptionAllowed', 'False', 'InsufficientPods']],
    });
    assert.equal((await webPodsOn('edge-1')).length, 2);

    const blocked = await kubectl(['drain', 'edge-1', '--ignore-daemonsets', '--timeout=5s']);
    assert.notEqual(blocked.code, 0, `drain should fail: ${blocked.stdout}`);
    assert.match(blocked.stderr, /error when evicting pods\/"web-[a-z0-9-]+" -n "default" \(will retry after 5s\): Cannot evict pod as it would violate the pod's disruption budget\./);
    assert.match(blocked.stderr, /global timeout reached: 5s/);
    assert.equal((await webPodsOn('edge-1')).length, 2, 'both pods still on the node');
    assert.equal((await client.get<NodeObject>(Resources.nodes, 'edge-1')).spec?.unschedulable, true, 'cordoned');

    // one disruption at a time: the second eviction waits for the first pod's replacement to be Ready
    const cur = await budget();
    await client.update(Resources.poddisruptionbudgets, { ...cur, spec: { ...cur.spec, minAvailable: 1 } });
    await waitFor('budget allows 1', async () => {
      const b = await budget();
      return b.status?.observedGeneration === 2 && b.status.disruptionsAllowed === 1;
    });
    minReady = Number.POSITIVE_INFINITY;
    const drained = await kubectl(['drain', 'edge-1', '--ignore-daemonsets', '--timeout=60s']);
    assert.equal(drained.code, 0, `drain failed: ${drained.stderr}`);
    assert.equal((drained.stdout.match(/^pod\/web-[a-z0-9-]+ evicted$/gm) ?? []).length, 2, drained.stdout);
    assert.match(drained.stdout, /^node\/edge-1 drained$/m);
    assert.match(drained.stderr, /will retry after 5s\): Cannot evict pod as it would violate the pod's disruption budget\./, 'the second eviction had to wait');
    assert.ok(minReady >= 1, `a Ready web pod at all times (saw ${minReady})`);
    assert.deepEqual(await webPodsOn('edge-1'), []);
    await waitFor('2 replacements on edge-2', async () => (await webPodsOn('edge-2')).length === 2);
  });
});
