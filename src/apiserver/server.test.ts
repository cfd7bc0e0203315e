import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from './testing/test-server.ts';
import { until } from './testing/until.ts';

type Obj = {
  kind?: string;
  apiVersion?: string;
  metadata: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    labels?: Record<string, string>;
    finalizers?: string[];
    deletionTimestamp?: string;
    deletionGracePeriodSeconds?: number;
    continue?: string;
    remainingItemCount?: number;
    managedFields?: unknown[];
  };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
  data?: Record<string, string>;
  items?: Obj[];
  message?: string;
  reason?: string;
  code?: number;
  details?: { name?: string; kind?: string; causes?: { field: string; reason: string; message: string }[] };
  [k: string]: unknown;
};

const JSON_CT = { 'content-type': 'application/json' };

function pod(name: string, extra: Partial<Obj> = {}): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, ...(extra.metadata ?? {}) },
    spec: { containers: [{ name: 'c', image: 'busybox' }], ...(extra.spec ?? {}) },
  };
}

describe('apiserver REST', () => {
  let t: TestServer;
  const post = (path: string, body: unknown, headers: Record<string, string> = JSON_CT) =>
    t.json<Obj>(path, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const put = (path: string, body: unknown) => t.json<Obj>(path, { method: 'PUT', headers: JSON_CT, body: JSON.stringify(body) });
  const patch = (path: string, type: string, body: unknown) =>
    t.json<Obj>(path, { method: 'PATCH', headers: { 'content-type': type }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const del = (path: string, body?: unknown) =>
    t.json<Obj>(path, { method: 'DELETE', headers: JSON_CT, body: body === undefined ? undefined : JSON.stringify(body) });

  before(async () => {
    t = await startTestServer({ maxBodyBytes: 64 * 1024, namespaceRetryMs: 20 });
  });
  after(async () => {
    await t.close();
  });

  it('serves version and health to the anonymous (system:public-info-viewer)', async () => {
    const v = await fetch(`${t.url}/version`);
    assert.equal(v.status, 200);
    const body = (await v.json()) as { major: string; minor: string; gitVersion: string };
    assert.equal(body.major, '1');
    assert.equal(body.minor, '32');
    assert.match(body.gitVersion, /^v1\.32\./);
    for (const p of ['/healthz', '/livez', '/readyz', '/version/', '/healthz?verbose']) assert.equal((await fetch(`${t.url}${p}`)).status, 200, p);
  });

  it('authorizes the health checks by name as upstream: the anonymous gets 403, system:monitoring reads them', async () => {
    for (const p of ['/healthz/etcd', '/readyz/ping', '/livez/ping', '/healthz/', '/metrics']) {
      const r = await fetch(`${t.url}${p}`);
      assert.equal(r.status, 403, p);
      const s = (await r.json()) as Obj;
      assert.deepEqual([s.reason, s.message], ['Forbidden', `forbidden: User "system:anonymous" cannot get path "${p}"`]);
    }
    // an authenticated user has discovery and public info, not the named checks
    const carol = { authorization: 'Bearer user-health-carol' };
    assert.equal((await t.request('/readyz', { headers: carol })).status, 200);
    assert.equal((await t.request('/api', { headers: carol })).status, 200);
    assert.equal((await t.request('/readyz/ping', { headers: carol })).status, 403);
    assert.equal((await fetch(`${t.url}/api`)).status, 403, 'discovery is for the authenticated');
    const binding = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'carol-monitoring' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:monitoring' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'health-carol' }] };
    assert.equal((await post('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', binding)).status, 201);
    await until('carol may read the named checks', async () => (await t.request('/readyz/ping', { headers: carol })).status === 200);
    for (const p of ['/healthz/ping', '/livez/ping', '/metrics']) assert.equal((await t.request(p, { headers: carol })).status, 200, p);
    assert.equal((await t.request('/healthz/nope', { headers: carol })).status, 404);
    // a credential that is not accepted is a 401, never the anonymous
    assert.equal((await fetch(`${t.url}/healthz`, { headers: { authorization: 'Bearer not-a-token' } })).status, 401);
  });

  it('--anonymous-auth=false: a request without credentials is a 401, health checks too', async () => {
    const closed = await startTestServer({ anonymousAuth: false });
    try {
      for (const p of ['/healthz', '/readyz', '/version', '/api/v1/pods']) {
        const r = await fetch(`${closed.url}${p}`);
        assert.equal(r.status, 401, p);
        assert.deepEqual(await r.json(), { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
      }
      assert.equal((await closed.request('/readyz')).status, 200);
    } finally {
      await closed.close();
    }
  });

  it('health endpoints as upstream: one check by name, 404 for a name not installed, ?verbose, ?exclude', async () => {
    const get = async (p: string) => {
      const r = await t.request(p);
      return { status: r.status, text: await r.text(), type: r.headers.get('content-type'), nosniff: r.headers.get('x-content-type-options') };
    };
    for (const e of ['healthz', 'livez', 'readyz']) {
      assert.deepEqual(await get(`/${e}/ping`), { status: 200, text: 'ok', type: 'text/plain; charset=utf-8', nosniff: 'nosniff' });
      assert.deepEqual(await get(`/${e}/nope`), { status: 404, text: '404 page not found\n', type: 'text/plain; charset=utf-8', nosniff: 'nosniff' });
      assert.equal((await get(`/${e}/kms-providers`)).status, 404, 'no KMS provider configured');
      assert.equal((await get(`/${e}?verbose`)).text, `[+]ping ok\n${e} check passed\n`);
      assert.equal((await get(`/${e}?exclude=dontexist`)).text, 'ok');
      assert.equal((await get(`/${e}?verbose=true&exclude=ping`)).text, `[+]ping excluded: ok\n${e} check passed\n`);
      assert.equal(
        (await get(`/${e}?verbose&exclude=b&exclude=a`)).text,
        `[+]ping ok\nwarn: some health checks cannot be excluded: no matches for "a","b"\n${e} check passed\n`,
      );
    }
  });

  it('serves APF\'s debug dumps to whom RBAC grants the non-resource URL', async () => {
    const path = '/debug/api_priority_and_fairness/dump_priority_levels';
    const admin = await t.request(path);
    assert.equal(admin.status, 200);
    assert.match(await admin.text(), /^PriorityLevelName, +ActiveQueues, +IsIdle,/);
    assert.equal((await fetch(`${t.url}${path}`)).status, 403);
    const bob = { authorization: 'Bearer user-apf-bob' };
    const denied = await t.json<Obj>(path, { headers: bob });
    assert.equal(denied.status, 403);
    assert.equal(denied.body.message, `forbidden: User "apf-bob" cannot get path "${path}"`);
    const role = await post('/apis/rbac.authorization.k8s.io/v1/clusterroles', { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'apf-debug' }, rules: [{ verbs: ['get'], nonResourceURLs: ['/debug/api_priority_and_fairness/*'] }] });
    assert.equal(role.status, 201, JSON.stringify(role.body));
    const binding = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'apf-debug' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'apf-debug' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'apf-bob' }] };
    const bound = await post('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', binding);
    assert.equal(bound.status, 201, JSON.stringify(bound.body));
    await until('bob may dump', async () => (await t.request('/debug/api_priority_and_fairness/dump_requests', { headers: bob })).status === 200);
    assert.equal((await t.request('/debug/api_priority_and_fairness/dump_nothing', { headers: bob })).status, 404);
  });

  it('authorizes anonymous requests as system:anonymous: a 403 Status', async () => {
    const r = await fetch(`${t.url}/api/v1/pods`);
    assert.equal(r.status, 403);
    const s = (await r.json()) as Obj;
    assert.deepEqual(s, {
      kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason: 'Forbidden', code: 403,
      message: 'pods is forbidden: User "system:anonymous" cannot list resource "pods" in API group "" at the cluster scope',
      details: { kind: 'pods' },
    });
    // nor discovery nor self reviews: upstream binds system:discovery and system:basic-user to authenticated users only
    for (const p of ['/api', '/apis', '/openapi/v2']) assert.equal((await fetch(`${t.url}${p}`)).status, 403, p);
    const review = await fetch(`${t.url}/apis/authentication.k8s.io/v1/selfsubjectreviews`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}' });
    assert.equal(review.status, 403);
  });

  it('creates the bootstrap namespaces with a default service account', async () => {
    const list = await t.json<Obj>('/api/v1/namespaces');
    const names = list.body.items?.map((n) => n.metadata.name);
    for (const n of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) assert.ok(names?.includes(n), n);
    const sa = await t.json<Obj>('/api/v1/namespaces/kube-system/serviceaccounts/default');
    assert.equal(sa.status, 200);
    assert.equal(list.body.items?.[0].status?.phase, 'Active');
  });

  it('does create, get, update, patch and delete', async () => {
    const c = await post('/api/v1/namespaces/default/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'crud' }, data: { a: '1' } });
    assert.equal(c.status, 201);
    assert.ok(c.body.metadata.uid);
    assert.match(c.body.metadata.resourceVersion ?? '', /^\d+$/);
    assert.equal(c.body.metadata.namespace, 'default');

    const g = await t.json<Obj>('/api/v1/namespaces/default/configmaps/crud');
    assert.equal(g.status, 200);
    assert.deepEqual(g.body.data, { a: '1' });

    const u = await put('/api/v1/namespaces/default/configmaps/crud', { ...g.body, data: { a: '2' } });
    assert.equal(u.status, 200);
    assert.deepEqual(u.body.data, { a: '2' });
    assert.ok(Number(u.body.metadata.resourceVersion) > Number(g.body.metadata.resourceVersion));

    const mp = await patch('/api/v1/namespaces/default/configmaps/crud', 'application/merge-patch+json', { data: { b: '3' } });
    assert.equal(mp.status, 200);
    assert.deepEqual(mp.body.data, { a: '2', b: '3' });
    const jp = await patch('/api/v1/namespaces/default/configmaps/crud', 'application/json-patch+json', [{ op: 'remove', path: '/data/a' }]);
    assert.deepEqual(jp.body.data, { b: '3' });
    const sp = await patch('/api/v1/namespaces/default/configmaps/crud', 'application/strategic-merge-patch+json', { data: { c: '4' } });
    assert.deepEqual(sp.body.data, { b: '3', c: '4' });

    const d = await del('/api/v1/namespaces/default/configmaps/crud');
    assert.equal(d.status, 200);
    assert.equal(d.body.kind, 'Status');
    assert.equal(d.body.status, 'Success');
    assert.equal(d.body.details?.name, 'crud');
    assert.equal((await t.json('/api/v1/namespaces/default/configmaps/crud')).status, 404);
  });

  it('returns upstream-shaped 404 and 409 Status bodies', async () => {
    const nf = await t.json<Obj>('/api/v1/namespaces/default/pods/nope');
    assert.equal(nf.status, 404);
    assert.deepEqual(nf.body, {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'pods "nope" not found',
      reason: 'NotFound',
      details: { name: 'nope', kind: 'pods' },
      code: 404,
    });
    assert.equal((await post('/api/v1/namespaces/default/pods', pod('dup'))).status, 201);
    const ae = await post('/api/v1/namespaces/default/pods', pod('dup'));
    assert.equal(ae.status, 409);
    assert.equal(ae.body.reason, 'AlreadyExists');
    assert.equal(ae.body.message, 'pods "dup" already exists');
  });

  it('refuses a stale resourceVersion on PUT and allows an unconditional one', async () => {
    const c = await post('/api/v1/namespaces/default/configmaps', { metadata: { name: 'occ' }, data: { a: '1' } });
    const first = await put('/api/v1/namespaces/default/configmaps/occ', { ...c.body, data: { a: '2' } });
    assert.equal(first.status, 200);
    const stale = await put('/api/v1/namespaces/default/configmaps/occ', { ...c.body, data: { a: '3' } });
    assert.equal(stale.status, 409);
    assert.equal(stale.body.reason, 'Conflict');
    assert.equal(
      stale.body.message,
      'Operation cannot be fulfilled on configmaps "occ": the object has been modified; please apply your changes to the latest version and try again',
    );
    const { resourceVersion: _rv, ...meta } = c.body.metadata;
    const unconditional = await put('/api/v1/namespaces/default/configmaps/occ', { ...c.body, metadata: meta, data: { a: '4' } });
    assert.equal(unconditional.status, 200);
    assert.deepEqual(unconditional.body.data, { a: '4' });
  });

  it('maps client mistakes to 4xx, never 5xx', async () => {
    const invalid = await post('/api/v1/namespaces/default/configmaps', { metadata: { name: 'Bad_Name' } });
    assert.equal(invalid.status, 422);
    assert.equal(invalid.body.reason, 'Invalid');
    assert.equal(invalid.body.details?.causes?.[0].field, 'metadata.name');
    assert.match(invalid.body.message ?? '', /^ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name"/);

    const noName = await post('/api/v1/namespaces/default/configmaps', { metadata: {} });
    assert.equal(noName.status, 422);
    assert.match(noName.body.message ?? '', /name or generateName is required/);

    const malformed = await post('/api/v1/namespaces/default/configmaps', '{"metadata":');
    assert.equal(malformed.status, 400);
    assert.equal(malformed.body.reason, 'BadRequest');

    const badYaml = await post('/api/v1/namespaces/default/configmaps', 'metadata: [unclosed', { 'content-type': 'application/yaml' });
    assert.equal(badYaml.status, 400);

    const yamlOk = await post('/api/v1/namespaces/default/configmaps', 'metadata:\n  name: from-yaml\ndata:\n  k: v\n', {
      'content-type': 'application/yaml',
    });
    assert.equal(yamlOk.status, 201);
    assert.deepEqual(yamlOk.body.data, { k: 'v' });

    const big = await post('/api/v1/namespaces/default/configmaps', { metadata: { name: 'big' }, data: { x: 'y'.repeat(70 * 1024) } });
    assert.equal(big.status, 413);
    assert.equal(big.body.reason, 'RequestEntityTooLarge');

    const ct = await post('/api/v1/namespaces/default/configmaps', '{}', { 'content-type': 'text/plain' });
    assert.equal(ct.status, 415);
    assert.equal(ct.body.reason, 'UnsupportedMediaType');

    const patchCt = await patch('/api/v1/namespaces/default/pods/dup', 'application/json', {});
    assert.equal(patchCt.status, 415);

    const na = await t.json<Obj>('/api/v1/namespaces/default/pods', { headers: { accept: 'application/vnd.kubernetes.protobuf' } });
    assert.equal(na.status, 406);
    assert.equal(na.body.reason, 'NotAcceptable');
    const pbThenJson = await t.json<Obj>('/api/v1/namespaces/default/pods', {
      headers: { accept: 'application/vnd.kubernetes.protobuf,application/json' },
    });
    assert.equal(pbThenJson.status, 200);

    const kind = await post('/api/v1/namespaces/default/configmaps', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'k' } });
    assert.equal(kind.status, 400);
    const version = await post('/api/v1/namespaces/default/configmaps', { apiVersion: 'apps/v1', kind: 'ConfigMap', metadata: { name: 'k' } });
    assert.equal(version.status, 400);
    const ns = await post('/api/v1/namespaces/default/configmaps', { metadata: { name: 'k', namespace: 'other' } });
    assert.equal(ns.status, 400);
    assert.equal(ns.body.message, 'the namespace of the provided object does not match the namespace sent on the request');
    const name = await put('/api/v1/namespaces/default/configmaps/from-yaml', { metadata: { name: 'other' } });
    assert.equal(name.status, 400);
    assert.equal(name.body.message, 'the name of the object (other) does not match the name on the URL (from-yaml)');

    const wrongType = await post('/api/v1/namespaces/default/pods', { metadata: { name: 'wt' }, spec: { containers: 'nope' } });
    assert.equal(wrongType.status, 400);
    const notObject = await post('/api/v1/namespaces/default/configmaps', '[1,2]');
    assert.equal(notObject.status, 400);
    const badUtf8 = await t.json<Obj>('/api/v1/namespaces/default/configmaps', {
      method: 'POST',
      headers: JSON_CT,
      body: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]),
    });
    assert.equal(badUtf8.status, 400);
    const deep = await post('/api/v1/namespaces/default/configmaps', `{"metadata":{"name":"deep"},"data":${'['.repeat(5000)}${']'.repeat(5000)}}`);
    assert.equal(deep.status, 400);
    const noNs = await post('/api/v1/namespaces/missing/configmaps', { metadata: { name: 'x' } });
    assert.equal(noNs.status, 404);
    assert.equal(noNs.body.message, 'namespaces "missing" not found');
    const badSel = await t.json<Obj>('/api/v1/pods?labelSelector=a%20in%20(b');
    assert.equal(badSel.status, 400);
    const badField = await t.json<Obj>('/api/v1/pods?fieldSelector=spec.foo%3D1');
    assert.equal(badField.status, 400);
    assert.equal(badField.body.message, 'field label not supported: spec.foo');
    const unknownRes = await t.json<Obj>('/api/v1/namespaces/default/widgets');
    assert.equal(unknownRes.status, 404);
    const method = await t.json<Obj>('/api/v1/namespaces/default/pods', { method: 'PUT', headers: JSON_CT, body: '{}' });
    assert.equal(method.status, 405);
  });

  it('retries concurrent patches internally so none is lost', async () => {
    await post('/api/v1/namespaces/default/configmaps', { metadata: { name: 'race' }, data: {} });
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => patch('/api/v1/namespaces/default/configmaps/race', 'application/merge-patch+json', { data: { [`k${i}`]: String(i) } })),
    );
    assert.ok(results.every((r) => r.status === 200));
    const got = await t.json<Obj>('/api/v1/namespaces/default/configmaps/race');
    assert.equal(Object.keys(got.body.data ?? {}).length, 10);
    const withRv = await patch('/api/v1/namespaces/default/configmaps/race', 'application/merge-patch+json', {
      metadata: { resourceVersion: '1' },
      data: { z: '1' },
    });
    assert.equal(withRv.status, 409);
  });

  it('lists at an exact resourceVersion and refuses future ones', async () => {
    const c = await post('/api/v1/namespaces/default/configmaps', { metadata: { name: 'exact' }, data: { v: 'old' } });
    const rv = c.body.metadata.resourceVersion ?? '';
    await patch('/api/v1/namespaces/default/configmaps/exact', 'application/merge-patch+json', { data: { v: 'new' } });
    const old = await t.json<Obj>(`/api/v1/namespaces/default/configmaps?resourceVersion=${rv}&resourceVersionMatch=Exact`);
    assert.equal(old.status, 200);
    assert.equal(old.body.metadata.resourceVersion, rv);
    assert.equal(old.body.items?.find((i) => i.metadata.name === 'exact')?.data?.v, 'old');
    const any = await t.json<Obj>('/api/v1/namespaces/default/configmaps?resourceVersion=0');
    assert.equal(any.body.items?.find((i) => i.metadata.name === 'exact')?.data?.v, 'new');
    const future = await t.json<Obj>('/api/v1/namespaces/default/configmaps?resourceVersion=999999999');
    assert.equal(future.status, 504);
    assert.match(future.body.message ?? '', /Too large resource version/);
    const noRv = await t.json<Obj>('/api/v1/namespaces/default/configmaps?resourceVersionMatch=Exact');
    assert.equal(noRv.status, 400);
  });

  it('honours fieldValidation Strict, Warn and Ignore', async () => {
    const body = { metadata: { name: 'fv' }, data: { a: '1' }, spec: { foo: 1 } };
    const strict = await post('/api/v1/namespaces/default/configmaps?fieldValidation=Strict', body);
    assert.equal(strict.status, 400);
    assert.match(strict.body.message ?? '', /strict decoding error: unknown field "spec"/);
    const warn = await post('/api/v1/namespaces/default/configmaps?fieldValidation=Warn', body);
    assert.equal(warn.status, 201);
    assert.equal(warn.headers.get('warning'), '299 - "unknown field \\"spec\\""');
    const ignore = await post('/api/v1/namespaces/default/configmaps?fieldValidation=Ignore', { ...body, metadata: { name: 'fv2' } });
    assert.equal(ignore.status, 201);
    assert.equal(ignore.headers.get('warning'), null);
  });

  it('honours dryRun=All without writing', async () => {
    const before = await t.store.currentRevision();
    const c = await post('/api/v1/namespaces/default/configmaps?dryRun=All', { metadata: { name: 'dry' }, data: { a: '1' } });
    assert.equal(c.status, 201);
    assert.equal(c.body.metadata.name, 'dry');
    assert.equal((await t.json('/api/v1/namespaces/default/configmaps/dry')).status, 404);
    await post('/api/v1/namespaces/default/configmaps', { metadata: { name: 'dry2' } });
    const mid = await t.store.currentRevision();
    const p = await patch('/api/v1/namespaces/default/configmaps/dry2?dryRun=All', 'application/merge-patch+json', { data: { x: 'y' } });
    assert.deepEqual(p.body.data, { x: 'y' });
    const d = await del('/api/v1/namespaces/default/configmaps/dry2?dryRun=All');
    assert.equal(d.status, 200);
    assert.equal(await t.store.currentRevision(), mid);
    assert.ok(mid > before);
    const bad = await post('/api/v1/namespaces/default/configmaps?dryRun=Some', { metadata: { name: 'dry3' } });
    assert.equal(bad.status, 400);
  });

  it('generates names and tracks generation', async () => {
    const c = await post('/api/v1/namespaces/default/pods', { metadata: { generateName: 'gen-' }, spec: { containers: [{ name: 'c', image: 'a' }] } });
    assert.equal(c.status, 201);
    assert.match(c.body.metadata.name ?? '', /^gen-[a-z0-9]{5}$/);
    assert.equal(c.body.metadata.generation, 1);
    const labelOnly = await patch(`/api/v1/namespaces/default/pods/${c.body.metadata.name}`, 'application/merge-patch+json', {
      metadata: { labels: { a: 'b' } },
    });
    assert.equal(labelOnly.body.metadata.generation, 1);
    const spec = await patch(`/api/v1/namespaces/default/pods/${c.body.metadata.name}`, 'application/merge-patch+json', {
      spec: { activeDeadlineSeconds: 5 },
    });
    assert.equal(spec.body.metadata.generation, 2);
  });

  it('separates status from the main resource', async () => {
    await post('/api/v1/namespaces/default/pods', pod('st'));
    const main = await patch('/api/v1/namespaces/default/pods/st', 'application/merge-patch+json', { status: { phase: 'Running' } });
    assert.equal(main.status, 200);
    assert.equal(main.body.status?.phase, 'Pending');
    const s = await patch('/api/v1/namespaces/default/pods/st/status', 'application/merge-patch+json', {
      status: { phase: 'Running' },
      metadata: { labels: { ignored: 'yes' } },
    });
    assert.equal(s.status, 200);
    assert.equal(s.body.status?.phase, 'Running');
    assert.equal(s.body.metadata.labels?.ignored, undefined);
    const got = await t.json<Obj>('/api/v1/namespaces/default/pods/st/status');
    assert.equal(got.body.status?.phase, 'Running');
  });

  it('binds pods once and deletes bound pods gracefully', async () => {
    const created = await post('/api/v1/namespaces/default/pods', pod('gp', { spec: { terminationGracePeriodSeconds: 10 } }));
    assert.ok(created.body.metadata.managedFields?.length);
    const bind = await post('/api/v1/namespaces/default/pods/gp/binding', {
      apiVersion: 'v1',
      kind: 'Binding',
      metadata: { name: 'gp' },
      target: { apiVersion: 'v1', kind: 'Node', name: 'n1' },
    });
    assert.equal(bind.status, 201);
    assert.equal(bind.body.status, 'Success');
    const again = await post('/api/v1/namespaces/default/pods/gp/binding', { kind: 'Binding', apiVersion: 'v1', metadata: { name: 'gp' }, target: { name: 'n2' } });
    assert.equal(again.status, 409);
    assert.equal(again.body.message, 'Operation cannot be fulfilled on pods/binding "gp": pod gp is already assigned to node "n1"');
    const bound = await t.json<Obj>('/api/v1/namespaces/default/pods/gp');
    assert.equal(bound.body.spec?.nodeName, 'n1');
    const conds = (bound.body.status?.conditions ?? []) as { type: string; status: string }[];
    assert.equal(conds.find((c) => c.type === 'PodScheduled')?.status, 'True');
    // as upstream's BindingREST: the bind is a storage write past the field manager
    assert.deepEqual(bound.body.metadata.managedFields, created.body.metadata.managedFields);

    const d1 = await del('/api/v1/namespaces/default/pods/gp');
    assert.equal(d1.status, 200);
    assert.equal(d1.body.kind, 'Pod');
    assert.ok(d1.body.metadata.deletionTimestamp);
    assert.equal(d1.body.metadata.deletionGracePeriodSeconds, 10);
    assert.equal((await t.json('/api/v1/namespaces/default/pods/gp')).status, 200);
    const d2 = await del('/api/v1/namespaces/default/pods/gp', { kind: 'DeleteOptions', apiVersion: 'v1', gracePeriodSeconds: 0 });
    assert.equal(d2.status, 200);
    assert.equal((await t.json('/api/v1/namespaces/default/pods/gp')).status, 404);

    await post('/api/v1/namespaces/default/pods', pod('unbound'));
    const d3 = await del('/api/v1/namespaces/default/pods/unbound');
    assert.equal(d3.status, 200);
    assert.equal(d3.body.kind, 'Pod');
    assert.equal((await t.json('/api/v1/namespaces/default/pods/unbound')).status, 404);
  });

  it('checks delete preconditions', async () => {
    const c = await post('/api/v1/namespaces/default/configmaps', { metadata: { name: 'pre' } });
    const bad = await del('/api/v1/namespaces/default/configmaps/pre', { preconditions: { uid: 'not-it' } });
    assert.equal(bad.status, 409);
    assert.match(bad.body.message ?? '', /Precondition failed: UID in precondition: not-it/);
    const ok = await del('/api/v1/namespaces/default/configmaps/pre', { preconditions: { uid: c.body.metadata.uid } });
    assert.equal(ok.status, 200);
    const badPolicy = await del('/api/v1/namespaces/default/configmaps/x?propagationPolicy=Sometimes');
    assert.equal(badPolicy.status, 422);
  });

  it('keeps objects with finalizers until the last one is removed', async () => {
    await post('/api/v1/namespaces/default/configmaps', { metadata: { name: 'fin', finalizers: ['example.com/hold'] } });
    const d = await del('/api/v1/namespaces/default/configmaps/fin');
    assert.equal(d.status, 200);
    assert.equal(d.body.kind, 'ConfigMap');
    assert.ok(d.body.metadata.deletionTimestamp);
    const still = await t.json<Obj>('/api/v1/namespaces/default/configmaps/fin');
    assert.equal(still.status, 200);
    const add = await patch('/api/v1/namespaces/default/configmaps/fin', 'application/merge-patch+json', {
      metadata: { finalizers: ['example.com/hold', 'example.com/more'] },
    });
    assert.equal(add.status, 422);
    const drained = await patch('/api/v1/namespaces/default/configmaps/fin', 'application/merge-patch+json', { metadata: { finalizers: null } });
    assert.equal(drained.status, 200);
    assert.equal((await t.json('/api/v1/namespaces/default/configmaps/fin')).status, 404);
  });

  it('filters lists by label and field selectors', async () => {
    await post('/api/v1/namespaces/default/configmaps', { metadata: { name: 'sel-a', labels: { app: 'a', tier: 'x' } } });
    await post('/api/v1/namespaces/default/configmaps', { metadata: { name: 'sel-b', labels: { app: 'b' } } });
    const byLabel = await t.json<Obj>('/api/v1/namespaces/default/configmaps?labelSelector=app%20in%20(a,b),tier');
    assert.deepEqual(byLabel.body.items?.map((i) => i.metadata.name), ['sel-a']);
    const byField = await t.json<Obj>('/api/v1/configmaps?fieldSelector=metadata.name%3Dsel-b');
    assert.deepEqual(byField.body.items?.map((i) => i.metadata.name), ['sel-b']);
    const notNs = await t.json<Obj>('/api/v1/configmaps?fieldSelector=metadata.namespace!%3Ddefault');
    assert.ok(notNs.body.items?.every((i) => i.metadata.namespace !== 'default'));
  });

  it('paginates with limit and continue, filling pages under a selector', async () => {
    await post('/api/v1/namespaces', { metadata: { name: 'pages' } });
    for (let i = 0; i < 7; i++) {
      await post('/api/v1/namespaces/pages/configmaps', { metadata: { name: `p${i}`, labels: { even: String(i % 2 === 0) } } });
    }
    const seen: string[] = [];
    let cont = '';
    let pages = 0;
    do {
      const r = await t.json<Obj>(`/api/v1/namespaces/pages/configmaps?limit=3${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`);
      assert.equal(r.status, 200);
      seen.push(...(r.body.items ?? []).map((i) => i.metadata.name ?? ''));
      cont = r.body.metadata.continue ?? '';
      if (pages === 0) assert.equal(r.body.metadata.remainingItemCount, 4);
      pages++;
    } while (cont);
    assert.equal(pages, 3);
    assert.deepEqual(seen, ['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6']);

    const filtered = await t.json<Obj>('/api/v1/namespaces/pages/configmaps?limit=3&labelSelector=even%3Dtrue');
    assert.deepEqual(filtered.body.items?.map((i) => i.metadata.name), ['p0', 'p2', 'p4']);
    assert.ok(filtered.body.metadata.continue);
    const rest = await t.json<Obj>(
      `/api/v1/namespaces/pages/configmaps?limit=3&labelSelector=even%3Dtrue&continue=${encodeURIComponent(filtered.body.metadata.continue ?? '')}`,
    );
    assert.deepEqual(rest.body.items?.map((i) => i.metadata.name), ['p6']);
    assert.equal(rest.body.metadata.continue, undefined);

    const garbage = await t.json<Obj>('/api/v1/namespaces/pages/configmaps?limit=3&continue=zzz');
    assert.equal(garbage.status, 400);
  });

  it('returns 410 Expired for a continue token whose revision was compacted', async () => {
    const first = await t.json<Obj>('/api/v1/namespaces/pages/configmaps?limit=2');
    const token = first.body.metadata.continue ?? '';
    await post('/api/v1/namespaces/pages/configmaps', { metadata: { name: 'bump' } });
    await t.store.compact(await t.store.currentRevision());
    const r = await t.json<Obj>(`/api/v1/namespaces/pages/configmaps?limit=2&continue=${encodeURIComponent(token)}`);
    assert.equal(r.status, 410);
    assert.equal(r.body.reason, 'Expired');
    assert.match(r.body.message ?? '', /^The provided continue parameter is too old/);
  });

  it('serves Table output for get and list', async () => {
    const accept = { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' };
    const list = await t.json<Obj>('/api/v1/namespaces/default/pods', { headers: accept });
    assert.equal(list.status, 200);
    assert.match(list.headers.get('content-type') ?? '', /as=Table/);
    assert.equal(list.body.kind, 'Table');
    assert.equal(list.body.apiVersion, 'meta.k8s.io/v1');
    const cols = list.body.columnDefinitions as { name: string }[];
    assert.ok(cols.length >= 2);
    assert.equal(cols[0].name, 'Name');
    const rows = list.body.rows as { cells: unknown[]; object: Obj }[];
    assert.ok(rows.length > 0);
    assert.equal(rows[0].object.kind, 'PartialObjectMetadata');
    // the spliced Metadata rows are exactly what serializing the whole Table gives
    const v1beta1 = { accept: 'application/json;as=Table;v=v1beta1;g=meta.k8s.io' };
    const [spliced, plain, full] = await Promise.all([
      t.json<Obj>('/api/v1/namespaces/default/pods', { headers: v1beta1 }),
      t.json<Obj>('/api/v1/namespaces/default/pods', { headers: { accept: 'application/json' } }),
      t.json<Obj>('/api/v1/namespaces/default/pods?includeObject=Object', { headers: v1beta1 }),
    ]);
    assert.equal(spliced.body.apiVersion, 'meta.k8s.io/v1beta1');
    assert.match(spliced.headers.get('content-type') ?? '', /v=v1beta1/);
    const items = plain.body.items as Obj[];
    const splicedRows = spliced.body.rows as { cells: unknown[]; object: Obj }[];
    assert.equal(splicedRows.length, items.length);
    // ages may tick between the two requests
    const age = (full.body.columnDefinitions as { name: string }[]).findIndex((c) => c.name === 'Age');
    const timeless = (cells: unknown[]): unknown[] => cells.filter((_, j) => j !== age);
    for (const [i, row] of splicedRows.entries()) {
      assert.deepEqual(row.object, { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: items[i].metadata });
      assert.deepEqual(timeless(row.cells), timeless((full.body.rows as { cells: unknown[] }[])[i].cells));
    }
    assert.deepEqual(spliced.body.columnDefinitions, full.body.columnDefinitions);
    assert.deepEqual(spliced.body.metadata, full.body.metadata);
    const none = await t.json<Obj>('/api/v1/namespaces/default/pods/st?includeObject=None', { headers: accept });
    assert.equal(none.body.kind, 'Table');
    const oneRow = (none.body.rows as { cells: unknown[]; object?: unknown }[])[0];
    assert.equal(oneRow.cells[0], 'st');
    assert.equal(oneRow.object, undefined);
  });

  it('serves discovery (legacy and aggregated)', async () => {
    const api = await t.json<Obj>('/api');
    assert.equal(api.body.kind, 'APIVersions');
    assert.deepEqual(api.body.versions, ['v1']);
    const v1 = await t.json<Obj>('/api/v1');
    assert.equal(v1.body.kind, 'APIResourceList');
    const resources = v1.body.resources as { name: string; verbs: string[]; shortNames?: string[]; namespaced: boolean; kind: string }[];
    const pods = resources.find((r) => r.name === 'pods');
    assert.deepEqual(pods?.shortNames, ['po']);
    assert.ok(pods?.verbs.includes('watch'));
    assert.equal(resources.find((r) => r.name === 'pods/status')?.kind, 'Pod');
    assert.equal(resources.find((r) => r.name === 'pods/binding')?.kind, 'Binding');
    const apis = await t.json<Obj>('/apis');
    assert.equal(apis.body.kind, 'APIGroupList');
    const groups = apis.body.groups as { name: string }[];
    assert.ok(groups.some((g) => g.name === 'coordination.k8s.io'));
    const agg = await t.json<Obj>('/api', {
      headers: { accept: 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json' },
    });
    assert.equal(agg.headers.get('content-type'), 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList');
    assert.equal(agg.body.kind, 'APIGroupDiscoveryList');
    const items = agg.body.items as unknown as { versions: { version: string; resources: { resource: string; scope: string }[] }[] }[];
    assert.equal(items.length, 1);
    assert.equal(items[0].versions[0].resources.find((r) => r.resource === 'nodes')?.scope, 'Cluster');
    const aggApis = await t.json<Obj>('/apis', { headers: { accept: 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList' } });
    assert.ok((aggApis.body.items as { metadata: { name: string } }[]).some((i) => i.metadata.name === 'node.k8s.io'));
  });

  it('serves OpenAPI with ETags, v2 also as protobuf, and refuses what it cannot produce with 406', async () => {
    const pb = await t.request('/openapi/v2', { headers: { accept: 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf' } });
    assert.equal(pb.status, 200);
    assert.equal(pb.headers.get('content-type'), 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf');
    await pb.arrayBuffer();
    const none = await t.request('/openapi/v2', { headers: { accept: 'application/vnd.kubernetes.protobuf' } });
    assert.equal(none.status, 406);
    await none.arrayBuffer();
    const v2 = await t.request('/openapi/v2', { headers: { accept: 'application/json' } });
    assert.equal(v2.status, 200);
    const etag = v2.headers.get('etag');
    assert.ok(etag);
    const doc = (await v2.json()) as { swagger: string };
    assert.equal(doc.swagger, '2.0');
    const cached = await t.request('/openapi/v2', { headers: { accept: 'application/json', 'if-none-match': etag } });
    assert.equal(cached.status, 304);
    const idx = await t.json<{ paths: Record<string, { serverRelativeURL: string }> }>('/openapi/v3');
    const core = idx.body.paths['api/v1'];
    assert.ok(core);
    const v3 = await t.json<{ openapi: string }>(core.serverRelativeURL);
    assert.match(v3.body.openapi, /^3\./);
  });

  it('deletes collections with selectors', async () => {
    await post('/api/v1/namespaces', { metadata: { name: 'dc' } });
    for (const [n, l] of [['a', 'x'], ['b', 'x'], ['c', 'y']]) await post('/api/v1/namespaces/dc/configmaps', { metadata: { name: n, labels: { l } } });
    const r = await del('/api/v1/namespaces/dc/configmaps?labelSelector=l%3Dx');
    assert.equal(r.status, 200);
    assert.equal(r.body.kind, 'ConfigMapList');
    assert.deepEqual(r.body.items?.map((i) => i.metadata.name).sort(), ['a', 'b']);
    const left = await t.json<Obj>('/api/v1/namespaces/dc/configmaps');
    assert.deepEqual(left.body.items?.map((i) => i.metadata.name), ['c']);
  });

  it('terminates namespaces: refuses new content, removes content, then the namespace', async () => {
    await post('/api/v1/namespaces', { metadata: { name: 'doomed' } });
    await post('/api/v1/namespaces/doomed/configmaps', { metadata: { name: 'held', finalizers: ['example.com/x'] } });
    const d = await del('/api/v1/namespaces/doomed');
    assert.equal(d.status, 200);
    assert.equal(d.body.status?.phase, 'Terminating');
    const refused = await post('/api/v1/namespaces/doomed/configmaps', { metadata: { name: 'late' } });
    assert.equal(refused.status, 403);
    assert.match(refused.body.message ?? '', /because it is being terminated/);
    await t.server.namespacesIdle();
    // the finalizer still holds one object: the namespace waits for it
    assert.equal((await t.json('/api/v1/namespaces/doomed')).status, 200);
    await patch('/api/v1/namespaces/doomed/configmaps/held', 'application/merge-patch+json', { metadata: { finalizers: null } });
    const deadline = Date.now() + 3000;
    while ((await t.json('/api/v1/namespaces/doomed')).status !== 404) {
      assert.ok(Date.now() < deadline, 'namespace not removed in time');
      await t.server.namespacesIdle();
      await new Promise((r) => setImmediate(r));
    }
    const immortal = await del('/api/v1/namespaces/default');
    assert.equal(immortal.status, 403);
  });

  it('applies server-side, creating then updating, and reports field conflicts', async () => {
    const apply = (manager: string, data: Record<string, string>, force = false) =>
      t.json<Obj>(`/api/v1/namespaces/default/configmaps/ssa?fieldManager=${manager}${force ? '&force=true' : ''}`, {
        method: 'PATCH',
        headers: { 'content-type': 'application/apply-patch+yaml' },
        body: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ssa' }, data }),
      });
    const c = await apply('one', { a: '1' });
    assert.equal(c.status, 201);
    const same = await apply('one', { a: '1' });
    assert.equal(same.status, 200);
    assert.equal(same.body.metadata.resourceVersion, c.body.metadata.resourceVersion);
    const clash = await apply('two', { a: '2' });
    assert.equal(clash.status, 409);
    const forced = await apply('two', { a: '2' }, true);
    assert.equal(forced.status, 200);
    assert.deepEqual(forced.body.data, { a: '2' });
    const noManager = await t.json<Obj>('/api/v1/namespaces/default/configmaps/ssa', {
      method: 'PATCH',
      headers: { 'content-type': 'application/apply-patch+yaml' },
      body: 'metadata:\n  name: ssa\n',
    });
    assert.equal(noManager.status, 400);
  });
});

describe('apiserver authorization and failure handling', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({
      authorizer: {
        authorize: (user, attrs) =>
          user.username === 'mallory' && attrs.isResourceRequest && attrs.verb === 'list'
            ? { allowed: false, reason: 'not today' }
            : { allowed: true },
      },
      admissionPlugins: [
        {
          name: 'Explodes',
          validate(req) {
            if (req.name === 'boom') throw new Error('plugin bug');
          },
        },
      ],
    });
  });
  after(async () => {
    await t.close();
  });

  it('answers 403 with the upstream message when the authorizer denies', async () => {
    const r = await t.json<Obj>('/api/v1/namespaces/default/pods', { headers: { authorization: 'Bearer user-mallory' } });
    assert.equal(r.status, 403);
    assert.equal(r.body.reason, 'Forbidden');
    assert.equal(
      r.body.message,
      'pods is forbidden: User "mallory" cannot list resource "pods" in API group "" in the namespace "default": not today',
    );
    const nodes = await t.json<Obj>('/api/v1/nodes', { headers: { authorization: 'Bearer user-mallory' } });
    assert.match(nodes.body.message ?? '', /cannot list resource "nodes" in API group "" at the cluster scope/);
    const allowed = await t.json<Obj>('/api/v1/namespaces/default/pods', { headers: { authorization: 'Bearer user-alice' } });
    assert.equal(allowed.status, 200);
  });

  it('turns unexpected errors into a 500 Status and keeps serving', async () => {
    const r = await t.json<Obj>('/api/v1/namespaces/default/configmaps', {
      method: 'POST',
      headers: JSON_CT,
      body: JSON.stringify({ metadata: { name: 'boom' } }),
    });
    assert.equal(r.status, 500);
    assert.equal(r.body.reason, 'InternalError');
    assert.match(r.body.message ?? '', /plugin bug/);
    assert.equal((await t.json('/api/v1/namespaces/default/configmaps/boom')).status, 404);
    assert.equal((await t.json('/api/v1/namespaces')).status, 200);
  });
});
