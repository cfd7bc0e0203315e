/**
 * apiAccessReviews on the wire: the node's client (as the node) asks our apiserver's TokenReview
 * and SubjectAccessReview, and what comes back is read as the node server needs it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../../../apiserver/testing/test-server.ts';
import { HttpKubeClient } from '../../../client/http-client.ts';
import { isHedgeError } from '../../../lib/errors.ts';
import { apiAccessReviews, type AccessReviews } from './access-reviews.ts';
import { nodeRequestAttributes } from './request-attributes.ts';

describe('apiAccessReviews against the apiserver, as the node', () => {
  let t: TestServer;
  let client: HttpKubeClient;
  let reviews: AccessReviews;
  let token: string;
  const signal = AbortSignal.timeout(30_000);
  const admin = async (path: string, body: unknown): Promise<void> => {
    const r = await t.json(path, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 201, JSON.stringify(r.body));
  };

  before(async () => {
    t = await startTestServer();
    client = new HttpKubeClient({ server: t.url, token: 'node-edge-1' });
    reviews = apiAccessReviews(client);
    await admin('/api/v1/namespaces/default/serviceaccounts', { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'scraper' } });
    await admin('/apis/rbac.authorization.k8s.io/v1/clusterroles', { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'stats' }, rules: [{ apiGroups: [''], resources: ['nodes/stats'], verbs: ['get'] }] });
    await admin('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'scraper-stats' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'stats' },
      subjects: [{ kind: 'ServiceAccount', name: 'scraper', namespace: 'default' }],
    });
    const r = await t.json<{ status: { token: string } }>('/api/v1/namespaces/default/serviceaccounts/scraper/token', { method: 'POST', body: JSON.stringify({ spec: {} }), headers: { 'content-type': 'application/json' } });
    token = r.body.status.token;
  });
  after(async () => {
    await client.close();
    await t.close();
  });

  it("reads the token's user, and undefined for a token that is not valid", async () => {
    const user = await reviews.reviewToken(token, signal);
    assert.equal(user?.username, 'system:serviceaccount:default:scraper');
    assert.ok(user?.uid);
    assert.deepEqual(user?.groups, ['system:serviceaccounts', 'system:serviceaccounts:default', 'system:authenticated']);
    assert.equal(await reviews.reviewToken('not-a-token', signal), undefined);
  });

  it('asks about nodes/<subresource> of this node for the user the token review gave', async () => {
    const user = (await reviews.reviewToken(token, signal))!;
    assert.deepEqual(await reviews.reviewAccess(user, nodeRequestAttributes('edge-1', 'GET', '/stats/summary'), signal), { allowed: true });
    const exec = await reviews.reviewAccess(user, nodeRequestAttributes('edge-1', 'GET', '/exec/default/web/c'), signal);
    assert.equal(exec.allowed, false);
  });

  it('fails (not denies) when the node may not ask', async () => {
    const bob = new HttpKubeClient({ server: t.url, token: 'user-bob' });
    try {
      await assert.rejects(apiAccessReviews(bob).reviewToken(token, signal), (err: unknown) => isHedgeError(err, 'Forbidden'));
    } finally {
      await bob.close();
    }
  });
});
