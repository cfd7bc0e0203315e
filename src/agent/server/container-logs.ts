import type { ServerResponse } from 'node:http';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { HedgeError } from '../../lib/errors.ts';
import { formatCriLine, readCriLog } from '../logs/index.ts';

export interface LogQuery {
  follow: boolean;
  tailLines?: number;
  sinceSeconds?: number;
  sinceTime?: Date;
  timestamps: boolean;
  previous: boolean;
  limitBytes?: number;
}

export function parseLogQuery(q: URLSearchParams, now: number): LogQuery {
  const bool = (k: string): boolean => q.get(k) === 'true' || q.get(k) === '1';
  const int = (k: string): number | undefined => {
    const v = q.get(k);
    if (v === null || v === '') return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new HedgeError('BadRequest', `invalid ${k}: ${JSON.stringify(v)}`);
    return n;
  };
  const sinceSeconds = int('sinceSeconds');
  const st = q.get('sinceTime');
  let sinceTime = st ? new Date(st) : undefined;
  if (sinceTime && Number.isNaN(sinceTime.getTime())) throw new HedgeError('BadRequest', `invalid sinceTime: ${JSON.stringify(st)}`);
  if (sinceSeconds !== undefined) sinceTime = new Date(now - sinceSeconds * 1000);
  return { follow: bool('follow'), tailLines: int('tailLines'), sinceTime, timestamps: bool('timestamps'), previous: bool('previous'), limitBytes: int('limitBytes') };
}

/** Streams a container's CRI log as kubectl expects (plain text, optional timestamps, limitBytes). */
export async function streamContainerLog(
  res: ServerResponse,
  loc: { logDir: string; restartCount: number },
  q: LogQuery,
  signal: AbortSignal,
): Promise<void> {
  const current = join(loc.logDir, `${loc.restartCount}.log`);
  const prevPath = loc.restartCount > 0 ? join(loc.logDir, `${loc.restartCount - 1}.log`) : undefined;
  const previous = prevPath && (await access(prevPath).then(() => true, () => false)) ? prevPath : undefined;
  const lines = readCriLog(
    { current, previous },
    { follow: q.follow && !q.previous, tailLines: q.tailLines, sinceTime: q.sinceTime, previous: q.previous, signal },
  );
  let sent = 0;
  let started = false;
  try {
    for await (const l of lines) {
      if (!started) {
        res.writeHead(200, { 'Content-Type': 'text/plain', 'Transfer-Encoding': 'chunked' });
        started = true;
      }
      let chunk = Buffer.from(formatCriLine(l, q.timestamps));
      if (q.limitBytes !== undefined && sent + chunk.length > q.limitBytes) chunk = chunk.subarray(0, q.limitBytes - sent);
      sent += chunk.length;
      if (!res.write(chunk)) await new Promise((r) => res.once('drain', r));
      if (q.limitBytes !== undefined && sent >= q.limitBytes) break;
    }
  } catch (err) {
    if (!started) throw err;
  }
  if (!started) res.writeHead(200, { 'Content-Type': 'text/plain' });
  res.end();
}
