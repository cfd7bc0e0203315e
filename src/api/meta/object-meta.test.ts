import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nameIsDNSLabel, nameIsDNSSubdomain } from './name.ts';
import { validateObjectMeta, validateObjectMetaUpdate } from './object-meta.ts';

const ns = { namespaced: true, nameFn: nameIsDNSSubdomain };
const cluster = { namespaced: false, nameFn: nameIsDNSLabel };
const fields = (cs: { field: string }[]): string[] => cs.map((c) => c.field);

test('valid metadata', () => {
  assert.deepEqual(
    validateObjectMeta(
      {
        name: 'web.example',
        namespace: 'default',
        labels: { app: 'web' },
        annotations: { 'Example.com/Note': 'x' },
        finalizers: ['example.com/cleanup', 'kubernetes'],
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: 'u1', controller: true }],
      },
      ns,
    ),
    [],
  );
});

test('name and namespace rules', () => {
  const c = validateObjectMeta({}, ns);
  assert.deepEqual(fields(c), ['metadata.name', 'metadata.namespace']);
  assert.equal(c[0].message, 'Required value: name or generateName is required');
  assert.equal(c[1].message, 'Required value');
  const bad = validateObjectMeta({ name: 'Bad_Name', namespace: 'default' }, ns);
  assert.equal(bad.length, 1);
  assert.match(bad[0].message, /^Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of/);
  const forb = validateObjectMeta({ name: 'n', namespace: 'x' }, cluster);
  assert.deepEqual(forb, [{ field: 'metadata.namespace', reason: 'FieldValueForbidden', message: 'Forbidden: not allowed on this type' }]);
  assert.deepEqual(fields(validateObjectMeta({ name: 'a.b' }, cluster)), ['metadata.name']);
  assert.deepEqual(fields(validateObjectMeta({ name: 'a', namespace: 'Bad' }, ns)), ['metadata.namespace']);
  assert.deepEqual(fields(validateObjectMeta({ name: 'a', generateName: 'Bad-', namespace: 'd' }, ns)), ['metadata.generateName']);
  assert.deepEqual(fields(validateObjectMeta({ name: 'a', generation: -1, namespace: 'd' }, ns)), ['metadata.generation']);
});

test('annotations: keys and total size', () => {
  const big = { a: 'x'.repeat(256 * 1024) };
  const c = validateObjectMeta({ name: 'a', namespace: 'd', annotations: big }, ns);
  assert.deepEqual(c, [{ field: 'metadata.annotations', reason: 'FieldValueTooLong', message: 'Too long: may not be more than 262144 bytes' }]);
  assert.deepEqual(fields(validateObjectMeta({ name: 'a', namespace: 'd', annotations: { 'a b': '' } }, ns)), ['metadata.annotations']);
});

test('owner references and finalizers', () => {
  const c = validateObjectMeta(
    {
      name: 'a',
      namespace: 'd',
      ownerReferences: [
        { apiVersion: '', kind: '', name: '', uid: '' },
        { apiVersion: 'v1', kind: 'A', name: 'x', uid: 'u', controller: true },
        { apiVersion: 'v1', kind: 'B', name: 'y', uid: 'v', controller: true },
      ],
      finalizers: ['bad finalizer', 'orphan', 'foregroundDeletion'],
    },
    ns,
  );
  assert.deepEqual(fields(c), [
    'metadata.ownerReferences.apiVersion',
    'metadata.ownerReferences.kind',
    'metadata.ownerReferences.name',
    'metadata.ownerReferences.uid',
    'metadata.ownerReferences',
    'metadata.finalizers',
    'metadata.finalizers',
  ]);
  assert.match(c[4].message, /Only one reference can have Controller set to true\. Found "true" in references for A\/x and B\/y$/);
  assert.match(c[6].message, /finalizer orphan and foregroundDeletion cannot be both set/);
});

test('update: identity fields are immutable', () => {
  const old = { name: 'a', namespace: 'd', uid: 'u1', creationTimestamp: '2024-01-01T00:00:00Z', generation: 2 };
  assert.deepEqual(validateObjectMetaUpdate({ ...old, labels: { x: 'y' } }, old), []);
  const c = validateObjectMetaUpdate({ name: 'b', namespace: 'e', uid: 'u2', creationTimestamp: '2025-01-01T00:00:00Z', generation: 1 }, old);
  assert.deepEqual(fields(c), ['metadata.generation', 'metadata.name', 'metadata.namespace', 'metadata.uid', 'metadata.creationTimestamp']);
  assert.equal(c[1].message, 'Invalid value: "b": field is immutable');
});

test('update: no new finalizers while deleting', () => {
  const old = { name: 'a', deletionTimestamp: '2024-01-01T00:00:00Z', finalizers: ['a.io/x'] };
  assert.deepEqual(validateObjectMetaUpdate({ ...old, finalizers: [] }, old), []);
  const c = validateObjectMetaUpdate({ ...old, finalizers: ['a.io/x', 'b.io/y'] }, old);
  assert.equal(c.length, 1);
  assert.equal(c[0].message, 'Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{"b.io/y"}');
});
