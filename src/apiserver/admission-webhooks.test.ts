import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ConfigMap } from 'kubernetes-types/core/v1.js';
import { startTestServer, type TestServer } from './testing/test-server.ts';
import { upgradeRequest } from './testing/upgrade-request.ts';
import { eventually, startWebhookServer, type TestWebhookServer } from './testing/webhook-server.ts';

interface StatusBody {
  code?: number;
  reason?: string;
  message?: string;
  details?: { causes?: { field?: string; reason?: string; message?: string }[] };
}
interface Review {
  request: {
    uid: string;
    kind: { group: string; version: string; kind: string };
    resource: { group: string; version: string; resource: string };
    subResource?: string;
    requestResource: { resource: string };
    name?: string;
    namespace?: string;
    operation: string;
    userInfo: { username: string; groups?: string[] };
    object: ConfigMap | null;
    oldObject: ConfigMap | null;
    dryRun: boolean;
    options: { kind: string } | null;
  };
}

const json = { 'content-type': 'application/json' };
const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64');

/** the in-process webhook server: one behaviour per path */
function answer(path: string, review: Review): unknown {
  const uid = review.request.uid;
  const response = (r: Record<string, unknown>) => ({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, ...r } });
  const name = review.request.object?.metadata?.name ?? review.request.oldObject?.metadata?.name ?? '';
  switch (path) {
    case '/deny':
      return name.startsWith('bad')
        ? response({ allowed: false, status: { code: 403, reason: 'Forbidden', message: 'names starting with bad are not allowed' } })
        : response({ allowed: true, warnings: ['checked by the policy webhook'] });
    case '/mutate':
      return response({ allowed: true, patchType: 'JSONPatch', patch: b64([{ op: 'add', path: '/metadata/labels', value: { 'mutated-by': 'webhook' } }]) });
    case '/deny-exec':
      return response({ allowed: false, status: { code: 403, message: `no shells in ${review.request.name}` } });
    case '/wrong-uid':
      return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'not-the-uid', allowed: true } };
    default:
      return response({ allowed: true });
  }
}

