import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { hostOnly, pathMatches, RouteTable, servesIngress, type IngressClassObject, type IngressObject, type PathType } from './routes.ts';

type P = { path: string; pathType: PathType | 'ImplementationSpecific'; svc: string };

function ingress(name: string, o: { host?: string; paths?: P[]; defaultSvc?: string; created?: string; className?: string; annotation?: string; extraRules?: { host?: string; paths: P[] }[] }): IngressObject {
  const rules = [{ host: o.host, paths: o.paths ?? [] }, ...(o.extraRules ?? [])].filter((r) => r.paths.length > 0);
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name, namespace: 'default', creationTimestamp: o.created ?? '2026-01-01T00:00:00Z', ...(o.annotation ? { annotations: { 'kubernetes.io/ingress.class': o.annotation } } : {}) },
    spec: {
      ...(o.className ? { ingressClassName: o.className } : {}),
      ...(o.defaultSvc ? { defaultBackend: { service: { name: o.defaultSvc, port: { number: 80 } } } } : {}),
      rules: rules.map((r) => ({
        ...(r.host ? { host: r.host } : {}),
        http: { paths: r.paths.map((p) => ({ path: p.path, pathType: p.pathType, backend: { service: { name: p.svc, port: { number: 80 } } } })) },
      })),
    },
  };
}

/** which Service a request path goes to (undefined: none, the 404) */
function routeOf(t: RouteTable, path: string, host = 'any.example'): string | undefined {
  return t.match(host, path)?.backend?.service;
}

describe('path matching: the Ingress documentation\'s Examples table', () => {
  // Kind | Path(s) | Request path(s) | Matches? — https://kubernetes.io/docs/concepts/services-networking/ingress/#examples
  const rows: { kind: PathType | 'Mixed'; paths: string[]; requests: string[]; match: boolean; expect?: string }[] = [
    { kind: 'Prefix', paths: ['/'], requests: ['/', '/foo', '/foo/bar/', '/a.b'], match: true },
    { kind: 'Exact', paths: ['/foo'], requests: ['/foo'], match: true },
    { kind: 'Exact', paths: ['/foo'], requests: ['/bar'], match: false },
    { kind: 'Exact', paths: ['/foo'], requests: ['/foo/'], match: false },
    { kind: 'Exact', paths: ['/foo/'], requests: ['/foo'], match: false },
    { kind: 'Prefix', paths: ['/foo'], requests: ['/foo', '/foo/'], match: true },
    { kind: 'Prefix', paths: ['/foo/'], requests: ['/foo', '/foo/'], match: true },
    { kind: 'Prefix', paths: ['/aaa/bb'], requests: ['/aaa/bbb'], match: false },
    { kind: 'Prefix', paths: ['/aaa/bbb'], requests: ['/aaa/bbb'], match: true },
    { kind: 'Prefix', paths: ['/aaa/bbb/'], requests: ['/aaa/bbb'], match: true }, // ignores trailing slash
    { kind: 'Prefix', paths: ['/aaa/bbb'], requests: ['/aaa/bbb/'], match: true }, // matches trailing slash
    { kind: 'Prefix', paths: ['/aaa/bbb'], requests: ['/aaa/bbb/ccc'], match: true }, // matches subpath
    { kind: 'Prefix', paths: ['/aaa/bbb'], requests: ['/aaa/bbbxyz'], match: false }, // does not match string prefix
    { kind: 'Prefix', paths: ['/', '/aaa'], requests: ['/aaa/ccc'], match: true, expect: '/aaa' },
    { kind: 'Prefix', paths: ['/', '/aaa', '/aaa/bbb'], requests: ['/aaa/bbb'], match: true, expect: '/aaa/bbb' },
    { kind: 'Prefix', paths: ['/', '/aaa', '/aaa/bbb'], requests: ['/ccc'], match: true, expect: '/' },
    { kind: 'Prefix', paths: ['/aaa'], requests: ['/ccc'], match: false }, // uses default backend
  ];
  for (const row of rows) {
    for (const req of row.requests) {
      test(`${row.kind} ${row.paths.join(', ')} ← ${req}: ${row.match ? 'match' : 'no match'}`, () => {
        // each path gets its own Service named after it, so the winner is visible
        const t = new RouteTable([ingress('t', { paths: row.paths.map((p) => ({ path: p, pathType: row.kind as PathType, svc: `svc${p}` })) })]);
        const got = routeOf(t, req);
        if (!row.match) assert.equal(got, undefined);
        else assert.equal(got, `svc${row.expect ?? row.paths[0]}`);
        if (row.paths.length === 1) assert.equal(pathMatches({ path: row.paths[0]!, pathType: row.kind as PathType }, req), row.match);
      });
    }
  }

  test('Mixed /foo (Prefix), /foo (Exact) ← /foo: prefers Exact; /foo/x takes the Prefix', () => {
    for (const order of [['Prefix', 'Exact'], ['Exact', 'Prefix']] as const) {
      const t = new RouteTable([ingress('t', { paths: order.map((k) => ({ path: '/foo', pathType: k, svc: k })) })]);
      assert.equal(routeOf(t, '/foo'), 'Exact');
      assert.equal(routeOf(t, '/foo/x'), 'Prefix');
    }
  });

  test('the default backend answers what no rule matches; without one, no route', () => {
    const t = new RouteTable([ingress('t', { paths: [{ path: '/aaa', pathType: 'Prefix', svc: 'aaa' }], defaultSvc: 'fallback' })]);
    assert.equal(routeOf(t, '/ccc'), 'fallback');
    assert.equal(t.match('x', '/ccc')?.route, undefined);
    assert.equal(routeOf(new RouteTable([ingress('t', { paths: [{ path: '/aaa', pathType: 'Prefix', svc: 'aaa' }] })]), '/ccc'), undefined);
    assert.equal(new RouteTable([]).match('x', '/'), undefined);
  });

  test('ImplementationSpecific is a Prefix match', () => {
    const t = new RouteTable([ingress('t', { paths: [{ path: '/app', pathType: 'ImplementationSpecific', svc: 'app' }] })]);
    assert.equal(routeOf(t, '/app/x'), 'app');
    assert.equal(routeOf(t, '/application'), undefined);
  });
});

