import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isHedgeError } from '../../lib/errors.ts';
import type { Json } from '../object.ts';
import { applyJsonPatch } from './json-patch.ts';

const doc: Json = { metadata: { name: 'a', labels: { x: '1' } }, spec: { list: [1, 2] } };

test('applies RFC 6902 operations on a copy', () => {
  const before = structuredClone(doc);
  const out = applyJsonPatch(doc, [
    { op: 'test', path: '/metadata/name', value: 'a' },
    { op: 'add', path: '/metadata/labels/y', value: '2' },
    { op: 'remove', path: '/metadata/labels/x' },
    { op: 'add', path: '/spec/list/-', value: 3 },
    { op: 'replace', path: '/spec/list/0', value: 0 },
    { op: 'copy', from: '/metadata/name', path: '/spec/name' },
    { op: 'move', from: '/spec/name', path: '/spec/moved' },
  ]);
  assert.deepStrictEqual(out, { metadata: { name: 'a', labels: { y: '2' } }, spec: { list: [0, 2, 3], moved: 'a' } });
  assert.deepStrictEqual(doc, before);
});

test('undecodable patches are 400, failing ones 422 like kube-apiserver', () => {
  for (const bad of [{ op: 'add' }, 'x', null]) {
    assert.throws(() => applyJsonPatch(doc, bad), (e: unknown) => isHedgeError(e, 'BadRequest'), JSON.stringify(bad));
  }
  assert.throws(() => applyJsonPatch(doc, [1]), (e: unknown) => isHedgeError(e, 'BadRequest'));
  const rejected = [
    [{ op: 'test', path: '/metadata/name', value: 'b' }],
    [{ op: 'remove', path: '/nope' }],
    [{ op: 'replace', path: '/spec/missing', value: 1 }],
    [{ op: 'frob', path: '/spec' }],
    [{ op: 'add', value: 1 }],
    [{ op: 'add', path: '/spec/x' }],
    [{ op: 'move', path: '/spec/x' }],
    [{ op: 'add', path: '/a/b/c', value: 1 }],
  ];
  for (const p of rejected) {
    assert.throws(
      () => applyJsonPatch(doc, p),
      (e: unknown) =>
        isHedgeError(e, 'Invalid') &&
        e.message === 'the server rejected our request due to an error in our request' &&
        e.details.causes?.[0]?.reason === 'UnexpectedServerResponse',
      JSON.stringify(p),
    );
  }
});

test('too many operations is 413', () => {
  const ops = Array.from({ length: 10001 }, () => ({ op: 'test', path: '/metadata/name', value: 'a' }));
  assert.throws(() => applyJsonPatch(doc, ops), (e: unknown) => isHedgeError(e, 'RequestEntityTooLarge'));
});

test('prototype pollution is refused', () => {
  assert.throws(() => applyJsonPatch({}, [{ op: 'add', path: '/__proto__/polluted', value: 1 }]));
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});
