import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../../testing/test-server.ts';

const RBAC = '/apis/rbac.authorization.k8s.io/v1';

/** Poll a condition (RBAC caches follow a watch, so a new binding takes effect a moment later). */
async function eventually(what: string, fn: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe('RBAC authorization', () => {
  let t: TestServer;
  const call = (who: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    t.json<{ message?: string; reason?: string; status?: Record<string, unknown>; items?: unknown[] }>(path, {
      method,
      headers: { authorization: `Bearer ${who}`, 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const admin = async (method: string, path: string, body?: unknown): Promise<void> => {
    const r = await call('test-token', method, path, body);
    assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${r.body.message}`);
  };
  const role = (name: string, rules: unknown[]) => ({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name }, rules });
  const binding = (name: string, roleKind: string, roleName: string, subjects: unknown[]) => ({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: roleKind, name: roleName },
    subjects,
  });
  const user = (name: string) => ({ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name });

  before(async () => {
    t = await startTestServer();
    await admin('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team' } });
    for (const name of ['a', 'b']) await admin('POST', '/api/v1/namespaces/team/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name } });
  });
  after(() => t.close());

  it('serves the default ClusterRoles and bindings, with upstream table columns', async () => {
    const roles = await call('test-token', 'GET', `${RBAC}/clusterroles`);
    const names = (roles.body.items as { metadata: { name: string } }[]).map((r) => r.metadata.name);
    for (const n of ['cluster-admin', 'admin', 'edit', 'view', 'system:discovery', 'system:basic-user', 'system:public-info-viewer']) assert.ok(names.includes(n), n);
    const table = await t.json<{ columnDefinitions: { name: string }[]; rows: { cells: unknown[] }[] }>(`${RBAC}/clusterrolebindings/system:basic-user`, {
      headers: { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' },
    });
    assert.deepEqual(table.body.columnDefinitions.map((c) => c.name), ['Name', 'Role', 'Age', 'Users', 'Groups', 'ServiceAccounts']);
    assert.deepEqual(table.body.rows[0].cells.filter((_, i) => i !== 2), ['system:basic-user', 'ClusterRole/system:basic-user', '', 'system:authenticated', '']);
  });

  it('validates roles and bindings like kube-apiserver', async () => {
    const bad = await call('test-token', 'POST', `${RBAC}/namespaces/team/roles`, role('bad', [{ apiGroups: [''], resources: ['pods'] }, { nonResourceURLs: ['/x'], verbs: ['get'] }]));
    assert.equal(bad.status, 422);
    assert.match(bad.body.message ?? '', /rules\[0\]\.verbs: Required value: verbs must contain at least one value/);
    assert.match(bad.body.message ?? '', /rules\[1\]\.nonResourceURLs: Invalid value: .*namespaced rules cannot apply to non-resource URLs/);
    const badRef = await call('test-token', 'POST', `${RBAC}/namespaces/team/rolebindings`, binding('x', 'Secret', 'y', [{ kind: 'Robot', name: 'r' }]));
    assert.equal(badRef.status, 422);
    assert.match(badRef.body.message ?? '', /roleRef\.kind: Unsupported value: "Secret"/);
    assert.match(badRef.body.message ?? '', /subjects\[0\]\.kind: Unsupported value: "Robot"/);
    await admin('POST', `${RBAC}/namespaces/team/rolebindings`, binding('fixed', 'ClusterRole', 'view', [user('nobody')]));
    const change = await call('test-token', 'PATCH', `${RBAC}/namespaces/team/rolebindings/fixed`, { roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' } }, { 'content-type': 'application/merge-patch+json' });
    assert.equal(change.status, 422);
    assert.match(change.body.message ?? '', /roleRef: Invalid value: .*cannot change roleRef/);
  });

  it('denies until a RoleBinding grants, then allows exactly that (resources, names, subresources)', async () => {
    const list = () => call('user-bob', 'GET', '/api/v1/namespaces/team/configmaps');
    const denied = await list();
    assert.equal(denied.status, 403);
    assert.equal(denied.body.message, 'configmaps is forbidden: User "bob" cannot list resource "configmaps" in API group "" in the namespace "team"');
    await admin('POST', `${RBAC}/namespaces/team/roles`, role('cm-reader', [
      { apiGroups: [''], resources: ['configmaps'], verbs: ['list'] },
      { apiGroups: [''], resources: ['configmaps'], resourceNames: ['a'], verbs: ['get'] },
      { apiGroups: [''], resources: ['pods/log'], verbs: ['get'] },
    ]));
    await admin('POST', `${RBAC}/namespaces/team/rolebindings`, binding('bob-reads', 'Role', 'cm-reader', [user('bob')]));
    await eventually('the binding to take effect', async () => (await list()).status === 200);
    assert.equal((await call('user-bob', 'GET', '/api/v1/namespaces/team/configmaps/a')).status, 200);
    assert.equal((await call('user-bob', 'GET', '/api/v1/namespaces/team/configmaps/b')).status, 403, 'resourceNames limit get');
    assert.equal((await call('user-bob', 'GET', '/api/v1/namespaces/default/configmaps')).status, 403, 'other namespace');
    assert.equal((await call('user-bob', 'GET', '/api/v1/namespaces/team/configmaps?watch=1&timeoutSeconds=1')).status, 403, 'watch not granted');
    assert.equal((await call('user-bob', 'DELETE', '/api/v1/namespaces/team/configmaps/a')).status, 403);
    assert.equal((await call('user-bob', 'GET', '/api/v1/namespaces/team/pods')).status, 403, 'pods/log does not grant pods');
    assert.equal((await call('user-bob', 'GET', '/api/v1/namespaces/team/pods/p/log')).status, 404, 'the subresource is granted (the pod does not exist)');
    // removing the binding removes access
    await admin('DELETE', `${RBAC}/namespaces/team/rolebindings/bob-reads`);
    await eventually('the removal to take effect', async () => (await list()).status === 403);
  });

  it('grants groups, service accounts and non-resource URLs through ClusterRoleBindings', async () => {
    const sa = 'system:serviceaccount:team:robot';
    assert.equal((await call('user-carol', 'GET', '/metrics')).status, 403);
    await admin('POST', `${RBAC}/clusterroles`, { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'metrics-reader' }, rules: [{ nonResourceURLs: ['/metrics', '/debug/*'], verbs: ['get'] }, { apiGroups: ['*'], resources: ['nodes'], verbs: ['get', 'list'] }] });
    await admin('POST', `${RBAC}/clusterrolebindings`, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'metrics' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'metrics-reader' },
      subjects: [{ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: 'system:authenticated' }],
    });
    // an unknown path answers 404 once authorized, 403 before
    await eventually('the URL grant', async () => (await call('user-carol', 'GET', '/debug/pprof')).status === 404);
    assert.equal((await call('user-carol', 'POST', '/debug/pprof')).status, 403, 'verb post not granted');
    assert.equal((await call('user-carol', 'GET', '/api/v1/nodes')).status, 200);
    // a service account: the review answers for it without a token
    const sar = (u: string, groups: string[], attrs: Record<string, string>) =>
      call('test-token', 'POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec: { user: u, groups, resourceAttributes: attrs } });
    const saGroups = ['system:serviceaccounts', 'system:serviceaccounts:team', 'system:authenticated'];
    assert.equal((await sar(sa, saGroups, { verb: 'get', resource: 'pods', namespace: 'team' })).body.status?.allowed, false);
    await admin('POST', `${RBAC}/namespaces/team/rolebindings`, binding('robot-view', 'ClusterRole', 'view', [{ kind: 'ServiceAccount', name: 'robot' }]));
    await eventually('the service account grant', async () => (await sar(sa, saGroups, { verb: 'get', resource: 'pods', namespace: 'team' })).body.status?.allowed === true);
    assert.equal((await sar(sa, saGroups, { verb: 'get', resource: 'secrets', namespace: 'team' })).body.status?.allowed, false, 'view reads no secrets');
    assert.equal((await sar(sa, saGroups, { verb: 'get', resource: 'pods', namespace: 'default' })).body.status?.allowed, false);
  });

  it('answers can-i as the requests are decided, also impersonated', async () => {
    await admin('POST', `${RBAC}/namespaces/team/rolebindings`, binding('dave-edit', 'ClusterRole', 'edit', [user('dave')]));
    const ssar = (who: string, attrs: Record<string, string>, headers: Record<string, string> = {}) =>
      call(who, 'POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: attrs } }, headers);
    await eventually('dave can create pods', async () => (await ssar('user-dave', { verb: 'create', resource: 'pods', namespace: 'team' })).body.status?.allowed === true);
    assert.equal((await ssar('user-dave', { verb: 'create', resource: 'rolebindings', group: 'rbac.authorization.k8s.io', namespace: 'team' })).body.status?.allowed, false);
    // the admin impersonating dave gets dave's answers, and dave's access on real requests
    const asDave = { 'impersonate-user': 'dave' };
    assert.equal((await ssar('test-token', { verb: 'create', resource: 'pods', namespace: 'team' }, asDave)).body.status?.allowed, true);
    assert.equal((await ssar('test-token', { verb: 'list', resource: 'nodes' }, asDave)).body.status?.allowed, true, 'the metrics-reader grant to system:authenticated applies');
    assert.equal((await ssar('test-token', { verb: 'delete', resource: 'namespaces' }, asDave)).body.status?.allowed, false);
    assert.equal((await call('test-token', 'GET', '/api/v1/namespaces/team/secrets', undefined, asDave)).status, 200);
    assert.equal((await call('test-token', 'GET', '/api/v1/namespaces/default/secrets', undefined, asDave)).status, 403);
    // impersonation itself needs the impersonate verb
    const noImp = await call('user-bob', 'GET', '/api/v1/namespaces/team/configmaps', undefined, { 'impersonate-user': 'dave' });
    assert.equal(noImp.status, 403);
    assert.equal(noImp.body.message, 'users "dave" is forbidden: User "bob" cannot impersonate resource "users" in API group "" at the cluster scope');
    // edit may impersonate service accounts of its namespace (upstream's aggregate-to-edit)
    const asRobot = { 'impersonate-user': 'system:serviceaccount:team:robot' };
    assert.equal((await call('user-dave', 'GET', '/api/v1/namespaces/team/pods', undefined, asRobot)).status, 200, 'robot has view in team');
    assert.equal((await call('user-dave', 'GET', '/api/v1/namespaces/team/secrets', undefined, asRobot)).status, 403, 'robot does not read secrets');
    const rules = await call('user-dave', 'POST', '/apis/authorization.k8s.io/v1/selfsubjectrulesreviews', { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectRulesReview', spec: { namespace: 'team' } });
    assert.equal(rules.status, 201);
    const rr = rules.body.status as { resourceRules: { verbs: string[]; resources?: string[] }[]; nonResourceRules: { nonResourceURLs?: string[] }[]; incomplete: boolean };
    assert.equal(rr.incomplete, false);
    assert.ok(rr.resourceRules.some((r) => r.resources?.includes('secrets') && r.verbs.includes('create')));
    assert.ok(rr.resourceRules.some((r) => r.resources?.includes('selfsubjectaccessreviews')));
    assert.ok(rr.nonResourceRules.some((r) => r.nonResourceURLs?.includes('/api/*')));
  });

  it('refuses escalation: no role or binding granting more than the writer holds, unless escalate/bind', async () => {
    await admin('POST', `${RBAC}/namespaces/team/rolebindings`, binding('erin-admin', 'ClusterRole', 'admin', [user('erin')]));
    const create = (path: string, body: unknown) => call('user-erin', 'POST', path, body);
    await eventually('erin is admin of team', async () => (await call('user-erin', 'GET', `${RBAC}/namespaces/team/roles`)).status === 200);
    assert.equal((await create(`${RBAC}/namespaces/team/roles`, role('pod-reader', [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] }]))).status, 201);
    const tooMuch = await create(`${RBAC}/namespaces/team/roles`, role('node-proxy', [{ apiGroups: [''], resources: ['pods', 'nodes/proxy'], verbs: ['get'] }]));
    assert.equal(tooMuch.status, 403);
    assert.equal(
      tooMuch.body.message,
      'roles.rbac.authorization.k8s.io "node-proxy" is forbidden: user "erin" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[""], Resources:["nodes/proxy"], Verbs:["get"]}',
    );
    assert.equal((await create(`${RBAC}/namespaces/team/rolebindings`, binding('view-for-frank', 'ClusterRole', 'view', [user('frank')]))).status, 201);
    const escalate = await create(`${RBAC}/namespaces/team/rolebindings`, binding('me-root', 'ClusterRole', 'cluster-admin', [user('erin')]));
    assert.equal(escalate.status, 403);
    assert.match(escalate.body.message ?? '', /^rolebindings\.rbac\.authorization\.k8s\.io "me-root" is forbidden: user "erin" .* is attempting to grant RBAC permissions not currently held:\n/);
    assert.equal((await create(`${RBAC}/clusterroles`, { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'x' }, rules: [] })).status, 403, 'admin of a namespace cannot create ClusterRoles');
    // `bind` on cluster-admin lets erin bind it without holding it
    await admin('POST', `${RBAC}/namespaces/team/roles`, role('binder', [{ apiGroups: ['rbac.authorization.k8s.io'], resources: ['clusterroles'], resourceNames: ['cluster-admin'], verbs: ['bind'] }]));
    await admin('POST', `${RBAC}/namespaces/team/rolebindings`, binding('erin-binder', 'Role', 'binder', [user('erin')]));
    await eventually('the bind grant', async () => (await create(`${RBAC}/namespaces/team/rolebindings`, binding('me-root', 'ClusterRole', 'cluster-admin', [user('erin')]))).status === 201);
    // `escalate` lets a role holder write rules it does not hold
    await admin('POST', `${RBAC}/namespaces/team/roles`, role('escalator', [{ apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles'], verbs: ['escalate', 'create'] }]));
    await admin('POST', `${RBAC}/namespaces/team/rolebindings`, binding('gina-escalates', 'Role', 'escalator', [user('gina')]));
    await eventually('the escalate grant', async () => (await call('user-gina', 'POST', `${RBAC}/namespaces/team/roles`, role('anything', [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }]))).status === 201);
  });
});
