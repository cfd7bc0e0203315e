/**
 * Service account tokens through the real server: requests and TokenReview stop accepting a
 * token once what it is bound to goes, the 401 says only Unauthorized (the reason is logged),
 * and /metrics counts the attempts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { until } from '../testing/until.ts';
import { startTestServer, type TestServer } from '../testing/test-server.ts';

const admin = { authorization: 'Bearer test-token', 'content-type': 'application/json' };

describe('service account tokens bound to their objects (apiserver)', () => {
  let t: TestServer;
  const logged: { msg?: string; reason?: string }[] = [];
  const post = (path: string, body: unknown, headers: Record<string, string> = admin) => t.json<Record<string, unknown>>(path, { method: 'POST', headers, body: JSON.stringify(body) });
  const del = (path: string) => t.json(path, { method: 'DELETE', headers: admin, body: JSON.stringify({ gracePeriodSeconds: 0 }) });
  const whoami = (token: string) =>
    t.json<{ status?: { userInfo?: { username?: string } }; message?: string }>('/apis/authentication.k8s.io/v1/selfsubjectreviews', {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' }),
    });
  const review = async (token: string) =>
    (await post('/apis/authentication.k8s.io/v1/tokenreviews', { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } })).body.status as {
      authenticated: boolean;
      error?: string;
      user?: { username?: string; extra?: Record<string, string[]> };
    };
  const boundTo = async (sa: string, ref: { kind: string; name: string; uid?: string }): Promise<string> => {
    const r = await post(`/api/v1/namespaces/default/serviceaccounts/${sa}/token`, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { boundObjectRef: { apiVersion: 'v1', ...ref } } });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return (r.body.status as { token: string }).token;
  };
  const jtiOf = (token: string): string => (JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as { jti: string }).jti;
  const createSa = async (name: string): Promise<string> => {
    const r = await post('/api/v1/namespaces/default/serviceaccounts', { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name } });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return (r.body.metadata as { uid: string }).uid;
  };
  const createPod = async (name: string, sa: string): Promise<void> => {
    const r = await post('/api/v1/namespaces/default/pods', { apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { serviceAccountName: sa, containers: [{ name: 'c', image: 'busybox' }] } });
    assert.equal(r.status, 201, JSON.stringify(r.body));
  };
  const tokenFor = async (sa: string, pod?: string): Promise<string> => {
    const spec = pod ? { boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: pod } } : {};
    const r = await post(`/api/v1/namespaces/default/serviceaccounts/${sa}/token`, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return (r.body.status as { token: string }).token;
  };
  const metric = async (line: string): Promise<number> => {
    const text = await (await t.request('/metrics')).text();
    const hit = text.split('\n').find((l) => l.startsWith(`${line} `));
    return hit === undefined ? 0 : Number(hit.slice(line.length + 1));
  };

  before(async () => {
    const logger = pino({ level: 'warn' }, { write: (s: string) => void logged.push(JSON.parse(s) as { msg?: string; reason?: string }) });
    t = await startTestServer({ logger });
  });
  after(() => t.close());

  it('a pod-bound token works while its pod lives, then is a bare 401 with the reason in the log', async () => {
    await createSa('runner');
    await createPod('job-1', 'runner');
    const token = await tokenFor('runner', 'job-1');
    const ok = await whoami(token);
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    assert.equal(ok.body.status?.userInfo?.username, 'system:serviceaccount:default:runner');
    assert.equal((await review(token)).authenticated, true);

    assert.equal((await del('/api/v1/namespaces/default/pods/job-1')).status, 200);
    await until('the token to be refused', async () => (await whoami(token)).status === 401);
    const denied = await whoami(token);
    assert.equal(denied.body.message, 'Unauthorized', 'the response does not say why');
    assert.ok(logged.some((l) => l.msg === 'unable to authenticate the request' && l.reason === 'service account token has been invalidated'), JSON.stringify(logged));
    const st = await review(token);
    assert.equal(st.authenticated, false);
    assert.equal(st.error, 'service account token has been invalidated');
  });

  it('a pod recreated under the same name does not revive the token', async () => {
    await createPod('job-2', 'runner');
    const token = await tokenFor('runner', 'job-2');
    assert.equal((await whoami(token)).status, 201);
    await del('/api/v1/namespaces/default/pods/job-2');
    await createPod('job-2', 'runner');
    await until('the token to be refused', async () => (await whoami(token)).status === 401);
    assert.match((await review(token)).error ?? '', /^pod UID \(.+\) does not match service account pod ref claim/);
  });

  it('a token dies with its service account, and a recreated account (new UID) does not revive it', async () => {
    await createSa('deployer');
    const token = await tokenFor('deployer');
    assert.equal((await whoami(token)).status, 201);
    await del('/api/v1/namespaces/default/serviceaccounts/deployer');
    await until('the token to be refused', async () => (await whoami(token)).status === 401);
    assert.equal((await review(token)).error, 'serviceaccounts "deployer" not found');
    const uid = await createSa('deployer');
    await until('the new account to be seen', async () => ((await review(token)).error ?? '').includes(uid));
    assert.equal((await whoami(token)).status, 401);
    const fresh = await tokenFor('deployer');
    assert.equal((await whoami(fresh)).status, 201, 'a token of the new account works');
  });

  it('a legacy token lives as long as its secret holds it', async () => {
    const uid = await createSa('legacy');
    const token = t.server.serviceAccountTokens.issueLegacy({ namespace: 'default', serviceAccount: { name: 'legacy', uid }, secretName: 'legacy-token' });
    const secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'legacy-token', annotations: { 'kubernetes.io/service-account.name': 'legacy' } },
      type: 'kubernetes.io/service-account-token',
      data: { token: Buffer.from(token).toString('base64') },
    };
    assert.equal((await post('/api/v1/namespaces/default/secrets', secret)).status, 201);
    await until('the token to work', async () => (await whoami(token)).status === 201);
    await del('/api/v1/namespaces/default/secrets/legacy-token');
    await until('the token to be refused', async () => (await whoami(token)).status === 401);
    assert.equal((await review(token)).error, 'Token has been invalidated');
  });

  it('a secret-bound token works while its secret lives', async () => {
    await createSa('sec-user');
    const secret = await post('/api/v1/namespaces/default/secrets', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'anchor' }, type: 'Opaque', data: { a: 'YQ==' } });
    assert.equal(secret.status, 201);
    const token = await boundTo('sec-user', { kind: 'Secret', name: 'anchor', uid: (secret.body.metadata as { uid: string }).uid });
    const st = await review(token);
    assert.equal(st.authenticated, true, JSON.stringify(st));
    assert.deepEqual(st.user?.extra, { 'authentication.kubernetes.io/credential-id': [`JTI=${jtiOf(token)}`] });
    assert.equal((await del('/api/v1/namespaces/default/secrets/anchor')).status, 200);
    await until('the token to be refused', async () => (await whoami(token)).status === 401);
    assert.equal((await review(token)).error, 'service account token has been invalidated');
  });

  it("a node-bound token names its node in the user's extra and dies with the node", async () => {
    await createSa('node-user');
    const node = await post('/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'edge-7' } });
    assert.equal(node.status, 201);
    const nodeUid = (node.body.metadata as { uid: string }).uid;
    const token = await boundTo('node-user', { kind: 'Node', name: 'edge-7' });
    const expected = {
      'authentication.kubernetes.io/credential-id': [`JTI=${jtiOf(token)}`],
      'authentication.kubernetes.io/node-name': ['edge-7'],
      'authentication.kubernetes.io/node-uid': [nodeUid],
    };
    assert.deepEqual((await review(token)).user?.extra, expected);
    const who = await whoami(token);
    assert.equal(who.status, 201);
    assert.deepEqual((who.body.status as { userInfo?: { extra?: unknown } } | undefined)?.userInfo?.extra, expected, 'kubectl auth whoami lists them');
    assert.equal((await del('/api/v1/nodes/edge-7')).status, 200);
    await until('the token to be refused', async () => (await whoami(token)).status === 401);
    assert.equal((await review(token)).error, 'service account token has been invalidated');
    // a node of the same name again is another node
    assert.equal((await post('/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'edge-7' } })).status, 201);
    await until('the new node to be seen', async () => /^node UID \(.+\) does not match service account node ref claim/.test((await review(token)).error ?? ''));
  });

  it("a pod-bound token carries the pod's node; TokenReview returns pod, node and credential in extra", async () => {
    await createSa('podder');
    const node = await post('/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'edge-8' } });
    const nodeUid = (node.body.metadata as { uid: string }).uid;
    const pod = await post('/api/v1/namespaces/default/pods', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'placed' }, spec: { serviceAccountName: 'podder', nodeName: 'edge-8', containers: [{ name: 'c', image: 'busybox' }] } });
    assert.equal(pod.status, 201, JSON.stringify(pod.body));
    const podUid = (pod.body.metadata as { uid: string }).uid;
    const token = await tokenFor('podder', 'placed');
    const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as { 'kubernetes.io': Record<string, unknown> };
    assert.deepEqual(claims['kubernetes.io'].node, { name: 'edge-8', uid: nodeUid });
    assert.deepEqual((await review(token)).user?.extra, {
      'authentication.kubernetes.io/pod-name': ['placed'],
      'authentication.kubernetes.io/pod-uid': [podUid],
      'authentication.kubernetes.io/credential-id': [`JTI=${jtiOf(token)}`],
      'authentication.kubernetes.io/node-name': ['edge-8'],
      'authentication.kubernetes.io/node-uid': [nodeUid],
    });
    // the node is information only: the token outlives it (once a node-bound one shows the node seen gone)
    const nodeBound = await boundTo('podder', { kind: 'Node', name: 'edge-8' });
    assert.equal((await del('/api/v1/nodes/edge-8')).status, 200);
    await until('the node-bound token to be refused', async () => (await whoami(nodeBound)).status === 401);
    assert.equal((await review(token)).authenticated, true);
  });

  it('/metrics counts authentication attempts by result and authorization decisions', async () => {
    const success = await metric('authentication_attempts{result="success"}');
    const error = await metric('authentication_attempts{result="error"}');
    const failure = await metric('authentication_attempts{result="failure"}');
    await createSa('counted');
    const token = await tokenFor('counted');
    await whoami(token);
    await del('/api/v1/namespaces/default/serviceaccounts/counted');
    await until('the token to be refused', async () => (await whoami(token)).status === 401);
    assert.equal((await whoami('not-a-token')).status, 401);
    assert.ok((await metric('authentication_attempts{result="success"}')) > success);
    assert.ok((await metric('authentication_attempts{result="error"}')) >= error + 1);
    assert.equal(await metric('authentication_attempts{result="failure"}'), failure + 1);
    assert.ok((await metric('authentication_duration_seconds_count{result="error"}')) >= 1);
    assert.ok((await metric('authorization_attempts_total{result="allowed"}')) > 0);
    const text = await (await t.request('/metrics')).text();
    assert.match(text, /^# TYPE authentication_duration_seconds histogram$/m);
    assert.match(text, /^process_cpu_seconds_total /m);
    // an authenticated user without the system:monitoring grant may not read it
    assert.equal((await t.request('/metrics', { headers: { authorization: `Bearer ${token}` } })).status, 401);
    const noOpinion = await metric('authorization_attempts_total{result="no-opinion"}');
    assert.equal((await t.request('/metrics', { headers: { authorization: 'Bearer user-carol' } })).status, 403);
    assert.equal(await metric('authorization_attempts_total{result="no-opinion"}'), noOpinion + 1, 'a default deny is upstream\'s no-opinion');
    // the service account's whoami was RBAC's to allow (system:basic-user); the admin's is the masters short-cut, not counted
    assert.ok((await metric('apiserver_authorization_decisions_total{type="RBAC",name="rbac",decision="allowed"}')) > 0);
  });
});
