import { timeoutSignal } from '../lib/signals.ts';
import type { LogRecord, LogSink, SendResult } from './types.ts';

export interface LokiSinkOptions {
  name: string;
  /** http(s)://host:port — the push path is appended */
  baseUrl: string;
  timeoutMs?: number;
}

/** RFC 3339 with up to nine fractional digits → Unix nanoseconds as a decimal string (exact). */
export function unixNanos(raw: string): string {
  const m = /^(.*?)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(raw);
  if (m === null) throw new Error(`not an RFC 3339 time: ${raw}`);
  const secs = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(secs)) throw new Error(`not an RFC 3339 time: ${raw}`);
  return (BigInt(secs) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'))).toString();
}

/**
 * Loki's push API (`POST /loki/api/v1/push`, JSON): one stream per label set, entries as
 * `[unix-nanos, line]`. A 2xx acknowledges the whole batch; 429 and 5xx are retried; any other
 * 4xx (e.g. entries Loki refuses as too old) can never succeed and is counted as dropped.
 * Loki drops an entry identical in stream, timestamp and line to one it has, so a batch sent
 * again after a lost acknowledgement is not stored twice.
 */
export class LokiSink implements LogSink {
  readonly name: string;
  readonly delivery = 'acknowledged' as const;
  readonly #url: string;

  constructor(private readonly opts: LokiSinkOptions) {
    this.name = opts.name;
    this.#url = `${opts.baseUrl.replace(/\/+$/, '')}/loki/api/v1/push`;
  }

  async send(batch: readonly LogRecord[], signal: AbortSignal): Promise<SendResult> {
    if (batch.length === 0) return { delivered: 0 };
    const streams = new Map<string, { stream: Record<string, string>; values: [string, string][] }>();
    for (const r of batch) {
      const stream = { node: r.labels.node, namespace: r.labels.namespace, pod: r.labels.pod, container: r.labels.container, stream: r.stream };
      const key = JSON.stringify(stream);
      let s = streams.get(key);
      if (s === undefined) streams.set(key, (s = { stream, values: [] }));
      s.values.push([unixNanos(r.rawTime), r.message]);
    }
    const bounded = timeoutSignal(signal, this.opts.timeoutMs ?? 10_000);
    try {
      const res = await fetch(this.#url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ streams: [...streams.values()] }),
        signal: bounded,
      });
      const text = await res.text();
      if (res.ok) return { delivered: batch.length };
      const error = new Error(`Loki push ${res.status}: ${text.slice(0, 300)}`);
      if (res.status >= 400 && res.status < 500 && res.status !== 429) return { delivered: 0, rejected: batch.length, error };
      return { delivered: 0, error };
    } catch (err) {
      return { delivered: 0, error: err as Error };
    } finally {
      bounded.clear();
    }
  }

  async close(): Promise<void> {}
}
