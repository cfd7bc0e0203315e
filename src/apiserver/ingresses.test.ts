import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Ingress, IngressClass } from 'kubernetes-types/networking/v1.js';
import { startTestServer, type TestServer } from './testing/test-server.ts';

interface StatusBody {
  kind?: string;
  reason?: string;
  message?: string;
  details?: { causes?: { field?: string; reason?: string; message?: string }[] };
}

const json = { 'content-type': 'application/json' };
const ingress = (name: string, spec: Record<string, unknown> = {}, annotations?: Record<string, string>) => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'Ingress',
  metadata: { name, ...(annotations ? { annotations } : {}) },
  spec: { rules: [{ host: 'foo.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] } }], ...spec },
});
const ingressClass = (name: string, isDefault: boolean, controller = 'k8s.io/ingress-nginx') => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'IngressClass',
  metadata: { name, ...(isDefault ? { annotations: { 'ingressclass.kubernetes.io/is-default-class': 'true' } } : {}) },
  spec: { controller },
});

describe('Ingresses and IngressClasses through the API', () => {
  let t: TestServer;
  const post = <T = StatusBody>(path: string, body: unknown) => t.json<T>(path, { method: 'POST', headers: json, body: JSON.stringify(body) });
  const ings = '/apis/networking.k8s.io/v1/namespaces/default/ingresses';
  const classes = '/apis/networking.k8s.io/v1/ingressclasses';

  before(async () => {
    t = await startTestServer();
  });
  after(async () => {
    await t?.close();
  });

  it('discovery lists ingresses (ing, status) and the cluster-scoped ingressclasses', async () => {
    const res = await t.json<{ resources: { name: string; namespaced: boolean; shortNames?: string[]; kind: string }[] }>('/apis/networking.k8s.io/v1');
    const byName = new Map(res.body.resources.map((r) => [r.name, r]));
    assert.deepEqual(byName.get('ingresses')?.shortNames, ['ing']);
    assert.equal(byName.get('ingresses')?.namespaced, true);
    assert.ok(byName.has('ingresses/status'));
    assert.equal(byName.get('ingressclasses')?.namespaced, false);
  });

  it('a fresh server has the `hedge` IngressClass (the node\'s ingress controller) as the default', async () => {
    const hedge = await t.json<IngressClass>(`${classes}/hedge`);
    assert.equal(hedge.status, 200);
    assert.equal(hedge.body.spec?.controller, 'hedge.io/ingress');
    assert.equal(hedge.body.metadata?.annotations?.['ingressclass.kubernetes.io/is-default-class'], 'true');
    const res = await post<Ingress>(ings, ingress('via-hedge'));
    assert.equal(res.body.spec?.ingressClassName, 'hedge');
    // the rest runs without it
    assert.equal((await t.json(`${classes}/hedge`, { method: 'DELETE' })).status, 200);
  });

  it('without a default class an Ingress stays classless; a sent status is dropped', async () => {
    const res = await post<Ingress>(ings, { ...ingress('plain'), status: { loadBalancer: { ingress: [{ ip: '192.0.2.1' }] } } });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.equal(res.body.spec?.ingressClassName, undefined);
    assert.deepEqual(res.body.status, { loadBalancer: {} });
  });

  it('DefaultIngressClass: the default class is set; a named class or the old annotation is kept', async () => {
    assert.equal((await post(classes, ingressClass('newer', true))).status, 201);
    assert.equal((await post(classes, ingressClass('other', false))).status, 201);
    const defaulted = await post<Ingress>(ings, ingress('defaulted'));
    assert.equal(defaulted.status, 201, JSON.stringify(defaulted.body));
    assert.equal(defaulted.body.spec?.ingressClassName, 'newer');
    const named = await post<Ingress>(ings, ingress('named', { ingressClassName: 'other' }));
    assert.equal(named.body.spec?.ingressClassName, 'other');
    const annotated = await post<Ingress>(ings, ingress('annotated', {}, { 'kubernetes.io/ingress.class': 'traefik' }));
    assert.equal(annotated.status, 201);
    assert.equal(annotated.body.spec?.ingressClassName, undefined);
    // an update is never defaulted
    const plain = await t.json<Ingress>(`${ings}/plain`);
    const updated = await t.json<Ingress>(`${ings}/plain`, { method: 'PUT', headers: json, body: JSON.stringify({ ...plain.body, metadata: { ...plain.body.metadata, labels: { a: 'b' } } }) });
    assert.equal(updated.status, 200);
    assert.equal(updated.body.spec?.ingressClassName, undefined);
  });

  it('refuses invalid Ingresses with 422 and the fields at fault', async () => {
    const res = await post(ings, ingress('bad', { rules: [{ host: '10.0.0.1', http: { paths: [{ path: 'rel', pathType: 'Prefix', backend: {} }] } }] }));
    assert.equal(res.status, 422);
    assert.equal(res.body.reason, 'Invalid');
    assert.deepEqual(res.body.details?.causes?.map((c) => c.field), ['spec.rules[0].host', 'spec.rules[0].http.paths[0].path', 'spec.rules[0].http.paths[0].backend']);
    assert.match(res.body.message ?? '', /^Ingress\.networking\.k8s\.io "bad" is invalid: \[spec\.rules\[0\]\.host: Invalid value: "10\.0\.0\.1": must be a DNS name, not an IP address, /);
    const noType = await post(ings, ingress('no-type', { rules: [{ http: { paths: [{ path: '/', backend: { service: { name: 'web', port: { number: 80 } } } }] } }] }));
    assert.equal(noType.status, 422);
    assert.equal(noType.body.details?.causes?.[0]?.message, 'Required value: pathType must be specified');
    // wrong JSON types are a 400 from decoding, never a crash
    const wrongType = await post(ings, ingress('wrong', { rules: 'nope' }));
    assert.equal(wrongType.status, 400);
  });

  it('status only through /status, its load balancer entries validated; the main resource keeps it', async () => {
    const cur = await t.json<Ingress>(`${ings}/named`);
    const put = (path: string, body: unknown) => t.json<Ingress & StatusBody>(path, { method: 'PUT', headers: json, body: JSON.stringify(body) });
    const withLb = (lb: unknown[]) => ({ ...cur.body, status: { loadBalancer: { ingress: lb } } });
    // the main resource ignores a status
    const main = await put(`${ings}/named`, withLb([{ ip: '192.0.2.9' }]));
    assert.equal(main.status, 200);
    assert.deepEqual(main.body.status, { loadBalancer: {} });
    const bad = await put(`${ings}/named/status`, { ...withLb([{ ip: 'not-an-ip' }]), metadata: main.body.metadata });
    assert.equal(bad.status, 422);
    assert.equal(bad.body.details?.causes?.[0]?.field, 'status.loadBalancer.ingress[0].ip');
    const good = await put(`${ings}/named/status`, { ...withLb([{ ip: '192.0.2.9' }, { hostname: 'lb.example.com' }]), metadata: main.body.metadata });
    assert.equal(good.status, 200, JSON.stringify(good.body));
    assert.equal(good.body.status?.loadBalancer?.ingress?.[1]?.hostname, 'lb.example.com');
    const table = await t.json<{ rows: { cells: unknown[] }[] }>(`${ings}/named`, { headers: { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' } });
    assert.deepEqual(table.body.rows[0]?.cells.slice(0, 5), ['named', 'other', 'foo.example.com', '192.0.2.9,lb.example.com', '80']);
  });

  it('IngressClass: controller required and immutable, parameters scope defaulted', async () => {
    const missing = await post(classes, { ...ingressClass('nocontroller', false), spec: {} });
    assert.equal(missing.status, 422);
    assert.equal(missing.body.details?.causes?.[0]?.field, 'spec.controller');
    const created = await post<IngressClass>(classes, { ...ingressClass('params', false, 'acme.io/lb'), spec: { controller: 'acme.io/lb', parameters: { kind: 'LBConfig', name: 'lb' } } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.spec?.parameters?.scope, 'Cluster');
    const changed = await t.json<StatusBody>(`${classes}/params`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, body: JSON.stringify({ spec: { controller: 'acme.io/other' } }) });
    assert.equal(changed.status, 422);
    assert.equal(changed.body.details?.causes?.[0]?.message, 'Invalid value: "acme.io/other": field is immutable');
  });
});
