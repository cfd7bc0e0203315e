import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keptBufferOf, keptConcat } from './kept-buffer.ts';

test('kept buffers hold exactly their bytes, not a slice of the shared pool', () => {
  const pooled = Buffer.from('{"a":"é"}');
  assert.ok(pooled.buffer.byteLength > pooled.length, 'a small Buffer.from is a pool slice (the case these avoid)');
  const b = keptBufferOf('{"a":"é"}');
  assert.equal(b.toString('utf8'), '{"a":"é"}');
  assert.equal(b.buffer.byteLength, b.length);
  assert.equal(b.length, 10);
  const c = keptConcat([Buffer.from('{"type":"ADDED","object":'), b, Buffer.from('}\n')]);
  assert.equal(c.toString('utf8'), '{"type":"ADDED","object":{"a":"é"}}\n');
  assert.equal(c.buffer.byteLength, c.length);
  assert.equal(keptConcat([]).length, 0);
});
