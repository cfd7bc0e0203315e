import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { UserInfo } from './auth/types.ts';
import { startTestServer, testAuthenticator, type TestServer } from './testing/test-server.ts';

/** `node-<name>` is that node; otherwise the usual test tokens. */
const authenticator = {
  authenticate(req: IncomingMessage): UserInfo | undefined {
    const m = /^Bearer node-(.+)$/.exec(req.headers.authorization ?? '');
    if (m) return { username: `system:node:${m[1]}`, groups: ['system:nodes', 'system:authenticated'] };
    return testAuthenticator().authenticate(req);
  },
};

describe('NodeRestriction', () => {
  let t: TestServer;
  const as = (who: string) => ({ authorization: `Bearer ${who}`, 'content-type': 'application/json' });
  const call = (who: string, method: string, path: string, body?: unknown, contentType = 'application/json') =>
    t.json<{ message?: string; status?: unknown }>(path, { method, headers: { ...as(who), 'content-type': contentType }, body: body === undefined ? undefined : JSON.stringify(body) });
  const nodeObj = (name: string) => ({ apiVersion: 'v1', kind: 'Node', metadata: { name } });
  const podObj = (name: string, node: string) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { nodeName: node, containers: [{ name: 'c', image: 'x' }] } });

  before(async () => {
    t = await startTestServer({ authenticator });
    for (const [p, b] of [
      ['/api/v1/nodes', nodeObj('other')],
      ['/api/v1/namespaces/default/pods', { ...podObj('mine', 'me'), spec: { ...podObj('mine', 'me').spec, volumes: [{ name: 'v', configMap: { name: 'cm' } }] } }],
      ['/api/v1/namespaces/default/pods', podObj('theirs', 'other')],
      ['/api/v1/namespaces/default/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm' } }],
    ] as const) {
      assert.equal((await call('test-token', 'POST', p, b)).status, 201);
    }
  });
  after(() => t.close());

  it('lets a node register and update only itself', async () => {
    assert.equal((await call('node-me', 'POST', '/api/v1/nodes', nodeObj('me'))).status, 201);
    const other = await call('node-me', 'POST', '/api/v1/nodes', nodeObj('other2'));
    assert.equal(other.status, 403);
    assert.equal(other.body.message, 'nodes "other2" is forbidden: node "me" is not allowed to modify node "other2"');
    const patch = { metadata: { labels: { a: 'b' } } };
    assert.equal((await call('node-me', 'PATCH', '/api/v1/nodes/me/status', patch, 'application/merge-patch+json')).status, 200);
    const r = await call('node-me', 'PATCH', '/api/v1/nodes/other', patch, 'application/merge-patch+json');
    assert.equal(r.status, 403);
    assert.equal(r.body.message, 'nodes "other" is forbidden: node "me" is not allowed to modify node "other"');
  });

  it('lets a node change status and delete only pods bound to it', async () => {
    const st = { status: { phase: 'Running' } };
    assert.equal((await call('node-me', 'PATCH', '/api/v1/namespaces/default/pods/mine/status', st, 'application/merge-patch+json')).status, 200);
    const theirs = await call('node-me', 'PATCH', '/api/v1/namespaces/default/pods/theirs/status', st, 'application/merge-patch+json');
    assert.equal(theirs.status, 403);
    assert.equal(theirs.body.message, 'pods "theirs" is forbidden: node "me" can only update pod status for pods with spec.nodeName set to itself');
    assert.equal((await call('node-me', 'DELETE', '/api/v1/namespaces/default/pods/theirs')).status, 403);
    assert.equal((await call('node-me', 'PATCH', '/api/v1/namespaces/default/pods/mine', { metadata: { labels: { x: 'y' } } }, 'application/merge-patch+json')).status, 403);
    assert.equal((await call('node-me', 'DELETE', '/api/v1/namespaces/default/pods/mine')).status, 200);
  });

  it('lets a node hold only its own lease, read what it needs, and nothing else', async () => {
    const lease = (name: string) => ({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name }, spec: { holderIdentity: name } });
    assert.equal((await call('node-me', 'POST', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', lease('me'))).status, 201);
    const other = await call('node-me', 'POST', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', lease('other'));
    assert.equal(other.status, 403);
    assert.equal(other.body.message, 'leases.coordination.k8s.io "other" is forbidden: can only access node lease with the same name as the requesting node');
    assert.equal((await call('node-me', 'POST', '/apis/coordination.k8s.io/v1/namespaces/default/leases', lease('me'))).status, 403);
    assert.equal((await call('node-me', 'GET', '/api/v1/pods')).status, 200);
    assert.equal((await call('node-me', 'GET', '/api/v1/namespaces/default/configmaps/cm')).status, 200);
    const list = await call('node-me', 'GET', '/api/v1/namespaces/default/configmaps');
    assert.equal(list.status, 403);
    assert.match(list.body.message ?? '', /^configmaps is forbidden: User "system:node:me" cannot list resource "configmaps"/);
    assert.equal((await call('node-me', 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'x' } })).status, 403);
    // admins are not restricted
    assert.equal((await call('test-token', 'DELETE', '/api/v1/namespaces/default/pods/theirs')).status, 200);
  });
  it('lets a node create and delete the mirror pod of its static pod, and no other pod (upstream admitPodCreate)', async () => {
    const me = await t.json<{ metadata: { uid: string } }>('/api/v1/nodes/me', { headers: as('test-token') });
    const mirror = (over: Record<string, unknown> = {}, spec: Record<string, unknown> = {}) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'web-me',
        annotations: { 'kubernetes.io/config.mirror': 'abc', 'kubernetes.io/config.source': 'file' },
        ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: 'me', uid: me.body.metadata.uid, controller: true }],
        ...over,
      },
      spec: { nodeName: 'me', containers: [{ name: 'c', image: 'x' }], ...spec },
    });
    const plain = await call('node-me', 'POST', '/api/v1/namespaces/default/pods', podObj('plain', 'me'));
    assert.equal(plain.status, 403);
    assert.equal(plain.body.message, 'pods "plain" is forbidden: pod does not have "kubernetes.io/config.mirror" annotation, node "me" can only create mirror pods');
    const elsewhere = await call('node-me', 'POST', '/api/v1/namespaces/default/pods', mirror({}, { nodeName: 'other' }));
    assert.equal(elsewhere.body.message, 'pods "web-me" is forbidden: node "me" can only create pods with spec.nodeName set to itself');
    const wrongUid = await call('node-me', 'POST', '/api/v1/namespaces/default/pods', mirror({ ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: 'me', uid: 'not-it', controller: true }] }));
    assert.equal(wrongUid.body.message, `pods "web-me" is forbidden: node me UID mismatch: expected not-it got ${me.body.metadata.uid}`);
    const withSecret = await call('node-me', 'POST', '/api/v1/namespaces/default/pods', mirror({}, { volumes: [{ name: 's', secret: { secretName: 'db' } }] }));
    assert.equal(withSecret.body.message, 'pods "web-me" is forbidden: node "me" can not create pods that reference secrets');
    const ok = await call('node-me', 'POST', '/api/v1/namespaces/default/pods', mirror());
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    // the ServiceAccount admission leaves a mirror without an account and without a token volume
    const made = ok.body as unknown as { spec: { serviceAccountName?: string; volumes?: unknown[] } };
    assert.equal(made.spec.serviceAccountName, undefined);
    assert.equal(made.spec.volumes, undefined);
    const update = await call('node-me', 'PATCH', '/api/v1/namespaces/default/pods/web-me', { metadata: { labels: { x: 'y' } } }, 'application/merge-patch+json');
    assert.equal(update.status, 403);
    // refused by the node authorizer already (upstream's system:node grants pods create and delete, no update)
    assert.match(update.body.message ?? '', /node "me" cannot patch pods$/);
    assert.equal((await call('node-me', 'DELETE', '/api/v1/namespaces/default/pods/web-me?gracePeriodSeconds=0')).status, 200);
  });
});

