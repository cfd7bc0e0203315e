import type { Logger } from '../../lib/log.ts';
import type { AuditMetrics } from './metrics.ts';

/** the plugins upstream names in apiserver_audit_error_total */
export type AuditPlugin = 'log' | 'buffered' | 'webhook' | 'truncate';

/**
 * upstream's audit.HandlePluginError: the events a plugin could not handle are counted in
 * apiserver_audit_error_total{plugin} and logged, here at most every `intervalMs` (a receiver
 * that is down must not turn every request into a log line).
 */
export function pluginErrorReporter(metrics: AuditMetrics, logger: Logger, intervalMs = 10_000): (plugin: AuditPlugin, n: number, err: unknown) => void {
  let last = -Infinity;
  let suppressed = 0;
  return (plugin, n, err) => {
    metrics.error.inc({ plugin }, n);
    const now = performance.now();
    if (now - last < intervalMs) {
      suppressed += n;
      return;
    }
    logger.error({ err, plugin, dropped: n, droppedSinceLastReport: suppressed }, 'audit events could not be sent; dropped (see apiserver_audit_error_total)');
    last = now;
    suppressed = 0;
  };
}
