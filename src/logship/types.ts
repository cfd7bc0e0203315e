import type { LogStream } from '../agent/logs/cri-log.ts';

/** Who a log line belongs to: the labels every sink attaches. */
export interface LogLabels {
  node: string;
  namespace: string;
  pod: string;
  podUid: string;
  container: string;
  /** the container instance (restart count) the file belongs to */
  restart: number;
}

/** One CRI log record (partial records already joined), ready for a sink. */
export interface LogRecord {
  labels: LogLabels;
  stream: LogStream;
  /** the runtime's RFC 3339 timestamp, full precision */
  rawTime: string;
  message: string;
  /** `<file key>:<end offset>`: unique per record and stable across restarts (dedupe key) */
  id: string;
}

/**
 * What a send achieved: the first `delivered` records of the batch are the collector's now
 * (acknowledged where the protocol has acks); `rejected` more after them were refused for good
 * (a 4xx from the collector: counted as dropped, never retried); the rest, if any, failed with
 * `error` and are sent again later.
 */
export interface SendResult {
  delivered: number;
  rejected?: number;
  error?: Error;
}

/** Where records go; each sink keeps its own position in every log file. */
export interface LogSink {
  readonly name: string;
  /** what the sink promises: `acknowledged` (RELP, Loki) or `written` (plain TCP/TLS syslog) */
  readonly delivery: 'acknowledged' | 'written';
  send(batch: readonly LogRecord[], signal: AbortSignal): Promise<SendResult>;
  close(): Promise<void>;
}
