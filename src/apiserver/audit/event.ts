import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import type { AuditUserInfo, Level, ObjectReference, ResponseStatus, Stage } from './types.ts';

/**
 * One audit.k8s.io/v1 Event as it is built. `requestObject` and `responseObject` are JSON text
 * (spliced into the line as is: no parse and re-encode of what already is one line of JSON).
 */
export interface AuditEvent {
  level: Level;
  auditID: string;
  requestURI: string;
  verb: string;
  user: AuditUserInfo;
  impersonatedUser?: AuditUserInfo;
  sourceIPs: string[];
  userAgent?: string;
  objectRef?: ObjectReference;
  responseStatus?: ResponseStatus;
  requestObject?: string;
  responseObject?: string;
  /** epoch milliseconds, fractional (microseconds are kept) */
  requestReceivedTimestamp: number;
  annotations?: Record<string, string>;
}

/** epoch milliseconds with sub-millisecond precision (MicroTime needs microseconds) */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/** metav1.MicroTime's RFC 3339 form: `2006-01-02T15:04:05.000000Z` */
export function microTime(ms: number): string {
  const micros = Math.floor(ms * 1000);
  const iso = new Date(Math.floor(micros / 1000)).toISOString();
  return `${iso.slice(0, 19)}.${String(micros % 1_000_000).padStart(6, '0')}Z`;
}

/** The event at `stage` as one JSON line (upstream's field order), ending in `\n`. */
export function encodeEvent(ev: AuditEvent, stage: Stage, stageTimestamp: number): string {
  let s = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"${ev.level}","auditID":${JSON.stringify(ev.auditID)},"stage":"${stage}","requestURI":${JSON.stringify(ev.requestURI)},"verb":${JSON.stringify(ev.verb)},"user":${JSON.stringify(ev.user)}`;
  if (ev.impersonatedUser) s += `,"impersonatedUser":${JSON.stringify(ev.impersonatedUser)}`;
  s += `,"sourceIPs":${JSON.stringify(ev.sourceIPs)}`;
  if (ev.userAgent !== undefined) s += `,"userAgent":${JSON.stringify(ev.userAgent)}`;
  if (ev.objectRef) s += `,"objectRef":${JSON.stringify(ev.objectRef)}`;
  if (ev.responseStatus) s += `,"responseStatus":${JSON.stringify(ev.responseStatus)}`;
  if (ev.requestObject !== undefined) s += `,"requestObject":${ev.requestObject}`;
  if (ev.responseObject !== undefined) s += `,"responseObject":${ev.responseObject}`;
  s += `,"requestReceivedTimestamp":"${microTime(ev.requestReceivedTimestamp)}","stageTimestamp":"${microTime(stageTimestamp)}"`;
  if (ev.annotations) s += `,"annotations":${JSON.stringify(ev.annotations)}`;
  return `${s}}\n`;
}

/**
 * upstream utilnet.SourceIPs: the X-Forwarded-For addresses, then X-Real-Ip, then the peer, each
 * once (the headers are what the client says; the peer is last, as upstream orders them).
 */
export function sourceIPs(req: IncomingMessage): string[] {
  const out: string[] = [];
  const add = (ip: string | undefined): void => {
    const v = ip?.trim();
    if (v && isIP(v) && !out.includes(v)) out.push(v);
  };
  const xff = req.headers['x-forwarded-for'];
  if (xff) for (const part of (Array.isArray(xff) ? xff.join(',') : xff).split(',')) add(part);
  const real = req.headers['x-real-ip'];
  add(Array.isArray(real) ? real[0] : real);
  let peer = req.socket.remoteAddress;
  // an IPv4 peer on a dual-stack socket
  if (peer?.startsWith('::ffff:') && isIP(peer.slice(7)) === 4) peer = peer.slice(7);
  add(peer);
  return out;
}

/** JSON text of a value for the event, or of its JSON bytes when they are one line already. */
export function jsonText(raw: Buffer | string | undefined, value: unknown): string | undefined {
  if (raw !== undefined) {
    const s = typeof raw === 'string' ? raw : raw.toString('utf8');
    if (!/[\r\n\u2028\u2029]/.test(s)) return s;
  }
  return value === undefined ? undefined : JSON.stringify(value);
}

/** `metadata.managedFields` dropped from an object or from each item of a list (omitManagedFields) */
export function withoutManagedFields(v: unknown): unknown {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return v;
  const o = v as { metadata?: { managedFields?: unknown }; items?: unknown[] };
  let out: Record<string, unknown> = o as Record<string, unknown>;
  if (o.metadata && typeof o.metadata === 'object' && 'managedFields' in o.metadata) {
    const { managedFields: _drop, ...metadata } = o.metadata;
    out = { ...out, metadata };
  }
  if (Array.isArray(o.items)) out = { ...out, items: o.items.map(withoutManagedFields) };
  return out;
}
