import { test } from 'node:test';
import assert from 'node:assert/strict';
// The agent writes what this controller reads; the two sides share no code, so check they agree.
import { formatOfflineHeartbeats, OFFLINE_HEARTBEATS_ANNOTATION as AGENT_ANNOTATION } from '../../agent/lease/heartbeat-journal.ts';
import { OFFLINE_HEARTBEATS_ANNOTATION, parseOfflineHeartbeats } from './offline-heartbeats.ts';

test('the agent\'s heartbeat report parses as the evidence the controller expects', () => {
  assert.equal(AGENT_ANNOTATION, OFFLINE_HEARTBEATS_ANNOTATION);
  const value = formatOfflineHeartbeats({ count: 42, firstMs: Date.parse('2026-01-01T00:00:10Z'), lastMs: Date.parse('2026-01-01T00:07:00Z') });
  assert.deepEqual(parseOfflineHeartbeats(value), { count: 42, first: '2026-01-01T00:00:10Z', last: '2026-01-01T00:07:00Z' });
});

test('malformed annotations are no evidence', () => {
  for (const v of [undefined, '', 'yes', '42', 'null', '{"count":"3"}', '{"count":null}', '{"first":"x"}']) {
    assert.equal(parseOfflineHeartbeats(v), undefined, String(v));
  }
});
