import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KubeObject } from '../object.ts';
import { pickDefaultClass } from './claims.ts';

const sc = (name: string, created: string, isDefault: boolean): KubeObject => ({
  metadata: { name, creationTimestamp: created, annotations: isDefault ? { 'storageclass.kubernetes.io/is-default-class': 'true' } : {} },
});

test('pickDefaultClass: the newest default wins, then the smallest name; non-defaults never', () => {
  assert.equal(pickDefaultClass([sc('old', '2026-01-01T00:00:00Z', true), sc('new', '2026-02-01T00:00:00Z', true), sc('newest', '2026-03-01T00:00:00Z', false)])?.metadata.name, 'new');
  assert.equal(pickDefaultClass([sc('b', '2026-01-01T00:00:00Z', true), sc('a', '2026-01-01T00:00:00Z', true)])?.metadata.name, 'a');
  assert.equal(pickDefaultClass([sc('x', '2026-01-01T00:00:00Z', false)]), undefined);
});