describe('node authorizer graph: a node reads only what pods bound to it reference', () => {
  let t: TestServer;
  const as = (who: string) => ({ authorization: `Bearer ${who}`, 'content-type': 'application/json' });
  const call = (who: string, method: string, path: string, body?: unknown) =>
    t.json<{ message?: string }>(path, { method, headers: as(who), body: body === undefined ? undefined : JSON.stringify(body) });
  const eventually = async (what: string, fn: () => Promise<boolean>): Promise<void> => {
    for (let i = 0; i < 250; i++) {
      if (await fn()) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.fail(`timed out waiting for ${what}`);
  };
  const get = async (node: string, path: string): Promise<number> => (await call(`node-${node}`, 'GET', `/api/v1/namespaces/default/${path}`)).status;

  before(async () => {
    t = await startTestServer({ authenticator });
    for (const kind of ['Secret', 'ConfigMap'] as const) {
      const plural = kind === 'Secret' ? 'secrets' : 'configmaps';
      for (const name of ['vol', 'env', 'envfrom', 'projected', 'pull', 'unused']) {
        if (kind === 'ConfigMap' && name === 'pull') continue;
        assert.equal((await call('test-token', 'POST', `/api/v1/namespaces/default/${plural}`, { apiVersion: 'v1', kind, metadata: { name } })).status, 201);
      }
    }
    assert.equal((await call('test-token', 'POST', '/api/v1/namespaces/default/serviceaccounts', { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'runner' } })).status, 201);
  });
  after(() => t.close());

  it('follows volumes, env, envFrom, projected sources, imagePullSecrets and the service account; removal removes access', async () => {
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'app' },
      spec: {
        nodeName: 'n1',
        serviceAccountName: 'runner',
        imagePullSecrets: [{ name: 'pull' }],
        volumes: [
          { name: 'a', secret: { secretName: 'vol' } },
          { name: 'b', configMap: { name: 'vol' } },
          { name: 'c', persistentVolumeClaim: { claimName: 'data' } },
          { name: 'd', projected: { sources: [{ secret: { name: 'projected' } }, { configMap: { name: 'projected' } }, { serviceAccountToken: { path: 't' } }] } },
        ],
        containers: [{
          name: 'c',
          image: 'x',
          env: [{ name: 'S', valueFrom: { secretKeyRef: { name: 'env', key: 'k' } } }, { name: 'C', valueFrom: { configMapKeyRef: { name: 'env', key: 'k' } } }],
          envFrom: [{ secretRef: { name: 'envfrom' } }, { configMapRef: { name: 'envfrom' } }],
        }],
      },
    };
    for (const path of ['secrets/vol', 'configmaps/vol', 'secrets/env', 'serviceaccounts/runner']) assert.equal(await get('n1', path), 403, `before the pod: ${path}`);
    const denied = await call('node-n1', 'GET', '/api/v1/namespaces/default/secrets/vol');
    assert.equal(denied.body.message, `secrets "vol" is forbidden: User "system:node:n1" cannot get resource "secrets" in API group "" in the namespace "default": no relationship found between node 'n1' and this object`);
    assert.equal((await call('test-token', 'POST', '/api/v1/namespaces/default/pods', pod)).status, 201);
    await eventually('the graph to pick up the pod', async () => (await get('n1', 'secrets/vol')) === 200);
    for (const path of ['secrets/vol', 'configmaps/vol', 'secrets/env', 'configmaps/env', 'secrets/envfrom', 'configmaps/envfrom', 'secrets/projected', 'configmaps/projected', 'secrets/pull', 'serviceaccounts/runner']) {
      assert.equal(await get('n1', path), 200, `n1 reads ${path}`);
      assert.equal(await get('n2', path), 403, `n2 does not read ${path}`);
    }
    assert.equal(await get('n1', 'persistentvolumeclaims/data'), 404, 'the claim is authorized (it does not exist)');
    assert.equal(await get('n2', 'persistentvolumeclaims/data'), 403);
    assert.equal(await get('n1', 'secrets/unused'), 403, 'an unreferenced secret stays closed');
    assert.equal(await get('n1', 'configmaps/unused'), 403);
    assert.equal(await get('n1', 'serviceaccounts/default'), 403);
    assert.equal((await call('node-n1', 'GET', '/api/v1/namespaces/default/secrets')).status, 403, 'never list');
    // a second pod holding the same secret keeps it readable while the first goes
    const second = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'second' }, spec: { nodeName: 'n1', volumes: [{ name: 'a', secret: { secretName: 'vol' } }], containers: [{ name: 'c', image: 'x' }] } };
    assert.equal((await call('test-token', 'POST', '/api/v1/namespaces/default/pods', second)).status, 201);
    assert.equal((await call('test-token', 'DELETE', '/api/v1/namespaces/default/pods/app?gracePeriodSeconds=0')).status, 200);
    await eventually('access to go with the pod', async () => (await get('n1', 'secrets/env')) === 403);
    for (const path of ['configmaps/vol', 'secrets/envfrom', 'secrets/pull', 'serviceaccounts/runner']) assert.equal(await get('n1', path), 403, `after the pod: ${path}`);
    assert.equal(await get('n1', 'secrets/vol'), 200, 'still referenced by the second pod');
    assert.equal((await call('test-token', 'DELETE', '/api/v1/namespaces/default/pods/second?gracePeriodSeconds=0')).status, 200);
    await eventually('the last reference to go', async () => (await get('n1', 'secrets/vol')) === 403);
  });

  it('adds edges when a pod is bound to the node', async () => {
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'later' }, spec: { volumes: [{ name: 'a', secret: { secretName: 'unused' } }], containers: [{ name: 'c', image: 'x' }] } };
    assert.equal((await call('test-token', 'POST', '/api/v1/namespaces/default/pods', pod)).status, 201);
    assert.equal(await get('n3', 'secrets/unused'), 403);
    const binding = { apiVersion: 'v1', kind: 'Binding', metadata: { name: 'later' }, target: { apiVersion: 'v1', kind: 'Node', name: 'n3' } };
    assert.equal((await call('test-token', 'POST', '/api/v1/namespaces/default/pods/later/binding', binding)).status, 201);
    await eventually('the bound pod to grant its secret', async () => (await get('n3', 'secrets/unused')) === 200);
  });
});

