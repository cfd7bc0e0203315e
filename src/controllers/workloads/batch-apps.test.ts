import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DaemonSet, StatefulSet } from 'kubernetes-types/apps/v1.js';
import type { CronJob, Job } from 'kubernetes-types/batch/v1.js';
import type { KubeObject } from '../../api/object.ts';
import { Resources } from '../../client/resources.ts';
import { isHedgeError } from '../../lib/errors.ts';
import type { PodObject } from '../common/types.ts';
import { makeNode } from '../testing/objects.ts';
import { targetNode } from './daemonset.ts';
import { ns, startWorkloadsHarness, waitFor, type WorkloadsHarness } from './testing/api-harness.ts';

const tmpl = (labels: Record<string, string>, restartPolicy = 'Always'): Record<string, unknown> => ({
  metadata: { labels },
  spec: { restartPolicy, containers: [{ name: 'c', image: 'busybox' }] },
});

describe('job, cronjob, daemonset and statefulset controllers against the real apiserver', () => {
  let h: WorkloadsHarness;
  before(async () => {
    h = await startWorkloadsHarness();
  });
  after(async () => {
    await h.close();
  });
  const pods = async (selector: string): Promise<PodObject[]> => (await h.client.list<PodObject>(Resources.pods, { namespace: ns, labelSelector: selector })).items;

  it('a Job runs completions pods, parallelism at a time, then completes and is deleted after its TTL', async () => {
    let maxActive = 0;
    h.finish = (p) => (p.metadata.labels?.['job-name'] === 'batch' ? 'Succeeded' : undefined);
    // the TTL leaves the polls below time to see the finished Job and its pods on a loaded machine
    // (with 1 s, a poll held up that long found the Job already deleted)
    await h.client.create(Resources.jobs, { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'batch', namespace: ns }, spec: { completions: 4, parallelism: 2, ttlSecondsAfterFinished: 5, template: tmpl({}, 'Never') } });
    const job = await waitFor('complete', async () => {
      const j = await h.client.get<Job & KubeObject>(Resources.jobs, 'batch', { namespace: ns });
      maxActive = Math.max(maxActive, j.status?.active ?? 0);
      return j.status?.conditions?.some((c) => c.type === 'Complete' && c.status === 'True') && j;
    });
    assert.equal(job.status?.succeeded, 4);
    assert.ok(job.status?.completionTime);
    assert.ok(maxActive <= 2, `parallelism respected (saw ${maxActive})`);
    assert.equal((await pods('job-name=batch')).length, 4, 'finished pods are kept for logs');
    await waitFor('ttl deletes the job and GC its pods', async () => {
      try {
        await h.client.get(Resources.jobs, 'batch', { namespace: ns });
        return false;
      } catch (err) {
        return isHedgeError(err, 'NotFound') && (await pods('job-name=batch')).length === 0;
      }
    });
  });

  it('a Job fails after backoffLimit failed pods', async () => {
    h.finish = (p) => (p.metadata.labels?.['job-name'] === 'bad' ? 'Failed' : undefined);
    await h.client.create(Resources.jobs, { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'bad', namespace: ns }, spec: { backoffLimit: 1, template: tmpl({}, 'Never') } });
    const job = await waitFor('failed', async () => {
      const j = await h.client.get<Job & KubeObject>(Resources.jobs, 'bad', { namespace: ns });
      return j.status?.conditions?.some((c) => c.type === 'Failed' && c.status === 'True') && j;
    });
    assert.equal(job.status?.failed, 2);
    assert.equal(job.status?.conditions?.find((c) => c.type === 'Failed')?.reason, 'BackoffLimitExceeded');
    h.finish = () => undefined;
  });

  it('a CronJob fires a Job at its schedule', async () => {
    h.finish = (p) => (p.metadata.labels?.['job-name']?.startsWith('tick-') ? 'Succeeded' : undefined);
    // created "a while ago" is not possible; every minute, and the test waits for the next minute boundary
    await h.client.create(Resources.cronjobs, {
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: { name: 'tick', namespace: ns },
      spec: { schedule: '* * * * *', jobTemplate: { spec: { template: tmpl({}, 'OnFailure') } } },
    });
    const cj = await waitFor(
      'a scheduled job',
      async () => {
        const jobs = (await h.client.list<Job & KubeObject>(Resources.jobs, { namespace: ns })).items.filter((j) => j.metadata.name?.startsWith('tick-'));
        const c = await h.client.get<CronJob & KubeObject>(Resources.cronjobs, 'tick', { namespace: ns });
        return jobs.length > 0 && !!c.status?.lastScheduleTime && jobs[0].metadata.ownerReferences?.[0].kind === 'CronJob' && c;
      },
      75_000,
    );
    assert.ok(cj.status?.lastScheduleTime);
    h.finish = () => undefined;
  });

  it('a DaemonSet puts one pod on each eligible node, honouring nodeSelector and taints, and rolls to a new template', async () => {
    await h.client.create(Resources.nodes, makeNode('n1', { labels: { edge: 'yes' } }));
    await h.client.create(Resources.nodes, makeNode('n2', { labels: { edge: 'yes' }, taints: [{ key: 'dedicated', value: 'x', effect: 'NoSchedule' }] }));
    await h.client.create(Resources.nodes, makeNode('n3', { labels: { edge: 'no' } }));
    // an unreachable, autonomous edge node keeps its daemon pod
    await h.client.create(Resources.nodes, makeNode('n4', { labels: { edge: 'yes' }, annotations: { 'hedge.io/autonomy': 'true' }, taints: [{ key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' }], ready: 'Unknown' }));
    await h.client.create(Resources.daemonsets, {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name: 'agent', namespace: ns },
      spec: { selector: { matchLabels: { app: 'agent' } }, template: { ...tmpl({ app: 'agent' }), spec: { nodeSelector: { edge: 'yes' }, containers: [{ name: 'c', image: 'busybox' }] } } },
    });
    const placed = await waitFor('pods on n1 and n4', async () => {
      const ps = await pods('app=agent');
      const nodes = ps.map((p) => targetNode(p)).sort();
      return JSON.stringify(nodes) === JSON.stringify(['n1', 'n4']) && ps;
    });
    assert.ok(placed[0].spec?.tolerations?.some((t) => t.key === 'node.kubernetes.io/unreachable' && t.tolerationSeconds === undefined));
    const ds = await waitFor('status', async () => {
      const d = await h.client.get<DaemonSet & KubeObject>(Resources.daemonsets, 'agent', { namespace: ns });
      return d.status?.desiredNumberScheduled === 2 && d.status.numberAvailable === 2 && d;
    });
    assert.equal(ds.status?.updatedNumberScheduled, 2);
    await h.client.patch(Resources.daemonsets, 'agent', 'strategic', { spec: { template: { spec: { containers: [{ name: 'c', image: 'busybox:2' }] } } } }, { namespace: ns });
    await waitFor('rolled', async () => {
      const ps = (await pods('app=agent')).filter((p) => !p.metadata.deletionTimestamp);
      return ps.length === 2 && ps.every((p) => p.spec?.containers[0].image === 'busybox:2');
    });
    const revs = (await h.client.list<KubeObject & { revision: number }>(Resources.controllerrevisions, { namespace: ns })).items.filter((r) => r.metadata.name?.startsWith('agent-'));
    assert.deepEqual(revs.map((r) => r.revision).sort(), [1, 2]);
  });

  it('a StatefulSet creates ordered, stable names and scales down from the top', async () => {
    const order: string[] = [];
    h.ready = (p) => {
      if (p.metadata.labels?.app === 'db' && !order.includes(p.metadata.name ?? '')) order.push(p.metadata.name ?? '');
      return true;
    };
    await h.client.create(Resources.statefulsets, {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 'db', namespace: ns },
      spec: { replicas: 3, serviceName: 'db', selector: { matchLabels: { app: 'db' } }, template: tmpl({ app: 'db' }) },
    });
    await waitFor('3 ready', async () => (await h.client.get<StatefulSet & KubeObject>(Resources.statefulsets, 'db', { namespace: ns })).status?.readyReplicas === 3);
    assert.deepEqual(order, ['db-0', 'db-1', 'db-2']);
    const p0 = (await pods('app=db')).find((p) => p.metadata.name === 'db-0');
    assert.equal(p0?.spec?.hostname, 'db-0');
    assert.equal(p0?.spec?.subdomain, 'db');
    await h.client.patch(Resources.statefulsets, 'db', 'merge', { spec: { replicas: 1 } }, { namespace: ns });
    await waitFor('scaled to 1', async () => JSON.stringify((await pods('app=db')).map((p) => p.metadata.name)) === '["db-0"]');
    h.ready = () => true;
  });

  it('a StatefulSet makes a claim per template and ordinal before the pod, keeps it across pod re-creation, and whenScaled Delete hands it to the scaled-away pod', async () => {
    h.ready = () => true;
    await h.client.create(Resources.statefulsets, {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 'web', namespace: ns },
      spec: {
        replicas: 2,
        podManagementPolicy: 'Parallel',
        serviceName: 'web',
        selector: { matchLabels: { app: 'web' } },
        template: tmpl({ app: 'web' }),
        volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }],
        persistentVolumeClaimRetentionPolicy: { whenScaled: 'Delete', whenDeleted: 'Retain' },
      },
    });
    const claim = (name: string) => h.client.get<KubeObject & { spec?: { storageClassName?: string } }>(Resources.persistentvolumeclaims, name, { namespace: ns }).catch(() => undefined);
    await waitFor('2 pods', async () => (await pods('app=web')).length === 2);
    const first = await claim('data-web-0');
    assert.equal(first?.spec?.storageClassName, 'local-path', 'the default class, by admission');
    assert.deepEqual(first?.metadata.labels, { app: 'web' });
    assert.equal(first?.metadata.ownerReferences, undefined, 'whenDeleted Retain: nobody owns it');
    const web0 = (await pods('app=web')).find((p) => p.metadata.name === 'web-0');
    assert.deepEqual(web0?.spec?.volumes?.find((v) => v.name === 'data')?.persistentVolumeClaim, { claimName: 'data-web-0' });
    // the pod re-created keeps its claim
    await h.client.delete(Resources.pods, 'web-0', { namespace: ns, gracePeriodSeconds: 0 });
    await waitFor('web-0 back', async () => (await pods('app=web')).some((p) => p.metadata.name === 'web-0' && p.metadata.uid !== web0?.metadata.uid && !p.metadata.deletionTimestamp));
    assert.equal((await claim('data-web-0'))?.metadata.uid, first?.metadata.uid);
    // scaled away: the claim of web-1 follows its pod
    await h.client.patch(Resources.statefulsets, 'web', 'merge', { spec: { replicas: 1 } }, { namespace: ns });
    await waitFor('data-web-1 owned by its pod, then deleted', async () => {
      const c = await claim('data-web-1');
      return !c || !!c.metadata.deletionTimestamp;
    });
    assert.ok(await claim('data-web-0'));
  });
});
