import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeKubeClient } from '../../client/fake-client.ts';
import { Resources } from '../../client/resources.ts';
import type { KubeObject } from '../../api/object.ts';
import { silentLogger } from '../../lib/log.ts';
import { until } from '../testing/objects.ts';
import { RootCaCertPublisher } from './controller.ts';

const CA = '-----BEGIN CERTIFICATE-----\nroot\n-----END CERTIFICATE-----\n';

test('root CA publisher: kube-root-ca.crt in every namespace, put back when deleted or changed, none in a terminating one', async () => {
  const client = new FakeKubeClient();
  await client.create(Resources.namespaces, { metadata: { name: 'default' } });
  const ac = new AbortController();
  const c = new RootCaCertPublisher({ client, logger: silentLogger(), rootCa: CA });
  const done = c.run(ac.signal);
  const ca = async (ns: string): Promise<string | undefined> => {
    try {
      return ((await client.get(Resources.configmaps, 'kube-root-ca.crt', { namespace: ns })) as KubeObject & { data?: Record<string, string> }).data?.['ca.crt'];
    } catch {
      return undefined;
    }
  };
  try {
    await until(async () => (await ca('default')) === CA, 'published in an existing namespace');
    const cm = await client.get(Resources.configmaps, 'kube-root-ca.crt', { namespace: 'default' });
    assert.match(cm.metadata.annotations?.['kubernetes.io/description'] ?? '', /verify the kube-apiserver/);
    await client.create(Resources.namespaces, { metadata: { name: 'team' } });
    await until(async () => (await ca('team')) === CA, 'published in a new namespace');
    await client.delete(Resources.configmaps, 'kube-root-ca.crt', { namespace: 'team' });
    await until(async () => (await ca('team')) === CA, 'put back after a delete');
    await client.patch(Resources.configmaps, 'kube-root-ca.crt', 'merge', { data: { 'ca.crt': 'forged', extra: 'x' } }, { namespace: 'team' });
    await until(async () => (await ca('team')) === CA, 'put back after a change');
    const data = ((await client.get(Resources.configmaps, 'kube-root-ca.crt', { namespace: 'team' })) as KubeObject & { data?: Record<string, string> }).data;
    assert.deepEqual(Object.keys(data ?? {}), ['ca.crt'], 'only ca.crt');
    await client.create(Resources.namespaces, { metadata: { name: 'leaving', deletionTimestamp: new Date().toISOString() }, status: { phase: 'Terminating' } } as KubeObject);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(await ca('leaving'), undefined);
  } finally {
    ac.abort();
    await done;
  }
});
