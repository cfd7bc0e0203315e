/**
 * TokenReview and SubjectAccessReview as a node's server uses them: the node (its own identity,
 * no grant) asks who a bearer token is and whether that user may reach a nodes subresource.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { Authenticator, UserInfo } from '../auth/types.ts';
import { startTestServer, testAuthenticator, type TestServer } from '../testing/test-server.ts';

/** the test tokens, plus `static-carol`, a token-file style token the TokenReview can look up */
const authenticator: Authenticator = {
  authenticate: (req: IncomingMessage) => testAuthenticator().authenticate(req),
  authenticateToken: (token: string): UserInfo | undefined => (token === 'static-carol' ? { username: 'carol', uid: 'c-1', groups: ['ops', 'system:authenticated'] } : undefined),
};

interface Review {
  spec?: Record<string, unknown>;
  status: { authenticated?: boolean; allowed?: boolean; user?: { username?: string; uid?: string; groups?: string[] }; audiences?: string[]; error?: string };
  message?: string;
}

describe('TokenReview and SubjectAccessReview for a node server', () => {
  let t: TestServer;
  const post = (path: string, body: unknown, token = 'test-token') =>
    t.json<Review>(path, { method: 'POST', body: JSON.stringify(body), headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });
  const tokenReview = (token: string, audiences?: string[], as = 'node-edge-1') =>
    post('/apis/authentication.k8s.io/v1/tokenreviews', { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, ...(audiences ? { audiences } : {}) } }, as);
  const accessReview = (user: string, groups: string[], subresource: string, as = 'node-edge-1') =>
    post(
      '/apis/authorization.k8s.io/v1/subjectaccessreviews',
      { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec: { user, groups, resourceAttributes: { verb: 'get', version: 'v1', resource: 'nodes', subresource, name: 'edge-1' } } },
      as,
    );
  const saToken = async (audiences?: string[]): Promise<string> => {
    const r = await post('/api/v1/namespaces/default/serviceaccounts/scraper/token', { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: audiences ? { audiences } : {} });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return (r.body.status as { token: string }).token;
  };

  before(async () => {
    t = await startTestServer({ authenticator });
    for (const [path, obj] of [
      ['/api/v1/namespaces/default/serviceaccounts', { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'scraper' } }],
      ['/apis/rbac.authorization.k8s.io/v1/clusterroles', { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'node-stats' }, rules: [{ apiGroups: [''], resources: ['nodes/stats'], verbs: ['get'] }] }],
      [
        '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings',
        {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'ClusterRoleBinding',
          metadata: { name: 'scraper-stats' },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'node-stats' },
          subjects: [{ kind: 'ServiceAccount', name: 'scraper', namespace: 'default' }],
        },
      ],
    ] as const) {
      const r = await post(path, obj);
      assert.equal(r.status, 201, JSON.stringify(r.body));
    }
  });
  after(() => t.close());

  it('is served in discovery beside the self review', async () => {
    const disc = await t.json<{ resources: { name: string; verbs: string[] }[] }>('/apis/authentication.k8s.io/v1');
    assert.deepEqual(
      disc.body.resources.map((r) => r.name),
      ['selfsubjectreviews', 'tokenreviews'],
    );
  });

  it('says who a service account token is, for the apiserver audience by default, and does not echo the token', async () => {
    const token = await saToken();
    const r = await tokenReview(token);
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.status.authenticated, true);
    assert.equal(r.body.status.user?.username, 'system:serviceaccount:default:scraper');
    assert.ok(r.body.status.user?.uid);
    assert.deepEqual(r.body.status.user?.groups, ['system:serviceaccounts', 'system:serviceaccounts:default', 'system:authenticated']);
    assert.deepEqual(r.body.status.audiences, ['https://kubernetes.default.svc.cluster.local']);
    assert.equal(JSON.stringify(r.body).includes(token), false);
  });

  it('checks the requested audiences against the token', async () => {
    const vault = await saToken(['vault']);
    assert.equal((await tokenReview(vault)).body.status.authenticated, false);
    const r = await tokenReview(vault, ['vault', 'other']);
    assert.equal(r.body.status.authenticated, true);
    assert.deepEqual(r.body.status.audiences, ['vault']);
    assert.equal((await tokenReview(await saToken(), ['vault'])).body.status.authenticated, false);
  });

  it('authenticates static tokens only for the apiserver audience', async () => {
    const r = await tokenReview('static-carol');
    assert.equal(r.body.status.authenticated, true);
    assert.deepEqual(r.body.status.user, { username: 'carol', uid: 'c-1', groups: ['ops', 'system:authenticated'] });
    assert.equal((await tokenReview('static-carol', ['vault'])).body.status.authenticated, false);
  });

  it('answers unauthenticated for garbage, and 400 without a token', async () => {
    for (const token of ['nope', 'a.b.c', 'x'.repeat(5000)]) {
      const r = await tokenReview(token);
      assert.equal(r.status, 201);
      assert.equal(r.body.status.authenticated, false);
      assert.equal(r.body.status.error, 'invalid bearer token');
    }
    const empty = await tokenReview('');
    assert.equal(empty.status, 400);
    assert.match(empty.body.message ?? '', /token is required/);
    const notObject = await t.json<Review>('/apis/authentication.k8s.io/v1/tokenreviews', { method: 'POST', body: '[1]', headers: { 'content-type': 'application/json' } });
    assert.equal(notObject.status, 400);
  });

  it('lets a node ask both reviews; an ordinary user may not', async () => {
    assert.equal((await tokenReview('static-carol', undefined, 'user-alice')).status, 403);
    assert.equal((await accessReview('carol', ['ops'], 'stats', 'user-alice')).status, 403);
    const sa = 'system:serviceaccount:default:scraper';
    const groups = ['system:serviceaccounts', 'system:serviceaccounts:default', 'system:authenticated'];
    const stats = await accessReview(sa, groups, 'stats');
    assert.equal(stats.status, 201, JSON.stringify(stats.body));
    assert.equal(stats.body.status.allowed, true);
    assert.equal((await accessReview(sa, groups, 'proxy')).body.status.allowed, false);
    assert.equal((await accessReview('carol', ['ops', 'system:authenticated'], 'stats')).body.status.allowed, false);
  });

  it('the bootstrap policy holds upstream system:kubelet-api-admin and system:auth-delegator', async () => {
    const role = await t.json<{ rules: { resources: string[]; verbs: string[] }[] }>('/apis/rbac.authorization.k8s.io/v1/clusterroles/system:kubelet-api-admin');
    assert.equal(role.status, 200);
    assert.ok(role.body.rules.some((r) => r.resources.includes('nodes/proxy') && r.verbs.includes('*')));
    const delegator = await t.json<{ rules: { resources: string[] }[] }>('/apis/rbac.authorization.k8s.io/v1/clusterroles/system:auth-delegator');
    assert.deepEqual(delegator.body.rules.map((r) => r.resources[0]), ['tokenreviews', 'subjectaccessreviews']);
  });
});
