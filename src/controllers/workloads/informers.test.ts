import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../lib/log.ts';
import { FakeKubeClient } from '../../client/fake-client.ts';
import { Resources } from '../../client/resources.ts';
import { SharedInformerFactory } from '../../client/shared-informers.ts';
import type { PodObject } from '../common/types.ts';
import { makePod, until } from '../testing/objects.ts';
import { SharedInformers } from './informers.ts';

test('two terms over one factory: one watch; a term that ends takes its handlers, the watch stays for the other', async () => {
  const client = new FakeKubeClient();
  const factory = new SharedInformerFactory({ client, logger: silentLogger() });
  const seen = { a: [] as string[], b: [] as string[] };
  const a = new SharedInformers({ client, logger: silentLogger(), factory });
  const b = new SharedInformers({ client, logger: silentLogger(), factory });
  a.for<PodObject>(Resources.pods).addHandlers({ onAdd: (p) => seen.a.push(p.metadata.name ?? '') });
  b.for<PodObject>(Resources.pods).addHandlers({ onAdd: (p) => seen.b.push(p.metadata.name ?? '') });
  await client.create(Resources.pods, makePod('before'));
  const termA = new AbortController();
  const termB = new AbortController();
  a.start(termA.signal);
  await a.waitForSync(termA.signal);
  // b joins the synced informer late: it is given the cache as adds
  b.start(termB.signal);
  await b.waitForSync(termB.signal);
  assert.deepEqual(seen, { a: ['before'], b: ['before'] });
  assert.equal(factory.running, 1);
  assert.equal(client.openWatches, 1);

  termA.abort();
  await a.done();
  await client.create(Resources.pods, makePod('after'));
  await until(async () => seen.b.includes('after'), 'b sees the new pod');
  assert.deepEqual(seen.a, ['before'], 'a ended its term: no more events');
  assert.equal(b.for<PodObject>(Resources.pods).get('after', 'default')?.metadata.name, 'after');

  termB.abort();
  await b.done();
  assert.equal(factory.running, 0, 'the last user stopped the informer');
  assert.equal(client.openWatches, 0);
  assert.equal(client.calls.filter((c) => c.verb === 'watch').length, 1);
});