describe('default-deny for users outside system:masters and the nodes', () => {
  let t: TestServer;
  const as = (who: string) => ({ authorization: `Bearer ${who}`, 'content-type': 'application/json' });
  before(async () => {
    t = await startTestServer({ authenticator });
    const cm = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, stringData: { k: 'v' } };
    assert.equal((await t.json('/api/v1/namespaces/default/secrets', { method: 'POST', headers: as('test-token'), body: JSON.stringify(cm) })).status, 201);
  });
  after(() => t.close());

  it('denies every resource request with the upstream message', async () => {
    const cases: [string, string, unknown?][] = [
      ['GET', '/api/v1/namespaces/default/secrets/s'],
      ['GET', '/api/v1/namespaces/default/secrets'],
      ['GET', '/api/v1/pods'],
      ['GET', '/api/v1/namespaces/default/pods?watch=1'],
      ['DELETE', '/api/v1/nodes/n1'],
      ['POST', '/api/v1/namespaces/default/pods', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'x' }] } }],
      ['POST', '/api/v1/namespaces/default/serviceaccounts/default/token', { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: {} }],
    ];
    for (const [method, path, body] of cases) {
      const r = await t.json<{ message?: string; reason?: string }>(path, { method, headers: as('user-alice'), body: body === undefined ? undefined : JSON.stringify(body) });
      assert.equal(r.status, 403, `${method} ${path}`);
      assert.equal(r.body.reason, 'Forbidden');
      assert.match(r.body.message ?? '', /is forbidden: User "alice" cannot /);
    }
    const nothing = await t.json<{ message?: string }>('/api/v1/namespaces/default/secrets/s', { headers: as('user-alice') });
    assert.equal(nothing.body.message, 'secrets "s" is forbidden: User "alice" cannot get resource "secrets" in API group "" in the namespace "default"');
  });

  it('still serves discovery, version, health and the self-subject reviews', async () => {
    for (const path of ['/api', '/api/v1', '/apis', '/version', '/healthz', '/readyz', '/openapi/v2', '/openapi/v3']) {
      assert.equal((await t.json(path, { headers: as('user-alice') })).status, 200, path);
    }
    const review = (resource: string) => ({
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SelfSubjectAccessReview',
      spec: { resourceAttributes: { verb: 'list', resource, namespace: 'default' } },
    });
    const r = await t.json<{ status?: { allowed?: boolean } }>('/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', { method: 'POST', headers: as('user-alice'), body: JSON.stringify(review('secrets')) });
    assert.equal(r.status, 201);
    assert.equal(r.body.status?.allowed, false);
    const admin = await t.json<{ status?: { allowed?: boolean } }>('/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', { method: 'POST', headers: as('test-token'), body: JSON.stringify(review('secrets')) });
    assert.equal(admin.body.status?.allowed, true);
    const who = await t.json<{ status?: { userInfo?: { username?: string } } }>('/apis/authentication.k8s.io/v1/selfsubjectreviews', { method: 'POST', headers: as('user-alice'), body: JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' }) });
    assert.equal(who.status, 201);
    assert.equal(who.body.status?.userInfo?.username, 'alice');
  });

});
