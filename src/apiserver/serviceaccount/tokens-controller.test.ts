/**
 * The tokens controller through the real server: a service-account-token Secret is filled in and
 * its token signs in as the account; Secrets of accounts that do not exist, or that go, are deleted.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { generateCa } from '../auth/pki.ts';
import { until } from '../testing/until.ts';
import { startTestServer, type TestServer } from '../testing/test-server.ts';

const admin = { authorization: 'Bearer test-token', 'content-type': 'application/json' };

interface SecretOut {
  metadata: { name: string; uid: string; annotations?: Record<string, string>; labels?: Record<string, string> };
  data?: Record<string, string>;
}

describe('the tokens controller (apiserver)', () => {
  let t: TestServer;
  let rootCa: string;
  const post = (path: string, body: unknown, headers: Record<string, string> = admin) => t.json<Record<string, unknown>>(path, { method: 'POST', headers, body: JSON.stringify(body) });
  const del = (path: string) => t.json(path, { method: 'DELETE', headers: admin });
  const getSecret = async (name: string) => t.json<SecretOut>(`/api/v1/namespaces/default/secrets/${name}`, { headers: admin });
  const createSa = async (name: string, extra: Record<string, unknown> = {}): Promise<string> => {
    const r = await post('/api/v1/namespaces/default/serviceaccounts', { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name }, ...extra });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return (r.body.metadata as { uid: string }).uid;
  };
  const createTokenSecret = async (name: string, annotations: Record<string, string>, data?: Record<string, string>): Promise<string> => {
    const r = await post('/api/v1/namespaces/default/secrets', { apiVersion: 'v1', kind: 'Secret', metadata: { name, annotations }, type: 'kubernetes.io/service-account-token', ...(data ? { data } : {}) });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return (r.body.metadata as { uid: string }).uid;
  };
  const filled = async (name: string): Promise<SecretOut> => {
    let s: SecretOut | undefined;
    await until(`secret ${name} to be filled in`, async () => {
      const r = await getSecret(name);
      s = r.body;
      return r.status === 200 && Boolean(s.data?.token && s.data?.namespace && s.data?.['ca.crt']);
    });
    return s!;
  };
  const gone = (name: string) => until(`secret ${name} to be deleted`, async () => (await getSecret(name)).status === 404);
  const whoami = (token: string) =>
    t.json<{ status?: { userInfo?: { username?: string; uid?: string; extra?: Record<string, string[]> } } }>('/apis/authentication.k8s.io/v1/selfsubjectreviews', {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' }),
    });
  const b64d = (s: string | undefined): string => Buffer.from(s ?? '', 'base64').toString('utf8');

  before(async () => {
    rootCa = (await generateCa('tokens-test-ca')).cert;
    t = await startTestServer({ serviceAccountRootCa: rootCa, tokensControllerBackoff: { initialMs: 20, maxMs: 200 } });
  });
  after(() => t.close());

  it("fills in a token Secret, whose token then signs in as its account and labels the Secret's last use", async () => {
    const uid = await createSa('robot');
    await createTokenSecret('robot-token', { 'kubernetes.io/service-account.name': 'robot' });
    const s = await filled('robot-token');
    assert.equal(b64d(s.data?.namespace), 'default');
    assert.equal(b64d(s.data?.['ca.crt']), rootCa);
    assert.equal(s.metadata.annotations?.['kubernetes.io/service-account.uid'], uid);
    const token = b64d(s.data?.token);
    const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as Record<string, string>;
    assert.equal(claims.iss, 'kubernetes/serviceaccount');
    assert.equal(claims['kubernetes.io/serviceaccount/secret.name'], 'robot-token');
    assert.equal(claims['kubernetes.io/serviceaccount/service-account.uid'], uid);

    const who = await whoami(token);
    assert.equal(who.status, 201, JSON.stringify(who.body));
    assert.equal(who.body.status?.userInfo?.username, 'system:serviceaccount:default:robot');
    assert.equal(who.body.status?.userInfo?.uid, uid);
    assert.equal(who.body.status?.userInfo?.extra, undefined, 'a legacy token carries no extra');
    const today = t.server.registry.now().toISOString().slice(0, 10);
    await until('the last-used label', async () => (await getSecret('robot-token')).body.metadata.labels?.['kubernetes.io/legacy-token-last-used'] === today);
    // the label write is not a change the controller answers with a new token
    assert.equal(b64d((await getSecret('robot-token')).body.data?.token), token);
  });

  it('keeps a token given with the Secret, and fills in the rest', async () => {
    await createSa('manual');
    await createTokenSecret('manual-token', { 'kubernetes.io/service-account.name': 'manual' }, { token: Buffer.from('given').toString('base64') });
    const s = await filled('manual-token');
    assert.equal(b64d(s.data?.token), 'given');
  });

  it('deletes a token Secret whose account does not exist, or has another UID', async () => {
    await createTokenSecret('ghost-token', { 'kubernetes.io/service-account.name': 'ghost' });
    await gone('ghost-token');
    await createSa('stale');
    await createTokenSecret('stale-token', { 'kubernetes.io/service-account.name': 'stale', 'kubernetes.io/service-account.uid': 'not-its-uid' });
    await gone('stale-token');
    assert.equal((await t.json('/api/v1/namespaces/default/serviceaccounts/stale', { headers: admin })).status, 200, 'the account stays');
  });

  it("deletes an account's token Secrets with it, and no one else's Secret", async () => {
    await createSa('leaving');
    await createSa('staying');
    await createTokenSecret('leaving-1', { 'kubernetes.io/service-account.name': 'leaving' });
    await createTokenSecret('leaving-2', { 'kubernetes.io/service-account.name': 'leaving' });
    await createTokenSecret('staying-1', { 'kubernetes.io/service-account.name': 'staying' });
    const opaque = await post('/api/v1/namespaces/default/secrets', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'plain', annotations: { 'kubernetes.io/service-account.name': 'leaving' } }, type: 'Opaque', data: { x: 'eQ==' } });
    assert.equal(opaque.status, 201);
    const token = b64d((await filled('leaving-1')).data?.token);
    await filled('leaving-2');
    await filled('staying-1');
    assert.equal((await whoami(token)).status, 201);
    assert.equal((await del('/api/v1/namespaces/default/serviceaccounts/leaving')).status, 200);
    await gone('leaving-1');
    await gone('leaving-2');
    assert.equal((await whoami(token)).status, 401);
    assert.equal((await getSecret('staying-1')).status, 200);
    assert.equal((await getSecret('plain')).status, 200);
  });

  it("drops a deleted token Secret from its account's secrets", async () => {
    await createSa('listed', { secrets: [{ name: 'listed-token' }, { name: 'other' }] });
    await createTokenSecret('listed-token', { 'kubernetes.io/service-account.name': 'listed' });
    await filled('listed-token');
    assert.equal((await del('/api/v1/namespaces/default/secrets/listed-token')).status, 200);
    await until('the reference to go', async () => {
      const sa = await t.json<{ secrets?: { name: string }[] }>('/api/v1/namespaces/default/serviceaccounts/listed', { headers: admin });
      return JSON.stringify(sa.body.secrets) === JSON.stringify([{ name: 'other' }]);
    });
  });
});
