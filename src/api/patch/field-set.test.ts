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