describe('admission webhooks through the API (url clientConfig, TLS with a caBundle)', () => {
  let t: TestServer;
  let hook: TestWebhookServer;
  let hookUrl = '';
  let caBundle = '';
  const reviews: { path: string; review: Review }[] = [];
  const post = <T = StatusBody>(path: string, body: unknown) => t.json<T>(path, { method: 'POST', headers: json, body: JSON.stringify(body) });
  const cms = '/api/v1/namespaces/default/configmaps';
  const vwc = '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations';
  const mwc = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations';
  const webhook = (name: string, path: string, extra: Record<string, unknown> = {}) => ({
    name,
    clientConfig: { url: `${hookUrl}${path}`, caBundle },
    rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['configmaps'] }],
    sideEffects: 'None',
    admissionReviewVersions: ['v1'],
    ...extra,
  });
  const config = (name: string, webhooks: unknown[]) => ({ metadata: { name }, webhooks });

  before(async () => {
    hook = await startWebhookServer(['127.0.0.1'], (url, body) => {
      const path = url.replace(/\?.*$/, '');
      const review = body as Review;
      reviews.push({ path, review });
      return answer(path, review);
    });
    hookUrl = hook.url;
    caBundle = hook.caBundle;
    t = await startTestServer();
  });
  after(async () => {
    await t?.close();
    await hook?.close();
  });

  it('validates configurations as upstream: names, rules, clientConfig, sideEffects, versions, timeouts', async () => {
    const res = await post(vwc, config('bad', [
      { name: 'short', clientConfig: { url: 'http://x.example.com/p?q=1', service: { name: 's', namespace: 'n' } }, rules: [{ operations: ['CREATE', '*'], apiGroups: [], apiVersions: ['v1'], resources: ['*/*', 'pods'], scope: 'Global' }], admissionReviewVersions: ['v1beta1'], timeoutSeconds: 31, failurePolicy: 'Maybe' },
      { name: 'short', clientConfig: { service: { name: 's', namespace: 'n', path: 'hook', port: 70000 } }, sideEffects: 'Some', admissionReviewVersions: ['v1'] },
    ]));
    assert.equal(res.status, 422);
    assert.equal(res.body.reason, 'Invalid');
    const causes = (res.body.details?.causes ?? []).map((c) => `${c.field}: ${c.message}`);
    const expect = [
      'webhooks[0].name: Invalid value: "short": should be a domain with at least three segments separated by dots',
      'webhooks[0].rules[0].operations: Invalid value: []string{"CREATE", "*"}: if \'*\' is present, must not specify other operations',
      'webhooks[0].rules[0].apiGroups: Required value',
      'webhooks[0].rules[0].resources: Invalid value: []string{"*/*", "pods"}: if \'*/*\' is present, must not specify other resources',
      'webhooks[0].rules[0].scope: Unsupported value: "Global": supported values: "*", "Cluster", "Namespaced"',
      'webhooks[0].failurePolicy: Unsupported value: "Maybe": supported values: "Ignore", "Fail"',
      'webhooks[0].sideEffects: Required value: must specify one of None, NoneOnDryRun',
      'webhooks[0].timeoutSeconds: Invalid value: 31: the timeout value must be between 1 and 30 seconds',
      'webhooks[0].admissionReviewVersions: Invalid value: []string{"v1beta1"}: must include at least one of v1',
      'webhooks[0].clientConfig: Required value: exactly one of url or service is required',
      'webhooks[0].clientConfig.url: Invalid value: "http": \'https\' is the only allowed URL scheme',
      'webhooks[0].clientConfig.url: Invalid value: "q=1": query parameters are not permitted in the URL',
      'webhooks[1].name: Duplicate value: "short"',
      'webhooks[1].sideEffects: Unsupported value: "Some": supported values: "None", "NoneOnDryRun"',
      'webhooks[1].clientConfig.service.path: Invalid value: "hook": must start with a \'/\'',
    ];
    for (const e of expect) assert.ok(causes.includes(e), `missing cause ${e}\n got: ${causes.join('\n')}`);
  });

  it('defaults a configuration and shows NAME WEBHOOKS AGE', async () => {
    const res = await post<{ webhooks: Record<string, unknown>[] }>(mwc, config('defaults', [{ ...webhook('noop.hedge.test', '/allow'), clientConfig: { service: { name: 'hook', namespace: 'default' } }, rules: [] }]));
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const w = res.body.webhooks[0]!;
    assert.equal(w.failurePolicy, 'Fail');
    assert.equal(w.matchPolicy, 'Equivalent');
    assert.equal(w.timeoutSeconds, 10);
    assert.equal(w.reinvocationPolicy, 'Never');
    assert.deepEqual(w.namespaceSelector, {});
    assert.deepEqual(w.objectSelector, {});
    assert.deepEqual((w.clientConfig as { service: unknown }).service, { name: 'hook', namespace: 'default', port: 443 });
    const table = await t.json<{ columnDefinitions: { name: string }[]; rows: { cells: unknown[] }[] }>(mwc, { headers: { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' } });
    assert.deepEqual(table.body.columnDefinitions.map((c) => c.name), ['Name', 'Webhooks', 'Age']);
    assert.deepEqual(table.body.rows[0]!.cells.slice(0, 2), ['defaults', 1]);
    const disc = await t.json<{ resources: { name: string; namespaced: boolean }[] }>('/apis/admissionregistration.k8s.io/v1');
    assert.deepEqual(disc.body.resources.map((r) => [r.name, r.namespaced]).sort(), [['mutatingwebhookconfigurations', false], ['validatingadmissionpolicies', false], ['validatingadmissionpolicies/status', false], ['validatingadmissionpolicybindings', false], ['validatingwebhookconfigurations', false]]);
    assert.equal((await t.request(`${mwc}/defaults`, { method: 'DELETE' })).status, 200);
  });

  it('a validating webhook denies with its status and allows with warnings; it is sent a full AdmissionReview', async () => {
    assert.equal((await post(vwc, config('policy', [webhook('deny.hedge.test', '/deny')]))).status, 201);
    const denied = await eventually((i) => post(cms, { metadata: { name: `bad-${i}` } }), (r) => r.status !== 201);
    assert.equal(denied.status, 403);
    assert.equal(denied.body.reason, 'Forbidden');
    assert.equal(denied.body.message, 'admission webhook "deny.hedge.test" denied the request: names starting with bad are not allowed');
    const ok = await t.request(cms, { method: 'POST', headers: json, body: JSON.stringify({ metadata: { name: 'good' } }) });
    assert.equal(ok.status, 201);
    assert.match(ok.headers.get('warning') ?? '', /299 - "checked by the policy webhook"/);
    const seen = reviews.filter((r) => r.path === '/deny').at(-1)!.review.request;
    assert.match(seen.uid, /^[0-9a-f-]{36}$/);
    assert.deepEqual(seen.kind, { group: '', version: 'v1', kind: 'ConfigMap' });
    assert.deepEqual(seen.resource, { group: '', version: 'v1', resource: 'configmaps' });
    assert.equal(seen.requestResource.resource, 'configmaps');
    assert.equal(seen.operation, 'CREATE');
    assert.equal(seen.namespace, 'default');
    assert.equal(seen.name, 'good');
    assert.equal(seen.userInfo.username, 'admin');
    assert.equal(seen.object?.metadata?.name, 'good');
    assert.equal(seen.oldObject, null);
    assert.equal(seen.dryRun, false);
    assert.equal(seen.options?.kind, 'CreateOptions');
    // an update is not in the rules: no call
    const before = reviews.length;
    const upd = await t.json(`${cms}/good`, { method: 'PUT', headers: json, body: JSON.stringify({ metadata: { name: 'good' }, data: { a: 'b' } }) });
    assert.equal(upd.status, 200);
    assert.equal(reviews.length, before);
    assert.equal((await t.request(`${vwc}/policy`, { method: 'DELETE' })).status, 200);
    await eventually((i) => post(cms, { metadata: { name: `bad-after-${i}` } }), (r) => r.status === 201);
  });

  it('a mutating webhook patches the object (a label added)', async () => {
    assert.equal((await post(mwc, config('labeler', [webhook('label.hedge.test', '/mutate')]))).status, 201);
    const res = await eventually((i) => post<ConfigMap>(cms, { metadata: { name: `mutated-${i}` } }), (r) => r.body.metadata?.labels?.['mutated-by'] === 'webhook');
    assert.equal(res.status, 201);
    assert.equal(res.body.metadata?.labels?.['mutated-by'], 'webhook');
    assert.equal((await t.request(`${mwc}/labeler`, { method: 'DELETE' })).status, 200);
  });

  it('pods/exec is admitted as a CONNECT before the node is dialled: a webhook on it sees PodExecOptions and can refuse', async () => {
    assert.equal((await post('/api/v1/nodes', { metadata: { name: 'n1' } })).status, 201);
    assert.equal((await post('/api/v1/namespaces/default/pods', { metadata: { name: 'shell' }, spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'busybox' }] } })).status, 201);
    const rules = [{ operations: ['CONNECT'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods/exec'] }];
    assert.equal((await post(vwc, config('no-exec', [webhook('exec.hedge.test', '/deny-exec', { rules })]))).status, 201);
    // an upgrade request as kubectl exec makes it (SPDY); refused before any upgrade
    const exec = () => upgradeRequest(`${t.url}/api/v1/namespaces/default/pods/shell/exec?command=sh&stdin=true&stdout=true&tty=true`);
    const refused = await eventually(() => exec(), (r) => r.status === 403);
    assert.match(refused.body, /admission webhook \\"exec.hedge.test\\" denied the request: no shells in shell/);
    const seen = reviews.filter((r) => r.path === '/deny-exec').at(-1)!.review.request;
    assert.equal(seen.operation, 'CONNECT');
    assert.deepEqual(seen.kind, { group: '', version: 'v1', kind: 'PodExecOptions' });
    assert.deepEqual(seen.resource, { group: '', version: 'v1', resource: 'pods' });
    assert.equal(seen.subResource, 'exec');
    assert.equal(seen.oldObject, null);
    assert.equal(seen.options, null);
    assert.equal(seen.name, 'shell');
    assert.deepEqual(seen.object, { apiVersion: 'v1', kind: 'PodExecOptions', metadata: {}, stdin: true, stdout: true, stderr: false, tty: true, container: 'c', command: ['sh'] });
    assert.equal((await t.request(`${vwc}/no-exec`, { method: 'DELETE' })).status, 200);
  });

  it('an unreachable webhook fails the request with failurePolicy Fail and is skipped with Ignore', async () => {
    const dead = (name: string, failurePolicy: string) => ({ ...webhook(name, '/'), clientConfig: { url: 'https://127.0.0.1:1/hook', caBundle }, failurePolicy, timeoutSeconds: 2 });
    assert.equal((await post(vwc, config('dead-ignore', [dead('ignore.hedge.test', 'Ignore')]))).status, 201);
    assert.equal((await post(vwc, config('dead-fail', [dead('fail.hedge.test', 'Fail')]))).status, 201);
    const failed = await eventually((i) => post(cms, { metadata: { name: `failed-${i}` } }), (r) => r.status !== 201);
    assert.equal(failed.status, 500);
    assert.equal(failed.body.reason, 'InternalError');
    assert.match(failed.body.message ?? '', /^Internal error occurred: failed calling webhook "fail.hedge.test": failed to call webhook: Post "https:\/\/127\.0\.0\.1:1\/hook\?timeout=2s": .*ECONNREFUSED/);
    // the configurations themselves are never sent to webhooks: the broken one can be removed
    assert.equal((await t.request(`${vwc}/dead-fail`, { method: 'DELETE' })).status, 200);
    // the Ignore one (cached before the Fail one) stays and lets requests through
    assert.equal((await eventually((i) => post(cms, { metadata: { name: `ignored-${i}` } }), (r) => r.status === 201)).status, 201);
    assert.equal((await t.request(`${vwc}/dead-ignore`, { method: 'DELETE' })).status, 200);
  });

  it('a response for another uid is a call failure (failurePolicy applies)', async () => {
    assert.equal((await post(vwc, config('wrong', [webhook('uid.hedge.test', '/wrong-uid')]))).status, 201);
    const res = await eventually((i) => post(cms, { metadata: { name: `uid-${i}` } }), (r) => r.status !== 201);
    assert.equal(res.status, 500);
    assert.match(res.body.message ?? '', /failed calling webhook "uid\.hedge\.test": expected response\.uid="[0-9a-f-]+", got "not-the-uid"/);
    assert.equal((await t.request(`${vwc}/wrong`, { method: 'DELETE' })).status, 200);
  });

  it('matchConditions: a webhook is only called when all are true; an evaluation error fails closed with Fail; a bad one is refused at its field', async () => {
    const bad = await post(vwc, config('bad-cond', [webhook('c.hedge.test', '/deny', { matchConditions: [{ name: 'x', expression: 'object.metadata.name ==' }] })]));
    assert.equal(bad.status, 422);
    assert.match(bad.body.details?.causes?.[0]?.field ?? '', /^webhooks\[0\]\.matchConditions\[0\]\.expression$/);
    assert.match(bad.body.details?.causes?.[0]?.message ?? '', /compilation failed: ERROR: <input>:1:/);
    const conditions = [
      { name: 'not-exempt', expression: "!has(object.metadata.labels) || !('exempt' in object.metadata.labels)" },
      { name: 'admin-only', expression: "request.userInfo.username == 'admin'" },
    ];
    assert.equal((await post(vwc, config('conditional', [webhook('cond.hedge.test', '/deny', { matchConditions: conditions })]))).status, 201);
    const denied = await eventually((i) => post(cms, { metadata: { name: `bad-cond-${i}` } }), (r) => r.status !== 201);
    assert.equal(denied.status, 403);
    assert.equal(denied.body.message, 'admission webhook "cond.hedge.test" denied the request: names starting with bad are not allowed');
    const calls = reviews.length;
    const exempt = await post(cms, { metadata: { name: 'bad-but-exempt', labels: { exempt: 'yes' } } });
    assert.equal(exempt.status, 201, 'a false condition skips the webhook');
    assert.equal(reviews.length, calls, 'the webhook was not called');
    assert.equal((await t.request(`${vwc}/conditional`, { method: 'DELETE' })).status, 200);
    // an expression that errs on these objects (no spec): Fail refuses as upstream, Ignore lets through
    const erring = [{ name: 'replicas', expression: 'object.spec.replicas > 1' }];
    assert.equal((await post(vwc, config('erring', [webhook('err.hedge.test', '/deny', { matchConditions: erring })]))).status, 201);
    const failed = await eventually((i) => post(cms, { metadata: { name: `erring-${i}` } }), (r) => r.status !== 201);
    assert.equal(failed.status, 403);
    assert.equal(failed.body.reason, 'Forbidden');
    assert.match(failed.body.message ?? '', /^configmaps "erring-\d+" is forbidden: expression 'object\.spec\.replicas > 1' resulted in error: No such key: spec/);
    const ignore = { ...config('erring', [webhook('err.hedge.test', '/deny', { matchConditions: erring, failurePolicy: 'Ignore' })]) };
    const current = await t.json<{ metadata: { resourceVersion: string } }>(`${vwc}/erring`);
    const put = await t.json(`${vwc}/erring`, { method: 'PUT', headers: json, body: JSON.stringify({ ...ignore, metadata: { name: 'erring', resourceVersion: current.body.metadata.resourceVersion } }) });
    assert.equal(put.status, 200);
    assert.equal((await eventually((i) => post(cms, { metadata: { name: `bad-ignored-${i}` } }), (r) => r.status === 201)).status, 201);
    assert.equal((await t.request(`${vwc}/erring`, { method: 'DELETE' })).status, 200);
  });
});
