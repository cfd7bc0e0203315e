import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GENERATE_NAME_ALPHABET, generateName, nameIsDNSLabel, nameIsDNSSubdomain, validatePathSegmentName } from './name.ts';

test('generateName prefixes may end in a dash', () => {
  assert.deepEqual(nameIsDNSSubdomain('web-', true), []);
  assert.equal(nameIsDNSSubdomain('web-', false).length, 1);
  assert.deepEqual(nameIsDNSLabel('web-', true), []);
});

test('path segment names', () => {
  assert.deepEqual(validatePathSegmentName('.', false), ["may not be '.'"]);
  assert.deepEqual(validatePathSegmentName('..', false), ["may not be '..'"]);
  assert.deepEqual(validatePathSegmentName('a/b%c', false), ["may not contain '/'", "may not contain '%'"]);
  assert.deepEqual(validatePathSegmentName('ok', false), []);
});

test('generateName appends 5 characters from the upstream alphabet', () => {
  let i = 0;
  const seq = [0, 0.5, 0.99, 0.1, 0.2];
  const name = generateName('web-', () => seq[i++ % seq.length]);
  assert.equal(name.length, 9);
  assert.ok(name.startsWith('web-'));
  for (const ch of name.slice(4)) assert.ok(GENERATE_NAME_ALPHABET.includes(ch));
  assert.equal(name, `web-${GENERATE_NAME_ALPHABET[0]}${GENERATE_NAME_ALPHABET[13]}${GENERATE_NAME_ALPHABET[26]}${GENERATE_NAME_ALPHABET[2]}${GENERATE_NAME_ALPHABET[5]}`);
  assert.equal(generateName('x'.repeat(100)).length, 63);
  assert.notEqual(generateName('a-'), generateName('a-').concat('?'));
});
