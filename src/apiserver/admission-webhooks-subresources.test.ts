import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from './testing/test-server.ts';
import { eventually, startWebhookServer, type TestWebhookServer } from './testing/webhook-server.ts';

/**
 * Every subresource is admitted as upstream admits it (k8s.io/apiserver endpoints/handlers and the
 * subresources' REST storage): its own resource/subresource, operation, kind and object, so a rule
 * on `deployments/scale` or `pods/eviction` sees those requests and a rule on the main resource
 * does not.
 */

type Obj = { apiVersion?: string; kind?: string; metadata?: { name?: string; namespace?: string }; spec?: Record<string, unknown>; [k: string]: unknown };
interface Review {
  request: {
    uid: string;
    kind: { group: string; version: string; kind: string };
    resource: { group: string; version: string; resource: string };
    subResource?: string;
    requestKind: { group: string; version: string; kind: string };
    requestResource: { group: string; version: string; resource: string };
    requestSubResource?: string;
    name?: string;
    namespace?: string;
    operation: string;
    object: Obj | null;
    oldObject: Obj | null;
    options: { kind: string } | null;
  };
}
interface StatusBody {
  message?: string;
}

const json = { 'content-type': 'application/json' };
const merge = { 'content-type': 'application/merge-patch+json' };
const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64');

function answer(path: string, review: Review): unknown {
  const response = (r: Record<string, unknown>) => ({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: review.request.uid, ...r } });
  const replicas = review.request.object?.spec?.replicas;
  switch (path) {
    case '/at-most-5':
      return typeof replicas === 'number' && replicas > 5
        ? response({ allowed: false, status: { code: 403, message: `at most 5 replicas, not ${replicas}` } })
        : response({ allowed: true });
    case '/cap-at-3':
      // a mutating webhook on the Scale: what it changes is what the deployment gets
      return typeof replicas === 'number' && replicas > 3 ? response({ allowed: true, patchType: 'JSONPatch', patch: b64([{ op: 'replace', path: '/spec/replicas', value: 3 }]) }) : response({ allowed: true });
    case '/deny':
      return response({ allowed: false, status: { code: 403, message: `no ${review.request.subResource ?? review.request.resource.resource} for ${review.request.name}` } });
    default:
      return response({ allowed: true });
  }
}

