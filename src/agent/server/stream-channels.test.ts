import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseTerminalSize } from './stream-channels.ts';

test('parseTerminalSize: client-go\'s {"Width","Height"}; anything else is undefined, never a throw', () => {
  assert.deepEqual(parseTerminalSize(Buffer.from('{"Width":80,"Height":24}')), { width: 80, height: 24 });
  for (const bad of ['', 'not json', 'null', '42', '{"Width":80}', '{"Width":"80","Height":24}', '{"Width":-1,"Height":24}', '{"Width":1.5,"Height":24}', '{"Width":80,"Height":70000}']) {
    assert.equal(parseTerminalSize(Buffer.from(bad)), undefined, bad);
  }
});
