import { test } from 'node:test';
import assert from 'node:assert/strict';
import { humanDuration, since } from './duration.ts';

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

test('humanDuration matches apimachinery', () => {
  const cases: [number, string][] = [
    [-3 * S, '<invalid>'],
    [-1 * S, '0s'],
    [0, '0s'],
    [5 * S, '5s'],
    [119 * S, '119s'],
    [2 * M, '2m'],
    [3 * M + 2 * S, '3m2s'],
    [9 * M + 59 * S, '9m59s'],
    [10 * M + 30 * S, '10m'],
    [179 * M, '179m'],
    [3 * H, '3h'],
    [4 * H + 5 * M, '4h5m'],
    [8 * H, '8h'],
    [47 * H, '47h'],
    [2 * D + 3 * H, '2d3h'],
    [3 * D, '3d'],
    [8 * D, '8d'],
    [729 * D, '729d'],
    [2 * 365 * D + 10 * D, '2y10d'],
    [3 * 365 * D, '3y'],
    [9 * 365 * D, '9y'],
  ];
  for (const [ms, want] of cases) assert.equal(humanDuration(ms), want, `${ms}ms`);
});

test('since handles absent and bad timestamps', () => {
  const now = new Date('2024-01-01T00:01:00Z');
  assert.equal(since('2024-01-01T00:00:00Z', now), '60s');
  assert.equal(since(undefined, now), '<unknown>');
  assert.equal(since('garbage', now), '<unknown>');
});
