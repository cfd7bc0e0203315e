import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateLabelSelector, validateLabels } from './validate.ts';

test('valid labels produce no causes', () => {
  assert.deepEqual(validateLabels({ app: 'web', 'example.com/tier': 'front-1', empty: '' }, 'metadata.labels'), []);
  assert.deepEqual(validateLabels(undefined, 'metadata.labels'), []);
});

test('invalid label keys and values', () => {
  const causes = validateLabels({ 'bad key': 'ok', good: 'bad value', long: 'x'.repeat(64) }, 'metadata.labels');
  assert.equal(causes.length, 3);
  assert.deepEqual(
    causes.map((c) => [c.field, c.reason]),
    [
      ['metadata.labels', 'FieldValueInvalid'],
      ['metadata.labels', 'FieldValueInvalid'],
      ['metadata.labels', 'FieldValueInvalid'],
    ],
  );
  assert.match(causes[0].message, /^Invalid value: "bad key": name part must consist of alphanumeric characters/);
  assert.match(causes[1].message, /^Invalid value: "bad value": a valid label must be an empty string/);
  assert.match(causes[2].message, /must be no more than 63 characters/);
});

test('label selector validation', () => {
  assert.deepEqual(validateLabelSelector({ matchLabels: { a: 'b' } }, 'spec.selector'), []);
  const causes = validateLabelSelector(
    {
      matchExpressions: [
        { key: 'a', operator: 'In' },
        { key: 'b', operator: 'Exists', values: ['x'] },
        { key: 'c', operator: 'Foo' },
      ],
    },
    'spec.selector',
  );
  assert.deepEqual(
    causes.map((c) => c.field),
    ['spec.selector.matchExpressions[0].values', 'spec.selector.matchExpressions[1].values', 'spec.selector.matchExpressions[2].operator'],
  );
});
