import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Json } from '../object.ts';
import { FieldSet, pathString } from './field-set.ts';

test('FieldsV1 round trip keeps "." for members with children', () => {
  const v1: Json = {
    'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } },
    'f:spec': { 'f:containers': { 'k:{"name":"c"}': { '.': {}, 'f:image': {}, 'f:name': {} } }, 'f:finalizers': { 'v:"x"': {} } },
  };
  const set = FieldSet.fromFieldsV1(v1);
  assert.equal(set.size, 6);
  assert.ok(set.has(['f:metadata', 'f:labels']));
  assert.ok(!set.has(['f:metadata']));
  assert.deepStrictEqual(set.toFieldsV1(), v1);
  assert.ok(set.hasPrefix(['f:spec', 'f:containers']));
  assert.ok(!set.hasPrefix(['f:spec', 'f:cont']));
});

test('paths print like structured-merge-diff', () => {
  assert.equal(pathString(['f:spec', 'f:containers', 'k:{"name":"c"}', 'f:image']), '.spec.containers[name="c"].image');
  assert.equal(pathString(['f:spec', 'f:ports', 'k:{"containerPort":80,"protocol":"TCP"}']), '.spec.ports[containerPort=80,protocol="TCP"]');
  assert.equal(pathString(['f:metadata', 'f:finalizers', 'v:"x"']), '.metadata.finalizers[="x"]');
});

test('a set read from FieldsV1 answers has/intersects/empty as its decoded members would', () => {
  const v1: Json = {
    'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} }, 'f:odd': null, 'f:notASet': 'x' },
    'f:spec': { 'f:renewTime': {}, 'f:list': { 'k:{"name":"c"}': { '.': {}, 'f:image': {} } } },
  };
  const probes = [
    ['f:metadata'], ['f:metadata', 'f:labels'], ['f:metadata', 'f:labels', 'f:app'], ['f:metadata', 'f:odd'], ['f:metadata', 'f:notASet'],
    ['f:spec', 'f:renewTime'], ['f:spec', 'f:renewTime', 'f:x'], ['f:spec', 'f:list', 'k:{"name":"c"}'], ['f:spec', 'f:list'], ['f:spec', '.'], [],
  ];
  const decoded = FieldSet.fromFieldsV1(v1);
  assert.equal(decoded.size, 6); // decodes it
  for (const p of probes) {
    const lazy = FieldSet.fromFieldsV1(v1);
    assert.equal(lazy.has(p), decoded.has(p), JSON.stringify(p));
    assert.equal(lazy.intersects(FieldSet.of([p])), decoded.has(p), JSON.stringify(p));
  }
  assert.ok(!FieldSet.fromFieldsV1(v1).empty);
  assert.ok(FieldSet.fromFieldsV1({}).empty);
  assert.ok(FieldSet.fromFieldsV1({ 'f:a': 'x' }).empty);
  assert.ok(!FieldSet.fromFieldsV1({ 'f:a': { 'f:b': null } }).empty);
  assert.ok(FieldSet.fromFieldsV1(undefined).empty);
  // set operations over keys keep the paths
  const changed = FieldSet.of([['f:spec', 'f:renewTime'], ['f:spec', 'f:holder']]);
  assert.deepStrictEqual(changed.difference(FieldSet.fromFieldsV1(v1)).paths(), [['f:spec', 'f:holder']]);
  assert.deepStrictEqual(FieldSet.fromFieldsV1(v1).intersection(changed).paths(), [['f:spec', 'f:renewTime']]);
  assert.ok(FieldSet.fromFieldsV1(v1).equals(decoded));
  assert.deepStrictEqual(FieldSet.fromFieldsV1(v1).union(changed).size, 7);
});
