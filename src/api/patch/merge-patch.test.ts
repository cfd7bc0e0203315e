import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isHedgeError } from '../../lib/errors.ts';
import type { Json } from '../object.ts';
import { applyMergePatch, createMergePatch } from './merge-patch.ts';

// RFC 7386 appendix A examples (object-patch ones; non-object patches are rejected, see below).
const rfcCases: [Json, Json, Json][] = [
  [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
  [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
  [{ a: 'b' }, { a: null }, {}],
  [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
  [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
  [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
  [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
  [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
  [{ e: null }, { a: 1 }, { e: null, a: 1 }],
  [[1, 2], { a: 'b', c: null }, { a: 'b' }],
  [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
];

test('RFC 7386 examples', () => {
  for (const [doc, patch, want] of rfcCases) {
    const before = structuredClone(doc);
    assert.deepStrictEqual(applyMergePatch(doc, patch), want, JSON.stringify([doc, patch]));
    assert.deepStrictEqual(doc, before);
  }
});

test('non-object patches are 400 like kube-apiserver', () => {
  for (const p of [null, 'x', 1, [1]] as Json[]) {
    assert.throws(() => applyMergePatch({ a: 1 }, p), (e: unknown) => isHedgeError(e, 'BadRequest'));
  }
});

test('createMergePatch round-trips', () => {
  const pairs: [Json, Json][] = [
    [{ a: 1, b: { c: 2, d: 3 }, l: [1] }, { a: 1, b: { c: 5 }, l: [1, 2], n: { x: true } }],
    [{ a: { b: 1 } }, { a: { b: 1 } }],
    [{ a: 1 }, {}],
  ];
  for (const [o, m] of pairs) assert.deepStrictEqual(applyMergePatch(o, createMergePatch(o, m)), m);
  assert.deepStrictEqual(createMergePatch({ a: { b: 1 } }, { a: { b: 1 } }), {});
  assert.deepStrictEqual(createMergePatch({ a: 1, b: { c: 2, d: 3 } }, { b: { c: 2 } }), { a: null, b: { d: null } });
});
