import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { UserInfo } from '../auth/types.ts';
import { startTestServer, testAuthenticator, type TestServer } from '../testing/test-server.ts';
import type { KubeObject } from '../../api/object.ts';
import { annotateAuthentication, authenticationAnnotations } from '../auth/request-annotations.ts';
import { STALE_TOKEN_ANNOTATION, withServiceAccountTokens } from './authenticator.ts';
import { EXPIRATION_EXTENSION_SECONDS, ServiceAccountTokens, WARN_ONLY_BOUND_TOKEN_EXPIRATION_SECONDS } from './token-signer.ts';
import { ServiceAccountTokenValidator } from './token-validator.ts';

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

  it("answers upstream's errors for bad requests and bound objects", async () => {
    type Err = { message?: string; reason?: string; details?: { kind?: string; name?: string; causes?: { field: string; reason: string; message: string }[] } };
    const bad = async (spec: unknown, body: Record<string, unknown> = {}) => {
      const r = await post(tokenPath, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec, ...body });
      return { status: r.status, body: r.body as unknown as Err };
    };
    const short = await bad({ expirationSeconds: 60 });
    assert.equal(short.status, 422);
    assert.equal(short.body.message, 'TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes');
    assert.deepEqual(short.body.details?.causes?.map((c) => [c.field, c.reason]), [['spec.expirationSeconds', 'FieldValueInvalid']]);
    const long = await bad({ expirationSeconds: 2 ** 32 + 1 });
    assert.equal(long.status, 422);
    assert.match(long.body.message ?? '', /spec\.expirationSeconds: Invalid value: 4294967297: may not specify a duration larger than 2\^32 seconds$/);
    const named = await bad({}, { metadata: { name: 'someone-else' } });
    assert.equal(named.status, 422);
    assert.equal(named.body.details?.causes?.[0]?.field, 'metadata.name');
    const noName = await bad({ boundObjectRef: { kind: 'Secret', apiVersion: 'v1' } });
    assert.equal(noName.status, 422);
    assert.equal(noName.body.details?.causes?.[0]?.field, 'spec.boundObjectRef.name');

    const cm = await bad({ boundObjectRef: { kind: 'ConfigMap', apiVersion: 'v1', name: 'x' } });
    assert.equal(cm.status, 400);
    assert.equal(cm.body.message, 'cannot bind token to object of type /v1, Kind=ConfigMap');
    const deploy = await bad({ boundObjectRef: { kind: 'Deployment', apiVersion: 'apps/v1', name: 'x' } });
    assert.equal(deploy.body.message, 'cannot bind token to object of type apps/v1, Kind=Deployment');
    for (const [kind, plural] of [['Pod', 'pods'], ['Secret', 'secrets'], ['Node', 'nodes']]) {
      const missing = await bad({ boundObjectRef: { kind, apiVersion: 'v1', name: 'absent' } });
      assert.equal(missing.status, 404, kind);
      assert.equal(missing.body.message, `${plural} "absent" not found`);
    }
    const node = await post('/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'me' } });
    assert.equal(node.status, 201);
    const wrongUid = await bad({ boundObjectRef: { kind: 'Node', apiVersion: 'v1', name: 'me', uid: 'not-it' } });
    assert.equal(wrongUid.status, 409);
    assert.equal(wrongUid.body.message, 'Operation cannot be fulfilled on Node "me": the UID in the bound object reference (not-it) does not match the UID in record. The object might have been deleted and then recreated');
    const otherSa = await post('/api/v1/namespaces/default/serviceaccounts', { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'other' } });
    assert.equal(otherSa.status, 201);
    const wrongSa = await post('/api/v1/namespaces/default/serviceaccounts/other/token', { spec: { boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'p' } } });
    assert.equal(wrongSa.status, 400);
    assert.equal(wrongSa.body.message, 'cannot bind token for serviceaccount "other" to pod running with different serviceaccount name.');

    // a right UID binds; the reference is answered as sent
    const nodeUid = (node.body as unknown as { metadata: { uid: string } }).metadata.uid;
    const ok = await bad({ boundObjectRef: { kind: 'Node', apiVersion: 'v1', name: 'me', uid: nodeUid } });
    assert.equal(ok.status, 201);
    assert.deepEqual((ok.body as unknown as { spec: { boundObjectRef: unknown } }).spec.boundObjectRef, { kind: 'Node', apiVersion: 'v1', name: 'me', uid: nodeUid });
    // a node may not mint a node-bound token (NodeRestriction: pods only)
    const fromNode = await post(tokenPath, { spec: { boundObjectRef: { kind: 'Node', apiVersion: 'v1', name: 'me' } } }, 'node-me');
    assert.equal(fromNode.status, 403);
  });

  it('caps no expiration by default; defaults the audiences to the apiserver\'s', async () => {
    const r = await post(tokenPath, { spec: { expirationSeconds: 30 * 86400 } });
    assert.equal(r.status, 201);
    assert.equal(r.body.spec.expirationSeconds, 30 * 86400);
    const exp = Date.parse(r.body.status.expirationTimestamp);
    assert.ok(Math.abs(exp - (Date.now() + 30 * 86400_000)) < 5000);
    assert.deepEqual(r.body.spec.audiences, t.server.serviceAccountTokens.audiences);
    const aud = await post(tokenPath, { spec: { audiences: ['vault', 'nats'] } });
    assert.deepEqual(aud.body.spec.audiences, ['vault', 'nats']);
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

describe('TokenRequest with --service-account-max-token-expiration', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ serviceAccountTokens: { maxExpirationSeconds: 7200 } });
  });
  after(() => t.close());

  it('shortens a longer request to the cap, with a warning', async () => {
    const res = await t.request('/api/v1/namespaces/default/serviceaccounts/default/token', {
      method: 'POST',
      headers: { authorization: 'Bearer test-token', 'content-type': 'application/json' },
      body: JSON.stringify({ spec: { expirationSeconds: 86400 } }),
    });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('warning'), '299 - "requested expiration of 86400 seconds shortened to 7200 seconds"');
    const body = (await res.json()) as TokenOut;
    assert.equal(body.spec.expirationSeconds, 7200);
    const claims = JSON.parse(Buffer.from(body.status.token.split('.')[1], 'base64url').toString()) as { exp: number; iat: number };
    assert.equal(claims.exp - claims.iat, 7200);
    const within = await t.request('/api/v1/namespaces/default/serviceaccounts/default/token', {
      method: 'POST',
      headers: { authorization: 'Bearer test-token', 'content-type': 'application/json' },
      body: JSON.stringify({ spec: { expirationSeconds: 3600 } }),
    });
    assert.equal(within.headers.get('warning'), null);
  });
});

