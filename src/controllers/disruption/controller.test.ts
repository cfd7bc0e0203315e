import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeKubeClient } from '../../client/fake-client.ts';
import { Resources } from '../../client/resources.ts';
import { silentLogger } from '../../lib/log.ts';
import type { PodObject } from '../common/types.ts';
import { makePod, until } from '../testing/objects.ts';
import { SharedInformers } from '../workloads/informers.ts';
import type { PdbObject } from './budget.ts';
import { DisruptionController } from './controller.ts';

const readyPod = (name: string, namespace: string, labels: Record<string, string> = { app: 'web' }): PodObject => ({
  ...makePod(name, { namespace, labels }),
  status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
});
const budget = (namespace: string): PdbObject => ({
  apiVersion: 'policy/v1',
  kind: 'PodDisruptionBudget',
  metadata: { name: 'web', namespace, generation: 1 },
  spec: { minAvailable: 1, selector: { matchLabels: { app: 'web' } } },
});

test('a pod event syncs only the budgets of its namespace that select it (upstream getPdbsForPod), each counting its own namespace', async () => {
  const client = new FakeKubeClient();
  for (const ns of ['a', 'b', 'c']) await client.create(Resources.namespaces, { metadata: { name: ns } });
  for (const ns of ['a', 'b']) await client.create(Resources.poddisruptionbudgets, budget(ns));
  await client.create(Resources.pods, readyPod('web-1', 'a'));
  await client.create(Resources.pods, readyPod('web-2', 'a'));
  await client.create(Resources.pods, readyPod('web-1', 'b'));
  const informers = new SharedInformers({ client, logger: silentLogger() });
  const c = new DisruptionController({ client, logger: silentLogger(), informers });
  const enqueued: string[] = [];
  const add = c.queue.add.bind(c.queue);
  c.queue.add = (key: string) => {
    enqueued.push(key);
    add(key);
  };
  const ac = new AbortController();
  informers.start(ac.signal);
  const done = c.run(ac.signal);
  const status = async (ns: string) => (await client.get<PdbObject>(Resources.poddisruptionbudgets, 'web', { namespace: ns })).status;
  try {
    await until(async () => (await status('a'))?.currentHealthy === 2 && (await status('b'))?.currentHealthy === 1, 'both budgets synced');
    assert.deepEqual(await status('a').then((s) => [s?.expectedPods, s?.disruptionsAllowed]), [2, 1]);
    assert.deepEqual(await status('b').then((s) => [s?.expectedPods, s?.disruptionsAllowed]), [1, 0]);

    enqueued.length = 0;
    await client.create(Resources.pods, readyPod('web-2', 'b'));
    await until(async () => (await status('b'))?.currentHealthy === 2, 'b counts its new pod');
    // (b/web again for its own status write)
    assert.deepEqual([...new Set(enqueued)], ['b/web'], 'the pod in b syncs b/web only');
    assert.equal((await status('a'))?.currentHealthy, 2, "a's budget never counts b's pods");

    enqueued.length = 0;
    await client.create(Resources.pods, readyPod('other', 'b', { app: 'db' }));
    await client.create(Resources.pods, readyPod('web-1', 'c'));
    await until(() => informers.for<PodObject>(Resources.pods).size === 6, 'the pods cached');
    assert.deepEqual(enqueued, [], 'a pod no budget selects, or in a namespace without budgets, syncs nothing');
  } finally {
    ac.abort();
    await done.catch(() => undefined);
    await informers.done();
  }
});
