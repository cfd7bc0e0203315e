import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeEntries, encodeFrame, exitCodeOf, FrameDecoder } from './frames.ts';

test('frames survive arbitrary chunking', () => {
  const a = encodeFrame(0x84, 7, Buffer.from('hello'));
  const b = encodeFrame(0x86, 0xfffffffe, Buffer.from([0, 0, 1, 0]));
  const all = Buffer.concat([a, b]);
  const d = new FrameDecoder();
  const got = [];
  for (let i = 0; i < all.length; i += 3) got.push(...d.push(all.subarray(i, i + 3)));
  assert.equal(got.length, 2);
  assert.deepEqual(got[0], { type: 0x84, id: 7, payload: Buffer.from('hello') });
  assert.equal(got[1].id, 0xfffffffe);
  assert.deepEqual(exitCodeOf(got[1].payload.readUInt32BE(0)), { exitCode: 1 });
});

test('bad frame length is rejected, entries are NUL-terminated', () => {
  const d = new FrameDecoder();
  assert.throws(() => d.push(Buffer.from([0, 0, 0, 1, 0, 0, 0, 0, 0])));
  assert.deepEqual(encodeEntries([['A', 'sh'], ['E', 'X=1']]), Buffer.from('Ash\0EX=1\0'));
  assert.throws(() => encodeEntries([['A', 'a\0b']]));
});

test('wait status decoding', () => {
  assert.deepEqual(exitCodeOf(0), { exitCode: 0 });
  assert.deepEqual(exitCodeOf(42 << 8), { exitCode: 42 });
  assert.deepEqual(exitCodeOf(9), { exitCode: 137, signal: 9 });
  assert.deepEqual(exitCodeOf(15), { exitCode: 143, signal: 15 });
});
