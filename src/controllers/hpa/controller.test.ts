import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Deployment } from 'kubernetes-types/apps/v1.js';
import type { KubeObject } from '../../api/object.ts';
import type { Clock } from '../../client/clock.ts';
import { Resources } from '../../client/resources.ts';
import { silentLogger } from '../../lib/log.ts';
import type { PodObject } from '../common/types.ts';
import { SharedInformers } from '../workloads/informers.ts';
import { deployment, ns, startWorkloadsHarness, waitFor, type WorkloadsHarness } from '../workloads/testing/api-harness.ts';
import { HpaController, hpaRef, type HpaObject } from './controller.ts';
import type { PodUsage, ResourceMetricsSource } from './metrics-source.ts';

/** per-pod CPU (millicores) the test sets; pods of the selector not listed have no metrics */
class FakeMetrics implements ResourceMetricsSource {
  perPod = 0;
  calls = 0;
  constructor(private readonly h: () => WorkloadsHarness) {}
  async podUsage(opts: { namespace: string; selector: string }): Promise<Map<string, PodUsage>> {
    this.calls++;
    const pods = (await this.h().client.list<PodObject>(Resources.pods, { namespace: opts.namespace, labelSelector: opts.selector })).items;
    return new Map(pods.map((p) => [p.metadata.name ?? '', { value: this.perPod, timestamp: Date.now() }]));
  }
}

