import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KubeObject } from '../../api/object.ts';
import type { PersistentVolumeClaimObject } from '../../api/storage/claims.ts';
import { FakeKubeClient } from '../../client/fake-client.ts';
import { Resources } from '../../client/resources.ts';
import { silentLogger } from '../../lib/log.ts';
import { until } from '../testing/objects.ts';
import { SharedInformers } from '../workloads/informers.ts';
import { EphemeralVolumeController } from './ephemeral.ts';

const ephemeralPod = (name: string, uid: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'default', uid },
  spec: {
    containers: [{ name: 'c', image: 'busybox' }],
    volumes: [
      { name: 'scratch', ephemeral: { volumeClaimTemplate: { metadata: { labels: { type: 'scratch' } }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } } } },
      { name: 'cfg', configMap: { name: 'x' } },
    ],
  },
});

test('ephemeral volumes: the claim <pod>-<volume> is made from the template and owned by the pod; someone else\'s claim of that name is left alone with a Warning', async () => {
  const client = new FakeKubeClient();
  const informers = new SharedInformers({ client, logger: silentLogger() });
  const c = new EphemeralVolumeController({ client, logger: silentLogger(), informers });
  const ac = new AbortController();
  informers.start(ac.signal);
  const running = c.run(ac.signal);
  try {
    const pod = await client.create(Resources.pods, ephemeralPod('web', 'uid-1'));
    let claim: PersistentVolumeClaimObject | undefined;
    await until(async () => (claim = (await client.list<PersistentVolumeClaimObject>(Resources.persistentvolumeclaims, { namespace: 'default' })).items[0]) !== undefined, 'claim');
    assert.equal(claim?.metadata.name, 'web-scratch');
    assert.deepEqual(claim?.metadata.labels, { type: 'scratch' });
    assert.deepEqual(claim?.metadata.ownerReferences, [{ apiVersion: 'v1', kind: 'Pod', name: 'web', uid: pod.metadata.uid, controller: true, blockOwnerDeletion: true }]);
    assert.deepEqual(claim?.spec?.resources, { requests: { storage: '1Gi' } });

    await client.create(Resources.persistentvolumeclaims, { metadata: { name: 'db-scratch', namespace: 'default' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } } as KubeObject);
    await client.create(Resources.pods, ephemeralPod('db', 'uid-2'));
    await until(async () => (await client.list<KubeObject & { reason?: string }>(Resources.events, { namespace: 'default' })).items.some((e) => e.reason === 'FailedBinding'), 'warning');
    const [ev] = (await client.list<KubeObject & { message?: string }>(Resources.events, { namespace: 'default' })).items;
    assert.equal(ev.message, 'PVC default/db-scratch was not created for pod default/db (pod is not owner)');
    const theirs = await client.get<PersistentVolumeClaimObject>(Resources.persistentvolumeclaims, 'db-scratch', { namespace: 'default' });
    assert.equal(theirs.metadata.ownerReferences, undefined, 'not taken over');
  } finally {
    ac.abort();
    await running;
    await informers.done();
  }
});
