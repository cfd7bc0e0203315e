import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { HedgeError } from '../../lib/errors.ts';
import type { AdmissionPlugin } from '../admission/types.ts';
import { until } from '../testing/until.ts';
import { startTestServer, type TestServer } from '../testing/test-server.ts';

describe('the default ServiceAccount controller', () => {
  let t: TestServer;
  /** `default` accounts refused in these namespaces (the store failing, as far as the server can tell) */
  const failing = new Map<string, number>();
  const attempts = new Map<string, number>();
  const flaky: AdmissionPlugin = {
    name: 'FlakyStore',
    validate(req) {
      if (req.operation !== 'CREATE' || req.def.plural !== 'serviceaccounts' || req.name !== 'default') return;
      attempts.set(req.namespace, (attempts.get(req.namespace) ?? 0) + 1);
      const left = failing.get(req.namespace) ?? 0;
      if (left > 0) {
        failing.set(req.namespace, left - 1);
        throw new HedgeError('Unavailable', 'etcdserver: request timed out');
      }
    },
  };
  const status = async (path: string) => (await t.request(path)).status;
  const post = (path: string, body: unknown) => t.json(path, { method: 'POST', headers: { authorization: 'Bearer test-token', 'content-type': 'application/json' }, body: JSON.stringify(body) });

  before(async () => {
    t = await startTestServer({ admissionPlugins: [flaky], defaultAccountBackoff: { initialMs: 20, maxMs: 200 } });
  });
  after(() => t.close());

  it('makes the account again, with backoff, when its create with the namespace failed', async () => {
    failing.set('flaky', 3);
    assert.equal((await post('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'flaky' } })).status, 201);
    await until('the default account', async () => (await status('/api/v1/namespaces/flaky/serviceaccounts/default')) === 200);
    // the hook's try, then the controller's three (two refused with backoff, one made)
    assert.ok((attempts.get('flaky') ?? 0) >= 4, `attempts: ${attempts.get('flaky')}`);
  });

  it('keeps trying while creates keep failing, and then makes it', async () => {
    failing.set('stubborn', 8);
    assert.equal((await post('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'stubborn' } })).status, 201);
    await until('the default account', async () => (await status('/api/v1/namespaces/stubborn/serviceaccounts/default')) === 200, 10_000);
    assert.equal(failing.get('stubborn'), 0);
  });

  it('makes it again when it is deleted, even if the first re-create fails', async () => {
    assert.equal((await post('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'again' } })).status, 201);
    await until('the default account', async () => (await status('/api/v1/namespaces/again/serviceaccounts/default')) === 200);
    failing.set('again', 2);
    assert.equal((await t.request('/api/v1/namespaces/again/serviceaccounts/default', { method: 'DELETE' })).status, 200);
    await until('the account made again', async () => (await status('/api/v1/namespaces/again/serviceaccounts/default')) === 200);
    assert.equal(failing.get('again'), 0, 'the refused re-creates were retried');
  });

  it('leaves a namespace being deleted without one', async () => {
    assert.equal((await post('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'going' } })).status, 201);
    await until('the default account', async () => (await status('/api/v1/namespaces/going/serviceaccounts/default')) === 200);
    const before = attempts.get('going') ?? 0;
    assert.equal((await t.request('/api/v1/namespaces/going', { method: 'DELETE' })).status, 200);
    await until('the namespace gone', async () => (await status('/api/v1/namespaces/going')) === 404);
    assert.ok((attempts.get('going') ?? 0) - before <= 1, 'no retry loop on a namespace going away');
  });
});
