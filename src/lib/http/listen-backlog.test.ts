import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { backlogFrom, listenBacklog } from './listen-backlog.ts';

test('the backlog is somaxconn, capped at 65535; Node\'s 511 when it cannot be read', () => {
  assert.equal(backlogFrom('4096\n'), 4096);
  assert.equal(backlogFrom('1000000'), 65535);
  for (const bad of [undefined, '', 'x', '0', '-1', '1.5']) assert.equal(backlogFrom(bad), 511, String(bad));
  const here = (() => {
    try {
      return readFileSync('/proc/sys/net/core/somaxconn', 'utf8');
    } catch {
      return undefined;
    }
  })();
  assert.equal(listenBacklog(), backlogFrom(here));
});
