import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../object.ts';
import { validateConfigMap, validateSecret } from './config-data.ts';
import { validateService } from './service.ts';
import { validateEvent, validateLease, validateNamespace, validateNode, validateRuntimeClass } from './cluster.ts';

const obj = (o: Record<string, unknown>): KubeObject => ({ metadata: { name: 'x', namespace: 'default' }, ...o });
const fields = (cs: { field: string }[]): string[] => cs.map((c) => c.field);

test('configmap keys, duplicates, size and immutability', () => {
  assert.deepEqual(validateConfigMap(obj({ data: { 'a.b': '1', K_2: '2' } })), []);
  assert.deepEqual(fields(validateConfigMap(obj({ data: { 'a/b': '1', dup: '' }, binaryData: { dup: 'AA==' } }))), [
    'data[a/b]',
    'data[dup]',
    'binaryData[dup]',
  ]);
  const big = validateConfigMap(obj({ data: { a: 'x'.repeat(1024 * 1024 + 1) } }));
  assert.deepEqual(big.map((c) => c.reason), ['FieldValueTooLong']);
  const old = obj({ immutable: true, data: { a: '1' } });
  assert.deepEqual(fields(validateConfigMap(obj({ immutable: true, data: { a: '2' } }), old)), ['data']);
  assert.deepEqual(validateConfigMap(obj({ immutable: true, data: { a: '1' } }), old), []);
});

test('secret data must be base64; typed secrets need their keys; type immutable', () => {
  assert.deepEqual(validateSecret(obj({ type: 'Opaque', data: { a: 'aGVsbG8=' } })), []);
  assert.deepEqual(fields(validateSecret(obj({ type: 'Opaque', data: { a: 'not base64!' } }))), ['data[a]']);
  assert.deepEqual(fields(validateSecret(obj({ type: 'kubernetes.io/tls', data: { 'tls.crt': 'AA==' } }))), ['data[tls.key]']);
  assert.deepEqual(fields(validateSecret(obj({ type: 'kubernetes.io/tls', data: {} }), obj({ type: 'Opaque' }))), [
    'data[tls.crt]',
    'data[tls.key]',
    'type',
  ]);
});

test('service ports, type and clusterIP immutability', () => {
  assert.deepEqual(validateService(obj({ spec: { type: 'ClusterIP', ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }] } })), []);
  assert.deepEqual(fields(validateService(obj({ spec: { type: 'Bogus', ports: [] } }))), ['spec.type', 'spec.ports']);
  assert.deepEqual(
    fields(validateService(obj({ spec: { ports: [{ port: 80 }, { port: 0, name: 'a' }, { port: 81, name: 'a', targetPort: 'Bad_Name' }] } }))),
    ['spec.ports[0].name', 'spec.ports[1].port', 'spec.ports[2].name', 'spec.ports[2].targetPort'],
  );
  assert.deepEqual(fields(validateService(obj({ spec: { type: 'ExternalName' } }))), ['spec.externalName']);
  assert.deepEqual(validateService(obj({ spec: { clusterIP: 'None' } })), []);
  const old = obj({ spec: { clusterIP: '10.0.0.1', ports: [{ port: 1 }] } });
  const c = validateService(obj({ spec: { clusterIP: '10.0.0.2', ports: [{ port: 1 }] } }), old);
  assert.deepEqual(c.map((x) => x.message), ['Invalid value: "10.0.0.2": field is immutable']);
});

test('node, namespace, lease, runtimeclass, event', () => {
  assert.deepEqual(
    fields(validateNode(obj({ spec: { taints: [{ key: 'a', effect: 'Sometimes' }, { effect: 'NoSchedule' }], podCIDR: 'nope' }, status: { capacity: { cpu: 'x' } } }))),
    ['spec.taints[0].effect', 'spec.taints[1].key', 'spec.podCIDRs[0]', 'status.capacity[cpu]'],
  );
  assert.deepEqual(fields(validateNamespace(obj({ spec: { finalizers: ['foo'] } }))), ['spec.finalizers']);
  assert.deepEqual(validateNamespace(obj({ spec: { finalizers: ['kubernetes'] } })), []);
  assert.deepEqual(fields(validateLease(obj({ spec: { leaseDurationSeconds: 0, leaseTransitions: -1 } }))), [
    'spec.leaseDurationSeconds',
    'spec.leaseTransitions',
  ]);
  assert.deepEqual(validateRuntimeClass(obj({ handler: 'runc', overhead: { podFixed: { memory: '25Mi' } } })), []);
  assert.deepEqual(fields(validateRuntimeClass(obj({ handler: 'Bad.Handler', overhead: { podFixed: { memory: '-1' } } }))), [
    'handler',
    'overhead.podFixed[memory]',
  ]);
  assert.deepEqual(fields(validateRuntimeClass(obj({}))), ['handler']);
  assert.deepEqual(fields(validateRuntimeClass(obj({ handler: 'gvisor' }), obj({ handler: 'runc' }))), ['handler']);
  assert.deepEqual(validateEvent(obj({ involvedObject: { kind: 'Pod', namespace: 'default', name: 'p' }, type: 'Normal' })), []);
  assert.deepEqual(validateEvent(obj({ involvedObject: { kind: 'Node', name: 'n' } })), [], 'node events live in default');
  assert.deepEqual(
    fields(validateEvent({ metadata: { name: 'e', namespace: 'a' }, involvedObject: { kind: 'Pod', namespace: 'b' } })),
    ['involvedObject.namespace'],
  );
});
