import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OutputCursor } from './output-cursor.ts';

const b = (s: string): Buffer => Buffer.from(s);

test('takes bytes in order, trims resent overlap, drops what it has and what lies past a hole', () => {
  const c = new OutputCursor();
  assert.deepEqual(c.accept(0, b('abc')), b('abc'));
  assert.deepEqual(c.accept(3, b('de')), b('de'));
  assert.equal(c.received, 5);
  // a resend after a reconnect that starts before what the host has
  assert.deepEqual(c.accept(2, b('cdefg')), b('fg'));
  assert.equal(c.duplicateBytes, 3);
  // entirely old
  assert.equal(c.accept(0, b('abcdefg')), undefined);
  assert.equal(c.duplicateBytes, 10);
  // past a hole (sent on the old connection after bytes that were lost): not taken, it comes again
  assert.equal(c.accept(9, b('jk')), undefined);
  assert.equal(c.aheadFrames, 1);
  assert.equal(c.received, 7);
  assert.deepEqual(c.accept(7, b('hijk')), b('hijk'));
  assert.equal(c.received, 11);
  // an empty frame at the edge brings nothing
  assert.equal(c.accept(11, Buffer.alloc(0)), undefined);
});

test('resumes from a persisted offset', () => {
  const c = new OutputCursor(1000);
  assert.equal(c.accept(0, Buffer.alloc(1000)), undefined);
  assert.deepEqual(c.accept(990, Buffer.alloc(20, 1)), Buffer.alloc(10, 1));
  assert.equal(c.received, 1010);
});
