import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Deployment, ReplicaSet } from 'kubernetes-types/apps/v1.js';
import type { KubeObject } from '../../api/object.ts';
import { Resources } from '../../client/resources.ts';
import type { PodObject } from '../common/types.ts';
import { deployment, ns, startWorkloadsHarness, waitFor, type WorkloadsHarness } from './testing/api-harness.ts';

type Dep = Deployment & KubeObject;
type Rs = ReplicaSet & KubeObject;

describe('deployment and replicaset controllers against the real apiserver', () => {
  let h: WorkloadsHarness;
  before(async () => {
    h = await startWorkloadsHarness();
  });
  after(async () => {
    await h.close();
  });

  const get = (name: string): Promise<Dep> => h.client.get<Dep>(Resources.deployments, name, { namespace: ns });
  const rsOf = async (name: string): Promise<Rs[]> =>
    (await h.client.list<Rs>(Resources.replicasets, { namespace: ns })).items.filter((rs) => rs.metadata.ownerReferences?.some((o) => o.name === name));
  const podsOf = async (app: string): Promise<PodObject[]> => (await h.client.list<PodObject>(Resources.pods, { namespace: ns, labelSelector: `app=${app}` })).items;
  const complete = (name: string, replicas: number) =>
    waitFor(`${name} complete with ${replicas}`, async () => {
      const d = await get(name);
      const st = d.status;
      const progressing = st?.conditions?.find((c) => c.type === 'Progressing');
      return (
        (st?.observedGeneration ?? 0) >= (d.metadata.generation ?? 0) &&
        st?.updatedReplicas === replicas &&
        st?.availableReplicas === replicas &&
        (st?.replicas ?? 0) === replicas &&
        progressing?.reason === 'NewReplicaSetAvailable' &&
        d
      );
    });

  it('rolls out, then rolls a new template with zero unavailable and bounded surge, readiness-gated', async () => {
    await h.client.create(Resources.deployments, deployment('web', 4, { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } } }));
    const d = await complete('web', 4);
    assert.equal(d.metadata.annotations?.['deployment.kubernetes.io/revision'], '1');
    const [rs1] = await rsOf('web');
    assert.equal(rs1.metadata.annotations?.['deployment.kubernetes.io/revision'], '1');
    assert.match(rs1.metadata.name ?? '', /^web-[bcdfghjklmnpqrstvwxz2456789]+$/);

    // new pods are not ready at first: the rollout must stall with all old pods serving
    h.ready = (p) => p.metadata.labels?.['pod-template-hash'] === rs1.metadata.labels?.['pod-template-hash'];
    await h.client.patch(Resources.deployments, 'web', 'strategic', { spec: { template: { spec: { containers: [{ name: 'c', env: [{ name: 'V', value: '2' }] }] } } } }, { namespace: ns });
    let minAvailable = Infinity;
    let maxPods = 0;
    const watch = setInterval(() => {
      void podsOf('web').then((pods) => {
        const live = pods.filter((p) => !p.metadata.deletionTimestamp);
        maxPods = Math.max(maxPods, live.length);
        minAvailable = Math.min(minAvailable, live.filter((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length);
      });
    }, 10);
    await waitFor('a surge pod', async () => (await rsOf('web')).length === 2 && (await podsOf('web')).length === 5);
    await new Promise((r) => setTimeout(r, 500));
    const stalled = await rsOf('web');
    const oldRs = stalled.find((rs) => rs.metadata.name === rs1.metadata.name);
    assert.equal(oldRs?.spec?.replicas, 4, 'old ReplicaSet keeps every replica while the new pod is not ready');
    h.ready = () => true;
    const done = await complete('web', 4);
    clearInterval(watch);
    assert.equal(done.metadata.annotations?.['deployment.kubernetes.io/revision'], '2');
    assert.ok(minAvailable >= 4, `never fewer than 4 ready pods (saw ${minAvailable})`);
    assert.ok(maxPods <= 5, `never more than 5 pods (saw ${maxPods})`);
    const after2 = await rsOf('web');
    assert.equal(after2.find((rs) => rs.metadata.name === rs1.metadata.name)?.spec?.replicas, 0);

    // rollback (what kubectl rollout undo does): the old template comes back and revision 3 reuses rs1
    await h.client.patch(Resources.deployments, 'web', 'strategic', { spec: { template: { spec: { containers: [{ name: 'c', env: [{ name: 'V', value: '1' }] }] } } } }, { namespace: ns });
    const back = await complete('web', 4);
    assert.equal(back.metadata.annotations?.['deployment.kubernetes.io/revision'], '3');
    const rs1again = (await rsOf('web')).find((rs) => rs.metadata.name === rs1.metadata.name);
    assert.equal(rs1again?.spec?.replicas, 4);
    assert.equal(rs1again?.metadata.annotations?.['deployment.kubernetes.io/revision'], '3');
  });

  it('scales through the scale subresource and Recreate replaces all pods at once', async () => {
    await h.client.create(Resources.deployments, deployment('rec', 2, { strategy: { type: 'Recreate' } }));
    await complete('rec', 2);
    const scaled = await h.t.json<{ spec: { replicas: number } }>(`/apis/apps/v1/namespaces/${ns}/deployments/rec/scale`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/merge-patch+json' },
      body: JSON.stringify({ spec: { replicas: 3 } }),
    });
    assert.equal(scaled.status, 200);
    assert.equal(scaled.body.spec.replicas, 3);
    await complete('rec', 3);
    await h.client.patch(Resources.deployments, 'rec', 'merge', { spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': 'now' } } } } }, { namespace: ns });
    await complete('rec', 3);
    const sets = await rsOf('rec');
    assert.equal(sets.length, 2);
    assert.deepEqual(sets.map((rs) => rs.spec?.replicas).sort(), [0, 3]);
  });

  it('reports ProgressDeadlineExceeded when pods never become ready', async () => {
    h.ready = (p) => p.metadata.labels?.app !== 'stuck';
    await h.client.create(Resources.deployments, deployment('stuck', 1, { progressDeadlineSeconds: 1 }));
    const d = await waitFor('deadline exceeded', async () => {
      const x = await get('stuck');
      return x.status?.conditions?.some((c) => c.type === 'Progressing' && c.reason === 'ProgressDeadlineExceeded') && x;
    });
    assert.equal(d.status?.conditions?.find((c) => c.type === 'Available')?.status, 'False');
    h.ready = () => true;
  });

  it('keeps revisionHistoryLimit old ReplicaSets', async () => {
    await h.client.create(Resources.deployments, deployment('hist', 1, { revisionHistoryLimit: 1 }));
    for (const v of ['a', 'b', 'c']) {
      await h.client.patch(Resources.deployments, 'hist', 'strategic', { spec: { template: { spec: { containers: [{ name: 'c', env: [{ name: 'V', value: v }] }] } } } }, { namespace: ns });
      await complete('hist', 1);
    }
    await waitFor('history trimmed', async () => (await rsOf('hist')).length === 2);
  });
});
