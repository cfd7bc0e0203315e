import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nextCronTime, parseCronSchedule, type CronSchedule } from './schedule.ts';

const parse = (s: string): CronSchedule => {
  const p = parseCronSchedule(s);
  assert.ok(typeof p !== 'string', `${s}: ${String(p)}`);
  return p;
};
const next = (s: string, after: string): string | undefined => nextCronTime(parse(s), new Date(after))?.toISOString();

test('next times of common schedules', () => {
  assert.equal(next('* * * * *', '2026-01-01T00:00:30Z'), '2026-01-01T00:01:00.000Z');
  assert.equal(next('*/15 * * * *', '2026-01-01T00:16:00Z'), '2026-01-01T00:30:00.000Z');
  assert.equal(next('@hourly', '2026-01-01T00:16:00Z'), '2026-01-01T01:00:00.000Z');
  assert.equal(next('0 9 * * mon-fri', '2026-01-03T10:00:00Z'), '2026-01-05T09:00:00.000Z');
  assert.equal(next('0 0 1 jan *', '2026-06-01T00:00:00Z'), '2027-01-01T00:00:00.000Z');
  assert.equal(next('0 0 29 2 *', '2026-03-01T00:00:00Z'), '2028-02-29T00:00:00.000Z');
  // both day fields restricted: either matches (Vixie cron)
  assert.equal(next('0 0 13 * 5', '2026-01-01T00:00:00Z'), '2026-01-02T00:00:00.000Z');
});

test('invalid schedules say why', () => {
  assert.match(String(parseCronSchedule('* * * *')), /expected exactly 5 fields/);
  assert.match(String(parseCronSchedule('5-1 * * * *')), /beyond end of range/);
  assert.match(String(parseCronSchedule('*/0 * * * *')), /positive number/);
  assert.match(String(parseCronSchedule('TZ=UTC * * * * *')), /timeZone field/);
});