describe("TokenRequest: the kubelet's projected tokens are extended (--service-account-extend-token-expiration)", () => {
  let t: TestServer;
  let off: TestServer;
  const claimsOf = (token: string) =>
    JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as { exp: number; iat: number; 'kubernetes.io': { warnafter?: number; pod?: { name: string } } };
  const ask = (server: TestServer, spec: Record<string, unknown>) =>
    server.json<TokenOut>('/api/v1/namespaces/default/serviceaccounts/default/token', {
      method: 'POST',
      headers: { authorization: 'Bearer test-token', 'content-type': 'application/json' },
      body: JSON.stringify({ spec }),
    });
  const podRef = { kind: 'Pod', apiVersion: 'v1', name: 'p' };
  before(async () => {
    t = await startTestServer({});
    off = await startTestServer({ serviceAccountTokens: { extendExpiration: false } });
    for (const s of [t, off]) {
      const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'x' }] } };
      const r = await s.json('/api/v1/namespaces/default/pods', { method: 'POST', headers: { authorization: 'Bearer test-token', 'content-type': 'application/json' }, body: JSON.stringify(pod) });
      assert.equal(r.status, 201);
    }
  });
  after(async () => {
    await t.close();
    await off.close();
  });

  it('a pod-bound 3607 s request for the apiserver is issued for a year with warnafter at the hour; the answer says the hour', async () => {
    const before = Math.floor(Date.now() / 1000);
    const r = await ask(t, { expirationSeconds: WARN_ONLY_BOUND_TOKEN_EXPIRATION_SECONDS, boundObjectRef: podRef });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.spec.expirationSeconds, 3607);
    const c = claimsOf(r.body.status.token);
    assert.equal(c.exp - c.iat, EXPIRATION_EXTENSION_SECONDS);
    assert.equal(c['kubernetes.io'].warnafter, c.iat + 3607);
    assert.equal(c['kubernetes.io'].pod?.name, 'p');
    const answered = Date.parse(r.body.status.expirationTimestamp) / 1000;
    assert.ok(answered >= before + 3607 && answered <= before + 3607 + 5, `expirationTimestamp is the hour asked for (${r.body.status.expirationTimestamp})`);
    // and it authenticates as the pod's account
    const who = await t.json<TokenOut>('/apis/authentication.k8s.io/v1/selfsubjectreviews', {
      method: 'POST',
      headers: { authorization: `Bearer ${r.body.status.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'SelfSubjectReview', apiVersion: 'authentication.k8s.io/v1' }),
    });
    assert.equal(who.body.status.userInfo?.username, 'system:serviceaccount:default:default');
  });

  it('is not extended unbound, for another audience, for another duration, or with the flag off', async () => {
    const cases: [TestServer, Record<string, unknown>][] = [
      [t, { expirationSeconds: 3607 }],
      [t, { expirationSeconds: 3607, boundObjectRef: podRef, audiences: ['vault'] }],
      [t, { expirationSeconds: 3600, boundObjectRef: podRef }],
      [off, { expirationSeconds: 3607, boundObjectRef: podRef }],
    ];
    for (const [server, spec] of cases) {
      const r = await ask(server, spec);
      assert.equal(r.status, 201, JSON.stringify(r.body));
      const c = claimsOf(r.body.status.token);
      assert.equal(c.exp - c.iat, spec.expirationSeconds, JSON.stringify(spec));
      assert.equal(c['kubernetes.io'].warnafter, undefined, JSON.stringify(spec));
    }
  });

  it('a use past warnafter is stale: the validator says how long, the authenticator reports it on the request', async () => {
    const tokens = new ServiceAccountTokens();
    const sa = { metadata: { name: 'default', namespace: 'default', uid: 'sa-uid' } } as KubeObject;
    const pod = { metadata: { name: 'p', namespace: 'default', uid: 'pod-uid' } } as KubeObject;
    let now = new Date('2026-01-01T00:00:00Z');
    const validator = new ServiceAccountTokenValidator({
      tokens,
      now: () => now,
      getter: { serviceAccount: async () => sa, secret: async () => undefined, pod: async () => pod, node: async () => undefined },
    });
    const issued = tokens.issue({ namespace: 'default', serviceAccount: { name: 'default', uid: 'sa-uid' }, audiences: tokens.audiences, expirationSeconds: EXPIRATION_EXTENSION_SECONDS, warnAfterSeconds: 3607, pod: { name: 'p', uid: 'pod-uid' }, now });
    const fresh = await validator.validate(issued.token);
    assert.ok(fresh.ok && fresh.staleSeconds === undefined);
    now = new Date(now.getTime() + (3607 + 100) * 1000);
    const stale = await validator.validate(issued.token);
    assert.ok(stale.ok && stale.staleSeconds === 100, JSON.stringify(stale));

    const seen: [string, number][] = [];
    const authn = withServiceAccountTokens({ authenticate: () => undefined }, validator, (req, subject, seconds) => {
      seen.push([subject, seconds]);
      annotateAuthentication(req, STALE_TOKEN_ANNOTATION, `subject: ${subject}, seconds after warning threshold: ${seconds}`);
    });
    const req = { headers: { authorization: `Bearer ${issued.token}` } } as IncomingMessage;
    const user = await authn.authenticate(req);
    assert.equal(user?.username, 'system:serviceaccount:default:default');
    assert.deepEqual(seen, [['system:serviceaccount:default:default', 100]]);
    assert.deepEqual(authenticationAnnotations(req), { [STALE_TOKEN_ANNOTATION]: 'subject: system:serviceaccount:default:default, seconds after warning threshold: 100' });
  });
});
