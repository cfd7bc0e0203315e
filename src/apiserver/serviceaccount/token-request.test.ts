import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { UserInfo } from '../auth/types.ts';
import { startTestServer, testAuthenticator, type TestServer } from '../testing/test-server.ts';
import { ServiceAccountTokens } from './token-signer.ts';

const authenticator = {
  authenticate(req: IncomingMessage): UserInfo | undefined {
    const m = /^Bearer node-(.+)$/.exec(req.headers.authorization ?? '');
    if (m) return { username: `system:node:${m[1]}`, groups: ['system:nodes'] };
    return testAuthenticator().authenticate(req);
  },
};

interface TokenOut {
  message?: string;
  status: { token: string; expirationTimestamp: string; userInfo?: { username: string; groups: string[] }; allowed?: boolean };
  spec: { audiences: string[]; expirationSeconds: number };
}

describe('TokenRequest, service account authentication and self reviews', () => {
  let t: TestServer;
  const post = (path: string, body: unknown, token = 'test-token') =>
    t.json<TokenOut>(path, { method: 'POST', body: JSON.stringify(body), headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });
  const tokenPath = '/api/v1/namespaces/default/serviceaccounts/default/token';

  before(async () => {
    t = await startTestServer({ authenticator });
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { nodeName: 'me', containers: [{ name: 'c', image: 'x' }] } };
    assert.equal((await post('/api/v1/namespaces/default/pods', pod)).status, 201);
  });
  after(() => t.close());

  it('issues a token that authenticates as the service account', async () => {
    const r = await post(tokenPath, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: {} });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.spec.expirationSeconds, 3600);
    assert.deepEqual(r.body.spec.audiences, ['https://kubernetes.default.svc.cluster.local']);
    const who = await post('/apis/authentication.k8s.io/v1/selfsubjectreviews', { kind: 'SelfSubjectReview', apiVersion: 'authentication.k8s.io/v1' }, r.body.status.token);
    assert.equal(who.status, 201);
    assert.equal(who.body.status.userInfo?.username, 'system:serviceaccount:default:default');
    assert.deepEqual(who.body.status.userInfo?.groups, ['system:serviceaccounts', 'system:serviceaccounts:default', 'system:authenticated']);
    // a pod's own token holds nothing without a grant (default-deny)
    const get = (path: string) => t.json(path, { headers: { authorization: `Bearer ${r.body.status.token}` } });
    assert.equal((await get('/api/v1/namespaces/default/pods')).status, 403);
    assert.equal((await get('/api/v1/namespaces/default/secrets')).status, 403);
    assert.equal((await get('/api/v1')).status, 200);
  });

  it('rejects tokens for other audiences, expired ones and forged ones', async () => {
    const other = await post(tokenPath, { spec: { audiences: ['vault'] } });
    assert.equal(other.status, 201);
    assert.equal((await post('/apis/authentication.k8s.io/v1/selfsubjectreviews', {}, other.body.status.token)).status, 401);
    const tokens = t.server.serviceAccountTokens;
    const issued = tokens.issue({ namespace: 'default', serviceAccount: { name: 'default', uid: 'u' }, audiences: tokens.audiences, expirationSeconds: 600, now: new Date() });
    assert.ok(tokens.verify(issued.token));
    assert.equal(tokens.verify(issued.token, new Date(Date.now() + 601_000)), undefined);
    const forged = new ServiceAccountTokens().issue({ namespace: 'default', serviceAccount: { name: 'default', uid: 'u' }, audiences: tokens.audiences, expirationSeconds: 600, now: new Date() });
    assert.equal(tokens.verify(forged.token), undefined);
  });

  it('validates the request', async () => {
    assert.equal((await post(tokenPath, { spec: { expirationSeconds: 60 } })).status, 422);
    assert.equal((await post('/api/v1/namespaces/default/serviceaccounts/nope/token', { spec: {} })).status, 404);
    assert.equal((await post(tokenPath, { spec: { boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'gone' } } })).status, 404);
    assert.equal((await post(tokenPath, { spec: { boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'p', uid: 'wrong' } } })).status, 409);
    assert.equal((await t.json(tokenPath)).status, 405);
  });

  it('lets a node mint tokens only for pods bound to it', async () => {
    const bound = { spec: { boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'p' } } };
    assert.equal((await post(tokenPath, bound, 'node-me')).status, 201);
    // a node with no pod running as the account is refused by the node authorizer's graph
    const stranger = await post(tokenPath, bound, 'node-stranger');
    assert.equal(stranger.status, 403);
    assert.match(stranger.body.message ?? '', /: no relationship found between node 'stranger' and this object$/);
    // a node with such a pod still cannot mint a token bound to another node's pod
    const otherPod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'q' }, spec: { nodeName: 'other', containers: [{ name: 'c', image: 'x' }] } };
    assert.equal((await post('/api/v1/namespaces/default/pods', otherPod)).status, 201);
    let other = await post(tokenPath, bound, 'node-other');
    for (let i = 0; i < 100 && /no relationship/.test(other.body.message ?? ''); i++) {
      await new Promise((r) => setTimeout(r, 20));
      other = await post(tokenPath, bound, 'node-other');
    }
    assert.equal(other.status, 403);
    assert.equal(other.body.message, 'serviceaccounts "default" is forbidden: node requested token bound to a pod scheduled on a different node');
    assert.equal((await post(tokenPath, { spec: {} }, 'node-me')).status, 403);
  });

  it('answers SelfSubjectAccessReview with the authorizer', async () => {
    const review = (attrs: Record<string, string>) => ({ apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: attrs } });
    const node = await post('/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', review({ verb: 'list', resource: 'secrets', namespace: 'default' }), 'node-me');
    assert.equal(node.status, 201);
    assert.equal(node.body.status.allowed, false);
    const admin = await post('/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', review({ verb: 'list', resource: 'secrets', namespace: 'default' }));
    assert.equal(admin.body.status.allowed, true);
    const disc = await t.json<{ resources: { name: string }[] }>('/apis/authorization.k8s.io/v1');
    assert.deepEqual(disc.body.resources.map((r) => r.name), ['selfsubjectaccessreviews', 'selfsubjectrulesreviews', 'subjectaccessreviews', 'localsubjectaccessreviews']);
    const core = await t.json<{ resources: { name: string }[] }>('/api/v1');
    assert.ok(core.body.resources.some((r) => r.name === 'serviceaccounts/token'));
  });
});
