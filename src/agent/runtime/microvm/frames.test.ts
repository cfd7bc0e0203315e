import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeOutput, encodeAck, encodeEntries, encodeFrame, encodeOutput, encodeResume, exitCodeOf, FrameDecoder } from './frames.ts';

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

test('output frames carry stream and offset; acks and the hello resume list are fixed layouts', () => {
  const p = encodeOutput('stderr', 2 ** 40 + 5, Buffer.from('abc'));
  assert.deepEqual([...p.subarray(0, 9)], [2, 0, 0, 1, 0, 0, 0, 0, 5]);
  assert.deepEqual(decodeOutput(p), { stream: 'stderr', offset: 2 ** 40 + 5, data: Buffer.from('abc') });
  assert.deepEqual(decodeOutput(encodeOutput('stdout', 0, Buffer.alloc(0))), { stream: 'stdout', offset: 0, data: Buffer.alloc(0) });
  assert.throws(() => decodeOutput(Buffer.from([3, 0, 0, 0, 0, 0, 0, 0, 0])), /bad output frame/);
  assert.throws(() => decodeOutput(Buffer.from([1, 0, 0])), /bad output frame/);
  assert.deepEqual([...encodeAck('stdout', 300)], [1, 0, 0, 0, 0, 0, 0, 1, 44]);
  const r = encodeResume([{ id: 0xdeadbeef, stream: 'stdout', offset: 7 }, { id: 1, stream: 'stderr', offset: 0 }]);
  assert.equal(r.length, 26);
  assert.deepEqual([...r.subarray(0, 13)], [0xde, 0xad, 0xbe, 0xef, 1, 0, 0, 0, 0, 0, 0, 0, 7]);
  assert.deepEqual([...r.subarray(13)], [0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(encodeResume([]).length, 0);
});