describe('HPA controller against the real apiserver, with a fake metrics source', () => {
  let h: WorkloadsHarness;
  let hpa: HpaController;
  const ac = new AbortController();
  let t = Date.parse('2026-12-03T10:00:00Z');
  const clock: Clock = { now: () => t, sleep: () => Promise.resolve() };
  const metrics = new FakeMetrics(() => h);
  let informers: SharedInformers;

  before(async () => {
    h = await startWorkloadsHarness();
    informers = new SharedInformers({ client: h.client, logger: silentLogger() });
    hpa = new HpaController({ client: h.client, logger: silentLogger(), informers, metrics, clock });
    informers.start(ac.signal);
    await informers.waitForSync(ac.signal);
  });
  after(async () => {
    ac.abort();
    await informers.done();
    await h.close();
  });

  const get = (name: string): Promise<HpaObject> => h.client.get<HpaObject>(hpaRef, name, { namespace: ns });
  const replicas = async (name: string): Promise<number | undefined> => (await h.client.get<Deployment & KubeObject>(Resources.deployments, name, { namespace: ns })).spec?.replicas;
  const sync = async (name: string): Promise<HpaObject> => {
    await hpa.sync(`${ns}/${name}`, ac.signal);
    return get(name);
  };
  const cond = (o: HpaObject, type: string): string => {
    const c = o.status?.conditions?.find((x) => x.type === type);
    return `${c?.status ?? ''}/${c?.reason ?? ''}`;
  };

  it('scales a Deployment up on CPU utilization, down after the stabilization window, within min/max', async () => {
    const template = { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'busybox', resources: { requests: { cpu: '100m' } } }] } };
    await h.client.create(Resources.deployments, deployment('web', 1, { template }));
    await waitFor('1 pod', async () => (await h.client.list<PodObject>(Resources.pods, { namespace: ns, labelSelector: 'app=web' })).items.length === 1);
    await h.client.create(hpaRef, {
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'web', namespace: ns },
      spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, minReplicas: 1, maxReplicas: 4, metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 50 } } }] },
    } as HpaObject);
    // the first sync that finds the HPA in the informer cache writes its status
    await waitFor('informer sees the HPA', async () => {
      await hpa.sync(`${ns}/web`, ac.signal);
      return (await get('web')).status?.conditions !== undefined;
    });

    // 150m per pod against 100m requested at a 50% target: 300% → ceil(1 × 3) = 3
    metrics.perPod = 150;
    let o = await sync('web');
    assert.equal(await replicas('web'), 3);
    assert.equal(o.status?.desiredReplicas, 3);
    assert.equal(o.status?.currentMetrics?.[0]?.resource?.current.averageUtilization, 150);
    assert.equal(cond(o, 'AbleToScale'), 'True/SucceededRescale');
    assert.equal(cond(o, 'ScalingActive'), 'True/ValidMetricFound');
    assert.equal(cond(o, 'ScalingLimited'), 'False/DesiredWithinRange');
    assert.ok(o.status?.lastScaleTime);
    await waitFor('3 pods', async () => (await h.client.list<PodObject>(Resources.pods, { namespace: ns, labelSelector: 'app=web' })).items.length === 3);

    // far above: capped by maxReplicas
    t += 30_000;
    metrics.perPod = 500;
    o = await sync('web');
    assert.equal(await replicas('web'), 4);
    assert.equal(cond(o, 'ScalingLimited'), 'True/TooManyReplicas');
    await waitFor('4 pods', async () => (await h.client.list<PodObject>(Resources.pods, { namespace: ns, labelSelector: 'app=web' })).items.length === 4);

    // idle: the 5 minute window holds the highest recent recommendation
    t += 30_000;
    metrics.perPod = 5;
    o = await sync('web');
    assert.equal(await replicas('web'), 4, 'still within the scale-down stabilization window');
    assert.equal(o.status?.desiredReplicas, 4);
    assert.equal(cond(o, 'AbleToScale'), 'True/ScaleDownStabilized');

    // after the window: down to minReplicas (5m on 4 pods → ceil(0.4) = 1)
    t += 301_000;
    o = await sync('web');
    assert.equal(await replicas('web'), 1);
    assert.equal(o.status?.desiredReplicas, 1);

    // within tolerance nothing moves
    t += 30_000;
    metrics.perPod = 52;
    await sync('web');
    assert.equal(await replicas('web'), 1);
  });

  it('reports missing requests and an unknown target as conditions, without scaling', async () => {
    await h.client.create(Resources.deployments, deployment('noreq', 2));
    await waitFor('2 pods', async () => (await h.client.list<PodObject>(Resources.pods, { namespace: ns, labelSelector: 'app=noreq' })).items.length === 2);
    for (const [name, target] of [['noreq', 'noreq'], ['ghost', 'nothing-here']]) {
      await h.client.create(hpaRef, {
        apiVersion: 'autoscaling/v2',
        kind: 'HorizontalPodAutoscaler',
        metadata: { name, namespace: ns },
        spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: target }, maxReplicas: 5 },
      } as HpaObject);
    }
    metrics.perPod = 500;
    const noreq = await waitFor('noreq status', async () => {
      const o = await sync('noreq');
      return o.status?.conditions ? o : undefined;
    });
    assert.equal(cond(noreq, 'ScalingActive'), 'False/FailedGetResourceMetric');
    assert.match(noreq.status?.conditions?.find((c) => c.type === 'ScalingActive')?.message ?? '', /missing request for cpu/);
    assert.equal(noreq.spec?.minReplicas, 1, 'defaulted');
    assert.deepEqual(noreq.spec?.metrics, [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } } }], 'defaulted');
    assert.equal(await replicas('noreq'), 2);
    const ghost = await waitFor('ghost status', async () => {
      const o = await sync('ghost');
      return o.status?.conditions ? o : undefined;
    });
    assert.equal(cond(ghost, 'AbleToScale'), 'False/FailedGetScale');
  });

  it('rejects an invalid HPA with a 422 naming the field', async () => {
    await assert.rejects(
      h.client.create(hpaRef, { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name: 'bad', namespace: ns }, spec: { scaleTargetRef: { kind: 'Deployment', name: 'x' }, minReplicas: 3, maxReplicas: 2 } } as HpaObject),
      (err: Error) => /spec\.maxReplicas/.test(err.message),
    );
  });
});
