import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { describe, it } from 'node:test';
import { HedgeError } from '../../../lib/errors.ts';
import { silentLogger } from '../../../lib/log.ts';
import { Registry } from '../../../lib/prom.ts';
import { NodeRequestAuth } from './node-auth.ts';
import { FakeAccessReviews } from './testing/fake-access-reviews.ts';

const withToken = (token: string): IncomingMessage => ({ headers: { authorization: `Bearer ${token}` }, socket: new Socket(), method: 'GET' }) as unknown as IncomingMessage;

async function value(registry: Registry, line: string): Promise<number> {
  const hit = (await registry.metrics()).split('\n').find((l) => l.startsWith(`${line} `));
  return hit === undefined ? 0 : Number(hit.slice(line.length + 1));
}

describe('node server delegated review metrics (the kubelet names)', () => {
  it('counts TokenReviews and SubjectAccessReviews sent, by answer code, not cache hits', async () => {
    const registry = new Registry();
    const reviews = new FakeAccessReviews();
    reviews.tokens.set('sa-token', { username: 'system:serviceaccount:monitoring:prometheus', groups: ['system:authenticated'] });
    reviews.allow('system:serviceaccount:monitoring:prometheus', 'get', 'metrics');
    const now = { t: 0 };
    const auth = new NodeRequestAuth({
      auth: { clientCerts: false, authorization: 'Webhook' },
      nodeName: 'edge-1',
      reviews,
      now: () => now.t,
      logger: silentLogger(),
      signal: new AbortController().signal,
      metrics: registry,
    });
    await auth.admit(withToken('sa-token'), '/metrics');
    await auth.admit(withToken('sa-token'), '/metrics');
    assert.equal(reviews.tokenReviews, 1, 'the second is a cache hit (authenticated TTL 2 min)');
    assert.equal(await value(registry, 'apiserver_delegated_authn_request_total{code="201"}'), 1);
    assert.equal(await value(registry, 'apiserver_delegated_authz_request_total{code="201"}'), 1);
    assert.equal(await value(registry, 'apiserver_delegated_authn_request_duration_seconds_count{code="201"}'), 1);

    // past the TTL the cloud is asked again; a refusal the cloud answered keeps its code
    now.t += 121_000;
    reviews.failure = new HedgeError('Forbidden', 'tokenreviews.authentication.k8s.io is forbidden');
    await assert.rejects(auth.admit(withToken('sa-token'), '/metrics'), (err: unknown) => err instanceof HedgeError && err.code === 'Unavailable');
    assert.equal(await value(registry, 'apiserver_delegated_authn_request_total{code="403"}'), 1);
    reviews.failure = new Error('connect ECONNREFUSED');
    await assert.rejects(auth.admit(withToken('sa-token'), '/metrics'));
    assert.equal(await value(registry, 'apiserver_delegated_authn_request_total{code="<error>"}'), 1);
  });
});