describe('admission of subresources (webhooks see what upstream sends them)', () => {
  let t: TestServer;
  let hook: TestWebhookServer;
  const reviews: { path: string; review: Review }[] = [];
  const seenAt = (path: string) => reviews.filter((r) => r.path === path).map((r) => r.review.request);
  const post = <T = StatusBody>(path: string, body: unknown) => t.json<T>(path, { method: 'POST', headers: json, body: JSON.stringify(body) });
  const vwc = '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations';
  const mwc = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations';
  const deploys = '/apis/apps/v1/namespaces/default/deployments';
  const pods = '/api/v1/namespaces/default/pods';
  const webhook = (name: string, path: string, rules: unknown[]) => ({
    name,
    clientConfig: { url: `${hook.url}${path}`, caBundle: hook.caBundle },
    rules,
    sideEffects: 'None',
    admissionReviewVersions: ['v1'],
  });
  const rule = (operations: string[], apiGroups: string[], resources: string[]) => ({ operations, apiGroups, apiVersions: ['v1'], resources });
  const configure = async (url: string, name: string, hooks: unknown[]): Promise<void> => {
    const r = await post(url, { metadata: { name }, webhooks: hooks });
    assert.equal(r.status, 201, JSON.stringify(r.body));
  };
  const unconfigure = async (url: string, name: string): Promise<void> => {
    assert.equal((await t.request(`${url}/${name}`, { method: 'DELETE' })).status, 200);
  };
  const deployment = (name: string, replicas: number) => ({
    metadata: { name },
    spec: { replicas, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } } },
  });
  const replicasOf = async (name: string): Promise<number | undefined> => (await t.json<{ spec?: { replicas?: number } }>(`${deploys}/${name}`)).body.spec?.replicas;

  before(async () => {
    hook = await startWebhookServer(['127.0.0.1'], (url, body) => {
      const path = url.replace(/\?.*$/, '');
      reviews.push({ path, review: body as Review });
      return answer(path, body as Review);
    });
    t = await startTestServer();
  });
  after(async () => {
    await t?.close();
    await hook?.close();
  });

  it('deployments/scale: an UPDATE of the autoscaling/v1 Scale with the old Scale; a rule on deployments does not see it', async () => {
    assert.equal((await post(deploys, deployment('web', 2))).status, 201);
    await configure(vwc, 'scale-policy', [
      webhook('scale.hedge.test', '/at-most-5', [rule(['UPDATE'], ['apps'], ['deployments/scale'])]),
      webhook('main.hedge.test', '/main', [rule(['UPDATE'], ['apps'], ['deployments'])]),
    ]);
    // the configuration is in force once the main-resource webhook sees a deployment update
    await eventually(
      (i) => t.json(`${deploys}/web`, { method: 'PATCH', headers: merge, body: JSON.stringify({ metadata: { labels: { touch: String(i) } } }) }),
      () => seenAt('/main').length > 0,
    );
    const mainBefore = seenAt('/main').length;

    // kubectl scale: a merge patch of the Scale
    const refused = await t.json<StatusBody>(`${deploys}/web/scale`, { method: 'PATCH', headers: merge, body: JSON.stringify({ spec: { replicas: 7 } }) });
    assert.equal(refused.status, 403);
    assert.equal(refused.body.message, 'admission webhook "scale.hedge.test" denied the request: at most 5 replicas, not 7');
    assert.equal(await replicasOf('web'), 2, 'a refused scale changes nothing');

    const seen = seenAt('/at-most-5').at(-1)!;
    assert.equal(seen.operation, 'UPDATE');
    assert.deepEqual(seen.kind, { group: 'autoscaling', version: 'v1', kind: 'Scale' });
    assert.deepEqual(seen.requestKind, { group: 'autoscaling', version: 'v1', kind: 'Scale' });
    assert.deepEqual(seen.resource, { group: 'apps', version: 'v1', resource: 'deployments' });
    assert.deepEqual(seen.requestResource, { group: 'apps', version: 'v1', resource: 'deployments' });
    assert.equal(seen.subResource, 'scale');
    assert.equal(seen.requestSubResource, 'scale');
    assert.equal(seen.name, 'web');
    assert.equal(seen.namespace, 'default');
    assert.equal(seen.options?.kind, 'UpdateOptions');
    assert.equal(seen.object?.apiVersion, 'autoscaling/v1');
    assert.equal(seen.object?.kind, 'Scale');
    assert.equal(seen.object?.metadata?.name, 'web');
    assert.deepEqual(seen.object?.spec, { replicas: 7 });
    assert.equal(seen.oldObject?.kind, 'Scale');
    assert.deepEqual(seen.oldObject?.spec, { replicas: 2 });
    assert.equal((seen.oldObject?.status as { selector?: string } | undefined)?.selector, 'app=web');

    // a PUT of the Scale is admitted the same way; within the limit it is stored
    const put = await t.json<{ spec: { replicas: number } }>(`${deploys}/web/scale`, {
      method: 'PUT',
      headers: json,
      body: JSON.stringify({ apiVersion: 'autoscaling/v1', kind: 'Scale', metadata: { name: 'web', namespace: 'default' }, spec: { replicas: 4 } }),
    });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    assert.equal(put.body.spec.replicas, 4);
    assert.equal(await replicasOf('web'), 4);
    const ok = seenAt('/at-most-5').at(-1)!;
    assert.deepEqual([ok.object?.spec, ok.oldObject?.spec], [{ replicas: 4 }, { replicas: 2 }]);

    assert.equal(seenAt('/main').length, mainBefore, 'the deployments rule saw no scale request');
    await unconfigure(vwc, 'scale-policy');
  });

  it('deployments/scale: a mutating webhook changes the Scale before it is applied', async () => {
    assert.equal((await post(deploys, deployment('capped', 1))).status, 201);
    await configure(mwc, 'scale-cap', [webhook('cap.hedge.test', '/cap-at-3', [rule(['UPDATE'], ['apps'], ['deployments/scale'])])]);
    const res = await eventually(
      () => t.json<{ spec: { replicas: number } }>(`${deploys}/capped/scale`, { method: 'PATCH', headers: merge, body: JSON.stringify({ spec: { replicas: 9 } }) }),
      (r) => r.body.spec?.replicas === 3,
    );
    assert.equal(res.status, 200);
    assert.equal(res.body.spec.replicas, 3);
    assert.equal(await replicasOf('capped'), 3);
    const seen = seenAt('/cap-at-3').at(-1)!;
    assert.equal(seen.object?.kind, 'Scale');
    await unconfigure(mwc, 'scale-cap');
  });

  it('pods/eviction: a CREATE of the policy/v1 Eviction; the pod delete is not admitted as a DELETE of pods', async () => {
    assert.equal((await post(pods, { metadata: { name: 'evictee' }, spec: { containers: [{ name: 'c', image: 'nginx' }] } })).status, 201);
    await configure(vwc, 'eviction-policy', [
      webhook('evict.hedge.test', '/deny', [rule(['CREATE'], [''], ['pods/eviction'])]),
      webhook('delete.hedge.test', '/delete', [rule(['DELETE'], [''], ['pods'])]),
    ]);
    const eviction = { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: 'evictee' }, deleteOptions: { gracePeriodSeconds: 0 } };
    const refused = await eventually(() => post(`${pods}/evictee/eviction`, eviction), (r) => r.status === 403);
    assert.equal(refused.body.message, 'admission webhook "evict.hedge.test" denied the request: no eviction for evictee');
    assert.equal((await t.request(`${pods}/evictee`)).status, 200, 'the pod is still there');
    const seen = seenAt('/deny').at(-1)!;
    assert.equal(seen.operation, 'CREATE');
    assert.deepEqual(seen.kind, { group: 'policy', version: 'v1', kind: 'Eviction' });
    assert.deepEqual(seen.resource, { group: '', version: 'v1', resource: 'pods' });
    assert.equal(seen.subResource, 'eviction');
    assert.equal(seen.name, 'evictee');
    assert.equal(seen.namespace, 'default');
    assert.equal(seen.options?.kind, 'CreateOptions');
    assert.equal(seen.object?.kind, 'Eviction');
    assert.deepEqual(seen.object?.deleteOptions, { gracePeriodSeconds: 0 });
    assert.equal(seen.oldObject, null);
    assert.equal(seenAt('/delete').length, 0);

    // the name in the Eviction must be the URL's (upstream's EvictionREST)
    const mismatch = await post(`${pods}/evictee/eviction`, { ...eviction, metadata: { name: 'other' } });
    assert.equal(mismatch.status, 400);
    assert.equal(mismatch.body.message, 'name in URL does not match name in Eviction object');

    await unconfigure(vwc, 'eviction-policy');
    await configure(vwc, 'delete-watch', [webhook('delete.hedge.test', '/delete', [rule(['DELETE', 'CREATE'], [''], ['pods'])])]);
    // in force once a pod create is seen; then an allowed eviction deletes the pod without a DELETE review
    await eventually((i) => post(pods, { metadata: { name: `probe-${i}` }, spec: { containers: [{ name: 'c', image: 'nginx' }] } }), () => seenAt('/delete').length > 0);
    const creates = seenAt('/delete').length;
    const evicted = await post(`${pods}/evictee/eviction`, eviction);
    assert.equal(evicted.status, 201, JSON.stringify(evicted.body));
    assert.equal((await t.request(`${pods}/evictee`)).status, 404);
    assert.equal(seenAt('/delete').length, creates, 'no DELETE of pods was admitted for the eviction');
    await unconfigure(vwc, 'delete-watch');
  });

  it('pods/binding and bindings: a CREATE of the v1 Binding; no UPDATE of pods is admitted', async () => {
    assert.equal((await post('/api/v1/nodes', { metadata: { name: 'n1' } })).status, 201);
    for (const name of ['bound-1', 'bound-2']) assert.equal((await post(pods, { metadata: { name }, spec: { containers: [{ name: 'c', image: 'nginx' }] } })).status, 201);
    await configure(vwc, 'binding-policy', [
      webhook('binding.hedge.test', '/binding', [rule(['CREATE'], [''], ['pods/binding', 'bindings'])]),
      webhook('pod-update.hedge.test', '/pod-update', [rule(['UPDATE'], [''], ['pods', 'pods/*'])]),
    ]);
    await eventually((i) => t.json(`${pods}/bound-2`, { method: 'PATCH', headers: merge, body: JSON.stringify({ metadata: { labels: { touch: String(i) } } }) }), () => seenAt('/pod-update').length > 0);
    const updates = seenAt('/pod-update').length;

    const sub = await post(`${pods}/bound-1/binding`, { apiVersion: 'v1', kind: 'Binding', metadata: { name: 'bound-1' }, target: { kind: 'Node', name: 'n1' } });
    assert.equal(sub.status, 201, JSON.stringify(sub.body));
    const seen = seenAt('/binding').at(-1)!;
    assert.equal(seen.operation, 'CREATE');
    assert.deepEqual(seen.kind, { group: '', version: 'v1', kind: 'Binding' });
    assert.deepEqual(seen.resource, { group: '', version: 'v1', resource: 'pods' });
    assert.equal(seen.subResource, 'binding');
    assert.equal(seen.name, 'bound-1');
    assert.equal(seen.namespace, 'default');
    assert.deepEqual(seen.object?.target, { kind: 'Node', name: 'n1' });

    const coll = await post('/api/v1/namespaces/default/bindings', { apiVersion: 'v1', kind: 'Binding', metadata: { name: 'bound-2' }, target: { kind: 'Node', name: 'n1' } });
    assert.equal(coll.status, 201, JSON.stringify(coll.body));
    const seen2 = seenAt('/binding').at(-1)!;
    assert.deepEqual(seen2.kind, { group: '', version: 'v1', kind: 'Binding' });
    assert.deepEqual(seen2.resource, { group: '', version: 'v1', resource: 'bindings' });
    assert.equal(seen2.subResource, undefined);
    assert.equal(seen2.name, 'bound-2');

    assert.equal(seenAt('/pod-update').length, updates, 'no pod UPDATE was admitted for the bindings');
    const stored = await t.json<{ spec: { nodeName?: string } }>(`${pods}/bound-1`);
    assert.equal(stored.body.spec.nodeName, 'n1');
    await unconfigure(vwc, 'binding-policy');
  });

  it('serviceaccounts/token: a CREATE of the authentication.k8s.io/v1 TokenRequest', async () => {
    assert.equal((await post('/api/v1/namespaces/default/serviceaccounts', { metadata: { name: 'robot' } })).status, 201);
    await configure(vwc, 'token-policy', [webhook('token.hedge.test', '/deny', [rule(['CREATE'], [''], ['serviceaccounts/token'])])]);
    const refused = await eventually(() => post('/api/v1/namespaces/default/serviceaccounts/robot/token', { spec: { audiences: ['vault'] } }), (r) => r.status === 403);
    assert.equal(refused.body.message, 'admission webhook "token.hedge.test" denied the request: no token for robot');
    const seen = seenAt('/deny').at(-1)!;
    assert.equal(seen.operation, 'CREATE');
    assert.deepEqual(seen.kind, { group: 'authentication.k8s.io', version: 'v1', kind: 'TokenRequest' });
    assert.deepEqual(seen.resource, { group: '', version: 'v1', resource: 'serviceaccounts' });
    assert.equal(seen.subResource, 'token');
    assert.equal(seen.name, 'robot');
    assert.deepEqual(seen.object?.spec, { audiences: ['vault'], expirationSeconds: 3600 });
    await unconfigure(vwc, 'token-policy');
  });

  it('nodes/proxy: a CONNECT with NodeProxyOptions, refused before the node is dialled', async () => {
    await configure(vwc, 'proxy-policy', [webhook('proxy.hedge.test', '/deny', [rule(['CONNECT'], [''], ['nodes/proxy'])])]);
    const refused = await eventually(() => t.json<StatusBody>('/api/v1/nodes/n1/proxy/metrics/cadvisor?x=1'), (r) => r.status === 403);
    assert.equal(refused.body.message, 'admission webhook "proxy.hedge.test" denied the request: no proxy for n1');
    const seen = seenAt('/deny').at(-1)!;
    assert.equal(seen.operation, 'CONNECT');
    assert.deepEqual(seen.kind, { group: '', version: 'v1', kind: 'NodeProxyOptions' });
    assert.deepEqual(seen.resource, { group: '', version: 'v1', resource: 'nodes' });
    assert.equal(seen.subResource, 'proxy');
    assert.deepEqual(seen.object, { apiVersion: 'v1', kind: 'NodeProxyOptions', metadata: {}, path: '/metrics/cadvisor' });
    assert.equal(seen.options, null);
    await unconfigure(vwc, 'proxy-policy');
  });
});
