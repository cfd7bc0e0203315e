import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../object.ts';
import { builtinResources } from '../builtin/builtin-resources.ts';
import { ResourceRegistry } from '../resources/registry.ts';
import { ingressClassTable, ingressTable } from '../table/ingress.ts';

const reg = new ResourceRegistry(builtinResources());
const ingresses = reg.lookup('networking.k8s.io', 'v1', 'ingresses');
const classes = reg.lookup('networking.k8s.io', 'v1', 'ingressclasses');

const svc = (name = 'web', port: Record<string, unknown> = { number: 80 }) => ({ service: { name, port } });
const rule = (host: string | undefined, paths: unknown[]) => ({ ...(host === undefined ? {} : { host }), http: { paths } });
const prefix = (path: string, backend: unknown = svc()) => ({ path, pathType: 'Prefix', backend });
const ing = (spec: unknown, annotations?: Record<string, string>): KubeObject => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'Ingress',
  metadata: { name: 'web', namespace: 'shop', creationTimestamp: '2026-01-01T00:00:00Z', ...(annotations ? { annotations } : {}) },
  spec,
});
const ic = (spec: unknown): KubeObject => ({ apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', metadata: { name: 'nginx', creationTimestamp: '2026-01-01T00:00:00Z' }, spec });
/** `field: message` of each cause */
const check = (o: KubeObject, old?: KubeObject): string[] => (ingresses?.validate?.(o, old) ?? []).map((c) => `${c.field}: ${c.message}`);
const checkClass = (o: KubeObject, old?: KubeObject): string[] => {
  classes?.defaults?.(o);
  return (classes?.validate?.(o, old) ?? []).map((c) => `${c.field}: ${c.message}`);
};
const fields = (causes: string[]): string[] => causes.map((c) => c.slice(0, c.indexOf(': ')));

test('Ingress and IngressClass are served as upstream reports them', () => {
  assert.ok(ingresses && classes);
  assert.deepEqual([ingresses.kind, ingresses.namespaced, ingresses.shortNames, ingresses.subresources, ingresses.hasStatus], ['Ingress', true, ['ing'], ['status'], true]);
  assert.deepEqual([classes.kind, classes.namespaced, classes.shortNames, classes.subresources], ['IngressClass', false, [], []]);
});

test('a typical chart Ingress is valid: Prefix and Exact paths, wildcard host, TLS, named port, resource backend', () => {
  const spec = {
    ingressClassName: 'nginx',
    tls: [{ hosts: ['app.example.com', '*.example.com'], secretName: 'app-tls' }],
    defaultBackend: { resource: { apiGroup: 'k8s.example.com', kind: 'StorageBucket', name: 'static' } },
    rules: [
      rule('app.example.com', [prefix('/'), { path: '/healthz', pathType: 'Exact', backend: svc('web', { name: 'http' }) }]),
      rule('*.example.com', [{ pathType: 'ImplementationSpecific', backend: svc() }]),
      rule(undefined, [prefix('/api/v1')]),
    ],
  };
  assert.deepEqual(check(ing(spec, { 'kubernetes.io/ingress.class': 'nginx' })), []);
});

test('either defaultBackend or rules; hosts are DNS names (one leading *.), never IPs', () => {
  assert.deepEqual(check(ing({})), ['spec: Invalid value: []networking.IngressRule(nil): either `defaultBackend` or `rules` must be specified']);
  const causes = check(ing({ rules: [rule('10.0.0.1', [prefix('/')]), rule('Foo.example.com', [prefix('/')]), rule('*.*.example.com', [prefix('/')]), rule('a.*.com', [prefix('/')])] }));
  assert.deepEqual(fields(causes), ['spec.rules[0].host', 'spec.rules[1].host', 'spec.rules[2].host', 'spec.rules[3].host']);
  assert.equal(causes[0], 'spec.rules[0].host: Invalid value: "10.0.0.1": must be a DNS name, not an IP address');
  assert.match(causes[1] ?? '', /"Foo.example.com": a lowercase RFC 1123 subdomain must consist of/);
  assert.match(causes[2] ?? '', /a wildcard DNS-1123 subdomain must start with '\*\.'.*e\.g\. '\*\.example\.com'/);
});

test('paths: pathType required and supported; Exact/Prefix absolute without //, /./, /../, %2f or a /. /.. end', () => {
  assert.deepEqual(check(ing({ rules: [rule('a.io', [{ path: '/', backend: svc() }])] })), ['spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified']);
  assert.deepEqual(check(ing({ rules: [rule('a.io', [{ path: '/', pathType: 'Regex', backend: svc() }])] })), [
    'spec.rules[0].http.paths[0].pathType: Unsupported value: "Regex": supported values: "Exact", "ImplementationSpecific", "Prefix"',
  ]);
  assert.deepEqual(check(ing({ rules: [rule('a.io', [])] })), ['spec.rules[0].http.paths: Required value']);
  const bad = (path: string) => check(ing({ rules: [rule('a.io', [prefix(path)])] }));
  assert.deepEqual(bad('api'), ['spec.rules[0].http.paths[0].path: Invalid value: "api": must be an absolute path']);
  assert.deepEqual(bad('/a//b'), ["spec.rules[0].http.paths[0].path: Invalid value: \"/a//b\": must not contain '//'"]);
  assert.deepEqual(bad('/a/../b'), ["spec.rules[0].http.paths[0].path: Invalid value: \"/a/../b\": must not contain '/../'"]);
  assert.deepEqual(bad('/a/./b'), ["spec.rules[0].http.paths[0].path: Invalid value: \"/a/./b\": must not contain '/./'"]);
  assert.deepEqual(bad('/a%2Fb'), ["spec.rules[0].http.paths[0].path: Invalid value: \"/a%2Fb\": must not contain '%2F'"]);
  assert.deepEqual(bad('/a/..'), ["spec.rules[0].http.paths[0].path: Invalid value: \"/a/..\": cannot end with '/..'"]);
  assert.deepEqual(bad('/a/.'), ["spec.rules[0].http.paths[0].path: Invalid value: \"/a/.\": cannot end with '/.'"]);
  // ImplementationSpecific: anything absolute (or empty) goes, it is the controller's to interpret
  assert.deepEqual(check(ing({ rules: [rule('a.io', [{ path: '/a//(.*)', pathType: 'ImplementationSpecific', backend: svc() }])] })), []);
  assert.deepEqual(check(ing({ rules: [rule('a.io', [{ path: 'x', pathType: 'ImplementationSpecific', backend: svc() }])] })), [
    'spec.rules[0].http.paths[0].path: Invalid value: "x": must be an absolute path',
  ]);
});

test('backends: exactly one of service or resource; a service needs a DNS-1035 name and a port name xor number', () => {
  const at = (backend: unknown) => check(ing({ defaultBackend: backend }));
  assert.deepEqual(at({}), ['spec.defaultBackend: Invalid value: "": resource or service backend is required']);
  assert.deepEqual(at({ ...svc(), resource: { kind: 'Bucket', name: 'b' } }), ['spec.defaultBackend: Invalid value: "": cannot set both resource and service backends']);
  assert.deepEqual(at({ service: { port: { number: 80 } } }), ['spec.defaultBackend.service.name: Required value']);
  assert.match(at(svc('1web'))[0] ?? '', /^spec\.defaultBackend\.service\.name: Invalid value: "1web": a DNS-1035 label/);
  assert.deepEqual(at(svc('web', {})), ['spec.defaultBackend: Required value: port name or number is required']);
  assert.deepEqual(at(svc('web', { name: 'http', number: 80 })), ['spec.defaultBackend: Invalid value: "": cannot set both port name & port number']);
  assert.deepEqual(at(svc('web', { number: 70000 })), ['spec.defaultBackend.service.port.number: Invalid value: 70000: must be between 1 and 65535, inclusive']);
  assert.deepEqual(at(svc('web', { name: 'http-' })), ['spec.defaultBackend.service.port.name: Invalid value: "http-": must not begin or end with a hyphen']);
  const ref = at({ resource: { apiGroup: 'Bad_Group', kind: '', name: 'a/b' } });
  assert.deepEqual(fields(ref), ['spec.defaultBackend.resource.apiGroup', 'spec.defaultBackend.resource.kind', 'spec.defaultBackend.resource.name']);
  assert.deepEqual(ref.slice(1), ['spec.defaultBackend.resource.kind: Required value', "spec.defaultBackend.resource.name: Invalid value: \"a/b\": may not contain '/'"]);
});

test('TLS hosts and secretName, ingressClassName, and the class annotation agreeing with it', () => {
  const causes = check(ing({ defaultBackend: svc(), ingressClassName: 'Nginx', tls: [{ hosts: ['ok.io', '*.ok.io', 'Bad.io'], secretName: 'Bad_Secret' }] }, { 'kubernetes.io/ingress.class': 'traefik' }));
  assert.deepEqual(fields(causes), ['spec.tls[0].hosts[2]', 'spec.tls[0].secretName', 'spec.ingressClassName', 'annotations.kubernetes.io/ingress.class']);
  assert.equal(causes[3], 'annotations.kubernetes.io/ingress.class: Invalid value: "traefik": must match `ingressClassName` when both are specified');
});

test('updates keep what the stored object already had wrong (secretName, wildcard rules); the load balancer status is checked', () => {
  const old = ing({ rules: [rule('*.a.io', [{ path: 'x', pathType: 'Prefix', backend: svc() }])], tls: [{ secretName: 'Bad_Secret' }] });
  assert.equal(check(old).length, 2);
  const next = structuredClone(old);
  (next.metadata.labels as unknown) = { touched: 'yes' };
  assert.deepEqual(check(next, old), []);
  const withStatus = (lb: unknown) => ({ ...structuredClone(old), status: { loadBalancer: { ingress: lb } } });
  assert.deepEqual(check(withStatus([{ ip: '192.0.2.10' }, { hostname: 'lb.example.com' }]), old), []);
  assert.deepEqual(check(withStatus([{ ip: 'nope' }, { hostname: '192.0.2.1' }]), old), [
    'status.loadBalancer.ingress[0].ip: Invalid value: "nope": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)',
    'status.loadBalancer.ingress[1].hostname: Invalid value: "192.0.2.1": must be a DNS name, not an IP address',
  ]);
});

test('IngressClass: controller required, domain-prefixed, at most 250 bytes and immutable', () => {
  assert.deepEqual(checkClass(ic({ controller: 'k8s.io/ingress-nginx' })), []);
  assert.deepEqual(checkClass(ic({})), ['spec.controller: Required value']);
  assert.deepEqual(checkClass(ic({ controller: 'nginx' })), ['spec.controller: Invalid value: "nginx": must be a domain-prefixed path (such as "acme.io/foo")']);
  assert.match(checkClass(ic({ controller: 'Acme.io/x' }))[0] ?? '', /^spec\.controller: Invalid value: "Acme.io": a lowercase RFC 1123 subdomain/);
  assert.deepEqual(checkClass(ic({ controller: 'acme.io/a b' })), ["spec.controller: Invalid value: \"a b\": Invalid path (regex used for validation is '[A-Za-z0-9/\\-._~%!$&'()*+,;=:]+')"]);
  assert.deepEqual(checkClass(ic({ controller: `acme.io/${'x'.repeat(250)}` })), ['spec.controller: Too long: may not be more than 250 bytes']);
  assert.deepEqual(checkClass(ic({ controller: 'acme.io/other' }), ic({ controller: 'k8s.io/ingress-nginx' })), ['spec.controller: Invalid value: "acme.io/other": field is immutable']);
});

test('IngressClass parameters: kind and name required, scope defaulted to Cluster, Namespace scope needs a namespace', () => {
  const withParams = (parameters: Record<string, unknown>) => ic({ controller: 'acme.io/lb', parameters });
  const cluster = withParams({ apiGroup: 'k8s.acme.io', kind: 'LBConfig', name: 'lb' });
  assert.deepEqual(checkClass(cluster), []);
  assert.equal((cluster.spec as { parameters: { scope: string } }).parameters.scope, 'Cluster');
  assert.deepEqual(checkClass(withParams({})), ['spec.parameters.kind: Required value', 'spec.parameters.name: Required value']);
  assert.deepEqual(checkClass(withParams({ kind: 'K', name: 'n', scope: 'Global' })), ['spec.parameters.scope: Unsupported value: "Global": supported values: "Cluster", "Namespace"']);
  assert.deepEqual(checkClass(withParams({ kind: 'K', name: 'n', scope: 'Namespace' })), ["spec.parameters.namespace: Required value: `parameters.scope` is set to 'Namespace'"]);
  assert.deepEqual(checkClass(withParams({ kind: 'K', name: 'n', scope: 'Namespace', namespace: 'lb-system' })), []);
  assert.deepEqual(checkClass(withParams({ kind: 'K', name: 'n', scope: 'Cluster', namespace: 'x' })), ["spec.parameters.namespace: Forbidden: `parameters.scope` is set to 'Cluster'"]);
});

test("tables: upstream's printIngress and printIngressClass cells", () => {
  const now = new Date('2026-01-01T00:05:00Z');
  const o = ing({ ingressClassName: 'nginx', rules: [rule('a.io', []), rule(undefined, []), rule('b.io', []), rule('c.io', []), rule('d.io', [])], tls: [{ hosts: ['a.io'] }] });
  o.status = { loadBalancer: { ingress: [{ ip: '192.0.2.2' }, { ip: '192.0.2.1' }, { hostname: 'lb.io' }, { ip: '192.0.2.1' }] } };
  assert.deepEqual(ingressTable.row(o, now), ['web', 'nginx', 'a.io,b.io,c.io + 2 more...', '192.0.2.1,192.0.2.2,lb.io', '80, 443', '5m']);
  assert.deepEqual(ingressTable.row(ing({ defaultBackend: svc() }), now), ['web', '<none>', '*', '', '80', '5m']);
  assert.deepEqual(ingressTable.columns.map((c) => c.name), ['Name', 'Class', 'Hosts', 'Address', 'Ports', 'Age']);
  assert.deepEqual(ingressClassTable.row(ic({ controller: 'acme.io/lb', parameters: { apiGroup: 'k8s.acme.io', kind: 'LBConfig', name: 'lb' } }), now), ['nginx', 'acme.io/lb', 'LBConfig.k8s.acme.io/lb', '5m']);
  assert.deepEqual(ingressClassTable.row(ic({ controller: 'acme.io/lb' }), now), ['nginx', 'acme.io/lb', '<none>', '5m']);
});
