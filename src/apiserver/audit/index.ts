export { Auditor, RequestAudit, auditRequestBody, type AuditorOptions, type BeginAudit } from './request-audit.ts';
export { AuditPolicy, AuditPolicyError, parseAuditPolicy, ruleMatches } from './policy.ts';
export { LogBackend, fileSink, streamSink, type AuditBackend, type AuditSink, type LogBackendOptions } from './log-backend.ts';
export { RotatingFile, backupName, listBackups, type RotatingFileOptions } from './rotating-file.ts';
export { auditMetrics, type AuditMetrics } from './metrics.ts';
export { encodeEvent, microTime, nowMs, sourceIPs } from './event.ts';
export type * from './types.ts';
export { loadAuditPolicyFile, openAuditLog, type AuditLogOptions } from './setup.ts';
