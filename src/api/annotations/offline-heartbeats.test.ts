import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatOfflineHeartbeats, OFFLINE_HEARTBEATS_ANNOTATION, parseOfflineHeartbeats } from './offline-heartbeats.ts';

test('a formatted heartbeat report parses back as the same evidence', () => {
  assert.equal(OFFLINE_HEARTBEATS_ANNOTATION, 'hedge.io/offline-heartbeats');
  const value = formatOfflineHeartbeats({ count: 42, first: '2026-01-01T00:00:10Z', last: '2026-01-01T00:07:00Z' });
  assert.equal(value, '{"count":42,"first":"2026-01-01T00:00:10Z","last":"2026-01-01T00:07:00Z"}');
  assert.deepEqual(parseOfflineHeartbeats(value), { count: 42, first: '2026-01-01T00:00:10Z', last: '2026-01-01T00:07:00Z' });
});

test('malformed annotations are no evidence', () => {
  for (const v of [undefined, '', 'yes', '42', 'null', '{"count":"3"}', '{"count":null}', '{"first":"x"}']) {
    assert.equal(parseOfflineHeartbeats(v), undefined, String(v));
  }
});
