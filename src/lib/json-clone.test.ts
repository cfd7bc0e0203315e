import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jsonClone } from './json-clone.ts';

const roundTrip = (v: unknown): unknown => JSON.parse(JSON.stringify(v)) as unknown;

/** a small deterministic generator of JSON-ish values, with the members JSON drops */
function* values(seed: number, n: number): Generator<unknown> {
  let s = seed;
  const rnd = (): number => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const gen = (depth: number): unknown => {
    const r = rnd();
    if (depth > 3 || r < 0.3) return [0, -1.5, 'x', '', true, false, null, undefined, Number.NaN, Infinity, -0][Math.floor(rnd() * 11)];
    if (r < 0.6) return Array.from({ length: Math.floor(rnd() * 4) }, () => gen(depth + 1));
    const o: Record<string, unknown> = {};
    for (let i = 0; i < Math.floor(rnd() * 5); i++) o[['a', 'b', '1', 'metadata', 'spec', '0'][Math.floor(rnd() * 6)]] = gen(depth + 1);
    return o;
  };
  for (let i = 0; i < n; i++) yield gen(0);
}

describe('jsonClone', () => {
  it('gives what a JSON round trip gives, for generated values', () => {
    for (const v of values(7, 2_000)) {
      if (v === undefined) continue;
      assert.deepEqual(jsonClone(v), roundTrip(v));
    }
  });

  it('copies: nothing of the result is shared with the input', () => {
    const input = { metadata: { labels: { a: '1' }, managedFields: [{ fieldsV1: { 'f:spec': {} } }] }, spec: { list: [1, [2]] } };
    const out = jsonClone(input);
    out.metadata.labels.a = '2';
    out.metadata.managedFields[0].fieldsV1['f:spec'] = { changed: true } as never;
    (out.spec.list[1] as number[]).push(3);
    assert.deepEqual(input, { metadata: { labels: { a: '1' }, managedFields: [{ fieldsV1: { 'f:spec': {} } }] }, spec: { list: [1, [2]] } });
  });

  it('drops undefined, functions and symbols from objects and nulls them in arrays', () => {
    const v = { a: undefined, f: () => 1, s: Symbol('x'), list: [undefined, () => 1, Symbol('y'), 1], n: Number.NaN };
    assert.deepEqual(jsonClone(v), { list: [null, null, null, 1], n: null });
    assert.deepEqual(jsonClone(v), roundTrip(v));
  });

  it('keeps a "__proto__" member as a member, never as the prototype', () => {
    const v = JSON.parse('{"__proto__":{"polluted":true},"a":1}') as Record<string, unknown>;
    const out = jsonClone(v);
    assert.equal(Object.getPrototypeOf(out), Object.prototype);
    assert.equal((out as { polluted?: boolean }).polluted, undefined);
    assert.deepEqual(Object.keys(out), ['__proto__', 'a']);
    assert.equal(JSON.stringify(out), JSON.stringify(v));
  });

  it('copies what is not plain data as JSON encodes it (Date, toJSON, class instances, Map)', () => {
    class Point {
      constructor(
        public x: number,
        public y: number,
      ) {}
    }
    const v = { at: new Date(0), custom: { toJSON: () => 'custom' }, p: new Point(1, 2), m: new Map([[1, 2]]), buf: Buffer.from('hi') };
    assert.deepEqual(jsonClone(v), roundTrip(v));
    assert.throws(() => jsonClone({ big: 1n }), TypeError);
  });
});
