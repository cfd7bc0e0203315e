import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isHedgeError } from '../../lib/errors.ts';
import { ERR_FORMAT_WRONG, ERR_NUMERIC, ERR_SUFFIX, Quantity, parseQuantity, tryParseQuantity } from './quantity.ts';

const canon = (s: string): string => parseQuantity(s).toString();

test('canonical formatting matches upstream', () => {
  const cases: [string, string][] = [
    ['0', '0'],
    ['100m', '100m'],
    ['0.1', '100m'],
    ['1.5', '1500m'],
    ['1500m', '1500m'],
    ['1000m', '1'],
    ['2000', '2k'],
    ['1500', '1500'],
    ['1Gi', '1Gi'],
    ['1024Mi', '1Gi'],
    ['1536Mi', '1536Mi'],
    ['1000Mi', '1000Mi'],
    ['512', '512'],
    ['128974848', '128974848'],
    ['129e6', '129e6'],
    ['129M', '129M'],
    ['1e3', '1e3'],
    ['12E', '12E'],
    ['-1.5', '-1500m'],
    ['0.5Gi', '512Mi'],
    ['1n', '1n'],
    ['+5', '5'],
    ['-0', '0'],
  ];
  for (const [input, want] of cases) assert.equal(canon(input), want, input);
});

test('sub-nano precision rounds up', () => {
  assert.equal(parseQuantity('0.0000000001').nanos, 1n);
  assert.equal(canon('1.0000000001'), '1000000001n');
});

test('values and comparisons', () => {
  assert.equal(parseQuantity('250m').milliValue(), 250);
  assert.equal(parseQuantity('2').milliValue(), 2000);
  assert.equal(parseQuantity('1Ki').value(), 1024);
  assert.equal(parseQuantity('1.5').value(), 2, 'Value() rounds up');
  assert.equal(parseQuantity('1Gi').cmp(parseQuantity('1G')), 1);
  assert.equal(parseQuantity('1000m').cmp(parseQuantity('1')), 0);
  assert.equal(parseQuantity('100m').cmp(parseQuantity('0.2')), -1);
  assert.equal(parseQuantity('1').add(parseQuantity('500m')).toString(), '1500m');
  assert.equal(parseQuantity('1Gi').sub(parseQuantity('512Mi')).toString(), '512Mi');
  assert.equal(Quantity.fromMilli(1500).toString(), '1500m');
  assert.equal(Quantity.fromInt(4096, 'BinarySI').toString(), '4Ki');
  assert.equal(JSON.stringify({ q: parseQuantity('2k') }), '{"q":"2k"}');
  assert.equal(parseQuantity('-1').sign(), -1);
});

test('bad quantities give upstream errors', () => {
  assert.equal(tryParseQuantity(''), ERR_FORMAT_WRONG);
  assert.equal(tryParseQuantity('abc'), ERR_FORMAT_WRONG);
  assert.equal(tryParseQuantity('1 Gi'), ERR_FORMAT_WRONG);
  assert.equal(tryParseQuantity('1.2.3'), ERR_FORMAT_WRONG);
  assert.equal(tryParseQuantity('.'), ERR_NUMERIC);
  assert.equal(tryParseQuantity('1Ki3'), ERR_SUFFIX);
  assert.equal(tryParseQuantity('1mm'), ERR_SUFFIX);
  assert.equal(tryParseQuantity('1e999999'), ERR_NUMERIC);
  assert.throws(() => parseQuantity('x'), (e) => isHedgeError(e, 'BadRequest') && e.message === ERR_FORMAT_WRONG);
});
