import { test } from 'node:test';
import assert from 'node:assert/strict';
import { duplicate, forbidden, formatBadValue, invalid, notSupported, required, tooMany } from './field-errors.ts';

test('messages follow field.Error.ErrorBody', () => {
  assert.equal(required('spec.containers[0].image').message, 'Required value');
  assert.equal(invalid('a', 'x', 'bad').message, 'Invalid value: "x": bad');
  assert.equal(invalid('a', 5, 'bad').message, 'Invalid value: 5: bad');
  assert.equal(notSupported('a', 'X', ['Always', 'Never']).message, 'Unsupported value: "X": supported values: "Always", "Never"');
  assert.equal(duplicate('a', 'n').message, 'Duplicate value: "n"');
  assert.equal(forbidden('a', 'no').message, 'Forbidden: no');
  assert.equal(tooMany('a', 5, 3).message, 'Too many: 5: must have at most 3 items');
  assert.equal(formatBadValue(['a', 'b']), '[]string{"a", "b"}');
  assert.equal(formatBadValue(undefined), 'null');
  assert.equal(required('x').reason, 'FieldValueRequired');
});
