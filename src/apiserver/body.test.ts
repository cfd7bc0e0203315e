import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HedgeError } from '../lib/errors.ts';
import { maxNestingDepth, parseDocument } from './body.ts';

const nested = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);

test('a JSON body nested past the limit is refused, one at the limit parsed (short texts are not walked)', () => {
  assert.deepStrictEqual(parseDocument('{"a":[{"b":1}]}', 'json'), { a: [{ b: 1 }] });
  assert.equal((parseDocument(nested(maxNestingDepth), 'json') as unknown[]).length, 1);
  assert.throws(
    () => parseDocument(nested(maxNestingDepth + 1), 'json'),
    (err: unknown) => err instanceof HedgeError && /nested more than 1000 levels/.test(err.message),
  );
  // the same depth with padding: longer, still refused
  assert.throws(() => parseDocument(`${nested(maxNestingDepth + 1)}${' '.repeat(5000)}`, 'json'), /nested more than/);
});

test('a YAML body is checked whatever its length (aliases expand it)', () => {
  assert.throws(() => parseDocument(nested(maxNestingDepth + 1), 'yaml'), /nested more than|YAML/);
});