describe('hosts', () => {
  const t = new RouteTable([
    ingress('a', {
      host: 'foo.bar.com',
      paths: [{ path: '/', pathType: 'Prefix', svc: 'exact' }],
      extraRules: [
        { host: '*.foo.com', paths: [{ path: '/', pathType: 'Prefix', svc: 'wild' }] },
        { paths: [{ path: '/', pathType: 'Prefix', svc: 'anyhost' }] },
      ],
    }),
  ]);
  test('the documentation\'s wildcard table: one label only', () => {
    assert.equal(routeOf(t, '/', 'bar.foo.com'), 'wild');
    assert.equal(routeOf(t, '/', 'baz.bar.foo.com'), 'anyhost');
    assert.equal(routeOf(t, '/', 'foo.com'), 'anyhost');
  });
  test('exact hosts: case, port and a trailing dot do not matter', () => {
    assert.equal(routeOf(t, '/', 'foo.bar.com'), 'exact');
    assert.equal(routeOf(t, '/', 'FOO.Bar.com:8443'), 'exact');
    assert.equal(routeOf(t, '/', 'foo.bar.com.'), 'exact');
    assert.equal(routeOf(t, '/', undefined as unknown as string), 'anyhost');
  });
  test('a host with rules does not fall through to the rules without one', () => {
    const t2 = new RouteTable([ingress('a', { host: 'h.example', paths: [{ path: '/api', pathType: 'Prefix', svc: 'api' }], extraRules: [{ paths: [{ path: '/', pathType: 'Prefix', svc: 'anyhost' }] }] })]);
    assert.equal(routeOf(t2, '/api', 'h.example'), 'api');
    assert.equal(routeOf(t2, '/other', 'h.example'), undefined);
    assert.equal(routeOf(t2, '/other', 'x.example'), 'anyhost');
  });
  test('hostOnly', () => {
    assert.equal(hostOnly('[::1]:8080'), '::1');
    assert.equal(hostOnly('Example.COM'), 'example.com');
    assert.equal(hostOnly('10.0.0.1:80'), '10.0.0.1');
  });
});

describe('several Ingresses', () => {
  test('merged by host; the oldest wins a path both define, and gives the default backend', () => {
    const older = ingress('older', { host: 'h', paths: [{ path: '/x', pathType: 'Prefix', svc: 'old-x' }], defaultSvc: 'old-default', created: '2026-01-01T00:00:00Z' });
    const newer = ingress('newer', { host: 'h', paths: [{ path: '/x', pathType: 'Prefix', svc: 'new-x' }, { path: '/y', pathType: 'Prefix', svc: 'new-y' }], defaultSvc: 'new-default', created: '2026-02-01T00:00:00Z' });
    for (const list of [[older, newer], [newer, older]]) {
      const t = new RouteTable(list);
      assert.equal(routeOf(t, '/x', 'h'), 'old-x');
      assert.equal(routeOf(t, '/y', 'h'), 'new-y');
      assert.equal(routeOf(t, '/z', 'h'), 'old-default');
      assert.equal(t.match('h', '/y')?.ingress, 'default/newer');
    }
  });
  test('a resource backend is a match without a Service (served as 503)', () => {
    const ing = ingress('r', {});
    ing.spec = { rules: [{ http: { paths: [{ path: '/', pathType: 'Prefix', backend: { resource: { kind: 'StorageBucket', name: 'b', apiGroup: 'k8s.example.com' } } }] } }] };
    const m = new RouteTable([ing]).match('h', '/');
    assert.ok(m);
    assert.equal(m.backend, undefined);
  });
  test('a port by name', () => {
    const ing = ingress('n', {});
    ing.spec = { rules: [{ http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 's', port: { name: 'web' } } } }] } }] };
    assert.deepEqual(new RouteTable([ing]).match('h', '/')?.backend, { namespace: 'default', service: 's', port: { name: 'web' } });
  });
});

describe('which Ingresses this controller serves', () => {
  const cls = (name: string, isDefault = false): IngressClassObject => ({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'IngressClass',
    metadata: { name, ...(isDefault ? { annotations: { 'ingressclass.kubernetes.io/is-default-class': 'true' } } : {}) },
    spec: { controller: 'hedge.io/ingress' },
  });
  test('by spec.ingressClassName, by the legacy annotation, and classless only while one of ours is the default', () => {
    const ours = [cls('hedge')];
    assert.equal(servesIngress(ingress('a', { className: 'hedge' }), ours), true);
    assert.equal(servesIngress(ingress('a', { className: 'nginx' }), ours), false);
    assert.equal(servesIngress(ingress('a', { annotation: 'hedge' }), ours), true);
    assert.equal(servesIngress(ingress('a', { annotation: 'nginx' }), ours), false);
    assert.equal(servesIngress(ingress('a', {}), ours), false);
    assert.equal(servesIngress(ingress('a', {}), [cls('hedge', true)]), true);
    // spec.ingressClassName wins over the annotation
    assert.equal(servesIngress(ingress('a', { className: 'nginx', annotation: 'hedge' }), ours), false);
  });
});
