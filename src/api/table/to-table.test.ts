import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../object.ts';
import { namespaceTable } from './simple.ts';
import { toTable } from './to-table.ts';

const now = new Date('2024-01-01T00:00:10Z');
const ns: KubeObject = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default', creationTimestamp: '2024-01-01T00:00:00Z', resourceVersion: '7' }, status: { phase: 'Active' } };

test('Table with PartialObjectMetadata rows (what kubectl asks for)', () => {
  const t = toTable({ table: namespaceTable }, [ns], { now, listMeta: { resourceVersion: '9' } });
  assert.equal(t.kind, 'Table');
  assert.equal(t.apiVersion, 'meta.k8s.io/v1');
  assert.deepEqual(t.metadata, { resourceVersion: '9' });
  assert.deepEqual(t.columnDefinitions[0], {
    name: 'Name',
    type: 'string',
    format: 'name',
    description: t.columnDefinitions[0].description,
    priority: 0,
  });
  assert.equal(t.columnDefinitions[1].format, '');
  assert.deepEqual(t.rows, [
    { cells: ['default', 'Active', '10s'], object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: ns.metadata } },
  ]);
});

test('includeObject None/Object and the default table', () => {
  assert.equal(toTable({ table: namespaceTable }, [ns], { now, includeObject: 'None' }).rows[0].object, undefined);
  assert.equal(toTable({ table: namespaceTable }, [ns], { now, includeObject: 'Object' }).rows[0].object, ns);
  const t = toTable({}, [ns], { now });
  assert.deepEqual(t.columnDefinitions.map((c) => c.name), ['Name', 'Age']);
  assert.deepEqual(t.rows[0].cells, ['default', '10s']);
  assert.deepEqual(toTable({}, [], { now, includeColumns: false }).columnDefinitions, []);
});
