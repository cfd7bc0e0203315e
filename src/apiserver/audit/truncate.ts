/**
 * upstream's truncate plugin (k8s.io/apiserver/plugin/pkg/audit/truncate), on encoded lines:
 * an event larger than maxEventSize at level Request or above loses its requestObject and
 * responseObject and is marked `audit.k8s.io/truncated: "true"`; one still too large is dropped
 * (counted as plugin "truncate"); a batch is cut so no part passes maxBatchSize bytes.
 */

export const TRUNCATED_ANNOTATION = 'audit.k8s.io/truncated';

export interface TruncateConfig {
  /** bytes of one event (upstream default 100 KiB) */
  maxEventSize: number;
  /** bytes of one batch (upstream default 10 MiB) */
  maxBatchSize: number;
}

export const DEFAULT_TRUNCATE: Readonly<TruncateConfig> = { maxEventSize: 100 * 1024, maxBatchSize: 10 * 1024 * 1024 };

/** the JSON size of an event line (without its newline), as upstream's calcSize measures it */
export function eventSize(line: string): number {
  const n = Buffer.byteLength(line, 'utf8');
  return line.endsWith('\n') ? n - 1 : n;
}

/** The line as it may be sent, or an Error saying why it cannot be. */
export function truncateEvent(line: string, maxEventSize: number): string | Error {
  if (eventSize(line) <= maxEventSize) return line;
  let ev: { level?: string; requestObject?: unknown; responseObject?: unknown; annotations?: Record<string, string> };
  try {
    ev = JSON.parse(line) as typeof ev;
  } catch (err) {
    return err as Error;
  }
  if (ev.level !== 'Request' && ev.level !== 'RequestResponse') return new Error('event is too large even after truncating');
  delete ev.requestObject;
  delete ev.responseObject;
  ev.annotations = { ...ev.annotations, [TRUNCATED_ANNOTATION]: 'true' };
  const out = `${JSON.stringify(ev)}\n`;
  return eventSize(out) > maxEventSize ? new Error('event is too large even after truncating') : out;
}

/** `lines` cut into runs of at most maxBatchSize bytes (an event alone may reach it) */
export function splitBatch(lines: readonly string[], maxBatchSize: number): string[][] {
  const out: string[][] = [];
  let batch: string[] = [];
  let size = 0;
  for (const l of lines) {
    const n = eventSize(l);
    if (batch.length > 0 && size + n > maxBatchSize) {
      out.push(batch);
      batch = [];
      size = 0;
    }
    batch.push(l);
    size += n;
  }
  if (batch.length > 0) out.push(batch);
  return out;
}
