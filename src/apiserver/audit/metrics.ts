import { Counter, type Registry } from '../../lib/prom.ts';
import type { Level } from './types.ts';

/** upstream's audit metrics (k8s.io/apiserver/pkg/audit/metrics.go), on the apiserver's /metrics */
export interface AuditMetrics {
  /** events handed to the backend */
  event: Counter;
  /**
   * events that could not be written, by plugin: `log` (the write failed), `buffered` (the buffer
   * was full), `webhook` (every try failed), `truncate` (too large even without its objects)
   */
  error: Counter<'plugin'>;
  /** audited requests by level */
  level: Counter<'level'>;
  /** requests failed because their RequestReceived event could not be stored (--audit-webhook-mode blocking-strict) */
  rejected: Counter;
}

export function auditMetrics(registry: Registry): AuditMetrics {
  return {
    event: new Counter({ name: 'apiserver_audit_event_total', help: 'Counter of audit events generated and sent to the audit backend.', registers: [registry] }),
    error: new Counter({
      name: 'apiserver_audit_error_total',
      help: 'Counter of audit events that failed to be audited properly. Plugin identifies the plugin affected by the error.',
      labelNames: ['plugin'],
      registers: [registry],
    }),
    level: new Counter({ name: 'apiserver_audit_level_total', help: 'Counter of policy levels for audit events (1 per request).', labelNames: ['level'], registers: [registry] }),
    rejected: new Counter({ name: 'apiserver_audit_requests_rejected_total', help: 'Counter of apiserver requests rejected due to an error in audit logging backend.', registers: [registry] }),
  };
}

export type LevelCounter = (level: Level) => void;
