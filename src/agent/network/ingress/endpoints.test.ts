import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveBackend, RoundRobin, slicesOf, type ServiceObject, type SliceObject, type Upstream } from './endpoints.ts';

const svc = (ports: { name?: string; port: number; protocol?: string }[], extra: Record<string, unknown> = {}): ServiceObject =>
  ({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'ns' }, spec: { ports, ...extra } }) as ServiceObject;
const slice = (name: string, ports: { name?: string; port: number }[], eps: { ip: string; ready?: boolean; serving?: boolean; terminating?: boolean }[], service = 'web'): SliceObject =>
  ({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace: 'ns', labels: { 'kubernetes.io/service-name': service } },
    addressType: 'IPv4',
    ports,
    endpoints: eps.map((e) => ({ addresses: [e.ip], conditions: { ready: e.ready, serving: e.serving, terminating: e.terminating } })),
  }) as SliceObject;
const source = (s: ServiceObject | undefined, slices: SliceObject[]) => ({ service: () => s, slices: (ns: string, name: string) => slicesOf(slices, ns, name) });

test('a Service port by number or name → the slices\' port of the same name, ready endpoints of every slice', () => {
  const s = svc([{ name: 'http', port: 80 }, { name: 'admin', port: 81 }]);
  const slices = [slice('a', [{ name: 'http', port: 8080 }, { name: 'admin', port: 9090 }], [{ ip: '10.0.0.1', ready: true }, { ip: '10.0.0.2', ready: false }]), slice('b', [{ name: 'http', port: 8080 }], [{ ip: '10.0.0.3' }]), slice('c', [{ name: 'http', port: 1 }], [{ ip: '10.9.9.9' }], 'other')];
  assert.deepEqual(resolveBackend(source(s, slices), { namespace: 'ns', service: 'web', port: { number: 80 } }), { upstreams: [{ host: '10.0.0.1', port: 8080 }, { host: '10.0.0.3', port: 8080 }] });
  assert.deepEqual(resolveBackend(source(s, slices), { namespace: 'ns', service: 'web', port: { name: 'admin' } }), { upstreams: [{ host: '10.0.0.1', port: 9090 }] });
});

test('no ready endpoint: the serving-and-terminating ones; none of those either: missing endpoints', () => {
  const s = svc([{ port: 80 }]);
  const draining = [slice('a', [{ port: 8080 }], [{ ip: '10.0.0.1', ready: false, serving: true, terminating: true }, { ip: '10.0.0.2', ready: false, serving: false, terminating: true }])];
  assert.deepEqual(resolveBackend(source(s, draining), { namespace: 'ns', service: 'web', port: { number: 80 } }), { upstreams: [{ host: '10.0.0.1', port: 8080 }] });
  const r = resolveBackend(source(s, [slice('a', [{ port: 8080 }], [{ ip: '10.0.0.2', ready: false }])]), { namespace: 'ns', service: 'web', port: { number: 80 } });
  assert.deepEqual(r, { missing: 'endpoints', detail: 'service ns/web has no ready endpoints' });
});

test('no Service, no such port, a UDP port: why, for the 503', () => {
  assert.equal((resolveBackend(source(undefined, []), { namespace: 'ns', service: 'web', port: { number: 80 } }) as { missing: string }).missing, 'service');
  assert.equal((resolveBackend(source(svc([{ port: 80 }]), []), { namespace: 'ns', service: 'web', port: { name: 'http' } }) as { missing: string }).missing, 'port');
  assert.equal((resolveBackend(source(svc([{ port: 53, protocol: 'UDP' }]), []), { namespace: 'ns', service: 'web', port: { number: 53 } }) as { missing: string }).missing, 'port');
});

test('ExternalName: its DNS name at the Service port', () => {
  const s = svc([{ name: 'http', port: 8080 }], { type: 'ExternalName', externalName: 'api.example.com' });
  assert.deepEqual(resolveBackend(source(s, []), { namespace: 'ns', service: 'web', port: { name: 'http' } }), { upstreams: [{ host: 'api.example.com', port: 8080 }] });
});

test('round-robin: each endpoint first in turn, the others after it as retries', () => {
  const rr = new RoundRobin();
  const ups: Upstream[] = ['a', 'b', 'c'].map((host) => ({ host, port: 1 }));
  const firsts = Array.from({ length: 6 }, () => rr.order('k', ups).map((u) => u.host).join(''));
  assert.deepEqual(firsts, ['abc', 'bca', 'cab', 'abc', 'bca', 'cab']);
  // an endpoint gone: the cursor wraps into the smaller list
  assert.equal(rr.order('k', ups.slice(0, 2)).length, 2);
  rr.retain(new Set());
  assert.equal(rr.order('k', ups)[0]?.host, 'a');
});
