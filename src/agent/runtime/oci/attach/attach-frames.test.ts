import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AttachFrameDecoder, type AttachFrame, MAX_PACKET, resizeMessage } from './attach-frames.ts';

/** a frame as conmon-attach.c writes it: u32be length | packet */
const frame = (packet: Buffer): Buffer => {
  const h = Buffer.alloc(4);
  h.writeUInt32BE(packet.length);
  return Buffer.concat([h, packet]);
};
const pkt = (stream: number, text: string): Buffer => Buffer.concat([Buffer.from([stream]), Buffer.from(text)]);
const show = (fs: AttachFrame[]): string[] => fs.map((f) => (f.kind === 'connected' ? 'connected' : `${f.stream}:${f.data.toString()}`));

describe('AttachFrameDecoder', () => {
  const wire = Buffer.concat([frame(Buffer.alloc(0)), frame(pkt(2, 'hello\n')), frame(pkt(3, 'oops\n')), frame(pkt(2, '')), frame(pkt(2, 'x'.repeat(8192)))]);
  const want = ['connected', 'stdout:hello\n', 'stderr:oops\n', 'stdout:', `stdout:${'x'.repeat(8192)}`];

  test('whole: each frame in order, the empty first one is "connected"', () => {
    const d = new AttachFrameDecoder();
    assert.deepEqual(show(d.push(wire)), want);
    assert.equal(d.pendingBytes, 0);
  });

  test('split anywhere (byte by byte, and at every cut in two): the same frames', () => {
    const d = new AttachFrameDecoder();
    const got: AttachFrame[] = [];
    for (const b of wire) got.push(...d.push(Buffer.from([b])));
    assert.deepEqual(show(got), want);
    for (let cut = 1; cut < 40; cut++) {
      const e = new AttachFrameDecoder();
      assert.deepEqual(show([...e.push(wire.subarray(0, cut)), ...e.push(wire.subarray(cut))]), want, `cut at ${cut}`);
    }
  });

  test('an unfinished frame waits for its bytes', () => {
    const d = new AttachFrameDecoder();
    const f = frame(pkt(2, 'abc'));
    assert.deepEqual(d.push(f.subarray(0, 6)), []);
    assert.equal(d.pendingBytes, 6);
    assert.deepEqual(show(d.push(f.subarray(6))), ['stdout:abc']);
  });

  test('an unknown stream byte or an oversized frame is an error naming it', () => {
    assert.throws(() => new AttachFrameDecoder().push(frame(pkt(7, 'x'))), /unknown stream 7/);
    const h = Buffer.alloc(4);
    h.writeUInt32BE(MAX_PACKET + 1);
    assert.throws(() => new AttachFrameDecoder().push(h), /frame of 65537 bytes/);
  });
});

test('resizeMessage: conmon\'s "1 <height> <width>" line; out-of-range sizes are refused', () => {
  assert.equal(resizeMessage({ width: 100, height: 30 }), '1 30 100\n');
  assert.equal(resizeMessage({ width: 0, height: 1000 }), '1 1000 0\n');
  for (const bad of [{ width: -1, height: 3 }, { width: 1001, height: 3 }, { width: 2.5, height: 3 }, { width: Number.NaN, height: 3 }]) {
    assert.throws(() => resizeMessage(bad), /from 0 to 1000/);
  }
});
