import { test } from 'node:test';
import type { ClusterRole } from 'kubernetes-types/rbac/v1.js';
import { FakeKubeClient } from '../../client/fake-client.ts';
import { silentLogger } from '../../lib/log.ts';
import { until } from '../testing/objects.ts';
import { ClusterRoleAggregationController, clusterRolesRef } from './controller.ts';

const role = (name: string, labels: Record<string, string>, resources: string[]) => ({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'ClusterRole',
  metadata: { name, labels },
  rules: resources.map((r) => ({ apiGroups: ['example.com'], resources: [r], verbs: ['get'] })),
});

test('aggregated ClusterRoles follow the roles their selectors pick: added, changed, removed', async () => {
  const client = new FakeKubeClient();
  await client.create(clusterRolesRef, {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name: 'monitoring' },
    aggregationRule: { clusterRoleSelectors: [{ matchLabels: { 'example.com/aggregate-to-monitoring': 'true' } }] },
    rules: [],
  });
  await client.create(clusterRolesRef, role('crontabs-view', { 'example.com/aggregate-to-monitoring': 'true' }, ['crontabs']));
  await client.create(clusterRolesRef, role('unrelated', {}, ['secrets']));
  const ac = new AbortController();
  const c = new ClusterRoleAggregationController({ client, logger: silentLogger() });
  const done = c.run(ac.signal);
  const resources = async (): Promise<string[]> =>
    (((await client.get(clusterRolesRef, 'monitoring')) as unknown as ClusterRole).rules ?? []).flatMap((r) => r.resources ?? []);
  try {
    await until(async () => (await resources()).join() === 'crontabs', 'initial aggregation');
    await client.create(clusterRolesRef, role('backups-view', { 'example.com/aggregate-to-monitoring': 'true' }, ['backups']));
    await until(async () => (await resources()).join() === 'backups,crontabs', 'a new labelled role is picked up (name order)');
    await client.patch(clusterRolesRef, 'crontabs-view', 'merge', { metadata: { labels: { 'example.com/aggregate-to-monitoring': null } } });
    await until(async () => (await resources()).join() === 'backups', 'a role whose label is removed drops out');
    await client.delete(clusterRolesRef, 'backups-view');
    await until(async () => (await resources()).join() === '', 'a deleted role drops out');
  } finally {
    ac.abort();
    await done;
  }
});
