/**
 * Standard cron schedules as CronJob accepts them (robfig/cron's standard parser): five fields
 * (minute hour day-of-month month day-of-week), lists, ranges, steps, names, `?`, and the
 * @yearly/@monthly/@weekly/@daily/@hourly descriptors. Times are evaluated in UTC.
 */
export interface CronSchedule {
  minutes: Set<number>;
  hours: Set<number>;
  days: Set<number>;
  months: Set<number>;
  weekdays: Set<number>;
  /** robfig: when either day field is `*`, the other alone decides; else either matches */
  dayStar: boolean;
  weekdayStar: boolean;
}

const DESCRIPTORS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

interface Bounds {
  min: number;
  max: number;
  names?: string[];
  nameBase?: number;
}

function parseValue(s: string, b: Bounds): number {
  const lower = s.toLowerCase();
  const named = b.names?.indexOf(lower) ?? -1;
  if (named >= 0) return named + (b.nameBase ?? 0);
  if (!/^\d+$/.test(s)) throw new Error(`failed to parse int from ${s}`);
  return Number.parseInt(s, 10);
}

function parseField(field: string, b: Bounds): { set: Set<number>; star: boolean } {
  const set = new Set<number>();
  let star = false;
  for (const part of field.split(',')) {
    const [rangePart, stepPart, extra] = part.split('/');
    if (extra !== undefined) throw new Error(`too many slashes: ${part}`);
    let lo: number;
    let hi: number;
    if (rangePart === '*' || rangePart === '?') {
      lo = b.min;
      hi = b.max;
      if (stepPart === undefined) star = true;
    } else {
      const [a, z, more] = rangePart.split('-');
      if (more !== undefined) throw new Error(`too many hyphens: ${rangePart}`);
      lo = parseValue(a, b);
      hi = z === undefined ? (stepPart === undefined ? lo : b.max) : parseValue(z, b);
    }
    const step = stepPart === undefined ? 1 : parseValue(stepPart, { min: 1, max: Number.MAX_SAFE_INTEGER });
    if (lo < b.min) throw new Error(`beginning of range (${lo}) below minimum (${b.min}): ${part}`);
    if (hi > b.max) throw new Error(`end of range (${hi}) above maximum (${b.max}): ${part}`);
    if (lo > hi) throw new Error(`beginning of range (${lo}) beyond end of range (${hi}): ${part}`);
    if (step === 0) throw new Error(`step of range should be a positive number: ${part}`);
    for (let v = lo; v <= hi; v += step) set.add(v);
  }
  return { set, star };
}

/** The schedule, or the reason it is invalid (as the CronJob validation message). */
export function parseCronSchedule(spec: string): CronSchedule | string {
  try {
    let s = spec.trim();
    if (s.startsWith('TZ=') || s.startsWith('CRON_TZ=')) return 'cannot use TZ or CRON_TZ in schedule, use timeZone field instead';
    if (s.startsWith('@')) {
      const d = DESCRIPTORS[s];
      if (!d) return `unrecognized descriptor: ${s}`;
      s = d;
    }
    const fields = s.split(/\s+/);
    if (fields.length !== 5) return `expected exactly 5 fields, found ${fields.length}: ${s}`;
    const minutes = parseField(fields[0], { min: 0, max: 59 });
    const hours = parseField(fields[1], { min: 0, max: 23 });
    const days = parseField(fields[2], { min: 1, max: 31 });
    const months = parseField(fields[3], { min: 1, max: 12, names: MONTHS, nameBase: 1 });
    const weekdays = parseField(fields[4], { min: 0, max: 7, names: DAYS });
    if (weekdays.set.has(7)) weekdays.set.add(0);
    return {
      minutes: minutes.set,
      hours: hours.set,
      days: days.set,
      months: months.set,
      weekdays: weekdays.set,
      dayStar: days.star,
      weekdayStar: weekdays.star,
    };
  } catch (err) {
    return (err as Error).message;
  }
}

function dayMatches(s: CronSchedule, d: Date): boolean {
  const dom = s.days.has(d.getUTCDate());
  const dow = s.weekdays.has(d.getUTCDay());
  if (s.dayStar || s.weekdayStar) return dom && dow;
  return dom || dow;
}

/** The first scheduled time strictly after `after` (minute precision), or undefined within 5 years. */
export function nextCronTime(s: CronSchedule, after: Date): Date | undefined {
  const t = new Date(after.getTime());
  t.setUTCSeconds(0, 0);
  t.setUTCMinutes(t.getUTCMinutes() + 1);
  const limit = after.getTime() + 5 * 366 * 24 * 3600 * 1000;
  while (t.getTime() <= limit) {
    if (!s.months.has(t.getUTCMonth() + 1)) {
      t.setUTCMonth(t.getUTCMonth() + 1, 1);
      t.setUTCHours(0, 0, 0, 0);
      continue;
    }
    if (!dayMatches(s, t)) {
      t.setUTCDate(t.getUTCDate() + 1);
      t.setUTCHours(0, 0, 0, 0);
      continue;
    }
    if (!s.hours.has(t.getUTCHours())) {
      t.setUTCHours(t.getUTCHours() + 1, 0, 0, 0);
      continue;
    }
    if (!s.minutes.has(t.getUTCMinutes())) {
      t.setUTCMinutes(t.getUTCMinutes() + 1, 0, 0);
      continue;
    }
    return t;
  }
  return undefined;
}
