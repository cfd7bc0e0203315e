import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { KubeObject } from '../../api/object.ts';
import { Resources } from '../../client/resources.ts';
import { isHedgeError } from '../../lib/errors.ts';
import { deployment, ns, startWorkloadsHarness, waitFor, type WorkloadsHarness } from './testing/api-harness.ts';

describe('garbage collector against the real apiserver', () => {
  let h: WorkloadsHarness;
  before(async () => {
    h = await startWorkloadsHarness();
  });
  after(async () => {
    await h.close();
  });

  const count = async (res: typeof Resources.pods, app: string): Promise<number> =>
    (await h.client.list(res, { namespace: ns, labelSelector: `app=${app}` })).items.length;
  const gone = async (res: typeof Resources.pods, name: string): Promise<boolean> => {
    try {
      await h.client.get(res, name, { namespace: ns });
      return false;
    } catch (err) {
      return isHedgeError(err, 'NotFound');
    }
  };
  const rolledOut = (name: string, n: number) =>
    waitFor(`${name} pods`, async () => (await count(Resources.pods, name)) === n && (await count(Resources.replicasets, name)) === 1);

  it('background: deleting a Deployment removes its ReplicaSets and Pods', async () => {
    await h.client.create(Resources.deployments, deployment('bg', 3));
    await rolledOut('bg', 3);
    await h.client.delete(Resources.deployments, 'bg', { namespace: ns, propagationPolicy: 'Background' });
    await waitFor('dependents gone', async () => (await count(Resources.replicasets, 'bg')) === 0 && (await count(Resources.pods, 'bg')) === 0);
  });

  it('orphan: the ReplicaSet and Pods stay, without the owner reference', async () => {
    await h.client.create(Resources.deployments, deployment('orph', 2));
    await rolledOut('orph', 2);
    await h.client.delete(Resources.deployments, 'orph', { namespace: ns, propagationPolicy: 'Orphan' });
    await waitFor('deployment gone', () => gone(Resources.deployments, 'orph'));
    const sets = (await h.client.list(Resources.replicasets, { namespace: ns, labelSelector: 'app=orph' })).items;
    assert.equal(sets.length, 1);
    assert.equal(sets[0].metadata.ownerReferences, undefined);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await count(Resources.pods, 'orph'), 2);
  });

  it('foreground: the owner stays until its blocking dependents are gone', async () => {
    await h.client.create(Resources.deployments, deployment('fg', 2));
    await rolledOut('fg', 2);
    const out = await h.client.delete(Resources.deployments, 'fg', { namespace: ns, propagationPolicy: 'Foreground' });
    assert.ok(out?.metadata.finalizers?.includes('foregroundDeletion'));
    await waitFor('owner gone', () => gone(Resources.deployments, 'fg'));
    assert.equal(await count(Resources.replicasets, 'fg'), 0);
    assert.equal(await count(Resources.pods, 'fg'), 0);
  });

  it('an object whose owner never existed is collected; one with a live second owner only loses the dangling reference', async () => {
    const cm = (name: string, owners: { name: string; uid: string }[]): KubeObject => ({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name, namespace: ns, ownerReferences: owners.map((o) => ({ apiVersion: 'v1', kind: 'ConfigMap', name: o.name, uid: o.uid })) },
    });
    const owner = await h.client.create<KubeObject>(Resources.configmaps, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'owner', namespace: ns } });
    await h.client.create(Resources.configmaps, cm('dangling', [{ name: 'nobody', uid: '00000000-0000-0000-0000-000000000000' }]));
    await h.client.create(Resources.configmaps, cm('shared', [{ name: 'nobody', uid: '00000000-0000-0000-0000-000000000000' }, { name: 'owner', uid: owner.metadata.uid ?? '' }]));
    await waitFor('dangling collected', () => gone(Resources.configmaps, 'dangling'));
    const shared = await waitFor('dangling ref dropped', async () => {
      const s = await h.client.get(Resources.configmaps, 'shared', { namespace: ns });
      return s.metadata.ownerReferences?.length === 1 && s;
    });
    assert.equal(shared.metadata.ownerReferences?.[0].name, 'owner');
  });
});
