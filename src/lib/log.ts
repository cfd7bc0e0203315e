import { pino, type Logger } from 'pino';

export type { Logger };

export interface LoggerOptions {
  level?: string;
  /** write to this fd/stream path; default stderr */
  destination?: number | string;
}

/** Build a root logger. Parts get children with a `component` field: `log.child({ component: 'apiserver' })`. */
export function createLogger(opts: LoggerOptions = {}): Logger {
  return pino({ level: opts.level ?? 'info' }, pino.destination({ dest: opts.destination ?? 2, sync: false }));
}

/** A logger that drops everything; for tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
