import { HedgeError, type ErrorCode, type FieldCause } from '../../lib/errors.ts';
import { isPlainObject } from '../object.ts';

/**
 * metav1.Status and the one table between hedge's error codes, Kubernetes `StatusReason`s and
 * HTTP codes (apimachinery's pkg/api/errors). The apiserver turns errors into Status bodies with
 * it, the client turns Status bodies back into errors with it.
 */

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: FieldCause[];
  retryAfterSeconds?: number;
}

export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code: number;
}

/**
 * The reason and HTTP code each error code is served as. Where HTTP codes are shared, the first
 * entry is what a bare HTTP code (no Status reason) reads back as: 409 is a Conflict.
 */
const table: Record<ErrorCode, { reason: string; http: number }> = {
  NotFound: { reason: 'NotFound', http: 404 },
  Conflict: { reason: 'Conflict', http: 409 },
  AlreadyExists: { reason: 'AlreadyExists', http: 409 },
  Invalid: { reason: 'Invalid', http: 422 },
  BadRequest: { reason: 'BadRequest', http: 400 },
  // Every 410 hedge produces is an expired resourceVersion or continue token (NewResourceExpired).
  Gone: { reason: 'Expired', http: 410 },
  Unauthorized: { reason: 'Unauthorized', http: 401 },
  Forbidden: { reason: 'Forbidden', http: 403 },
  MethodNotAllowed: { reason: 'MethodNotAllowed', http: 405 },
  NotAcceptable: { reason: 'NotAcceptable', http: 406 },
  UnsupportedMediaType: { reason: 'UnsupportedMediaType', http: 415 },
  RequestEntityTooLarge: { reason: 'RequestEntityTooLarge', http: 413 },
  Timeout: { reason: 'Timeout', http: 504 },
  TooManyRequests: { reason: 'TooManyRequests', http: 429 },
  Unavailable: { reason: 'ServiceUnavailable', http: 503 },
  Internal: { reason: 'InternalError', http: 500 },
};

/** Upstream reasons hedge never sends but may receive; several collapse onto one of our codes. */
const receivedOnly: [string, ErrorCode][] = [
  ['Gone', 'Gone'],
  ['ServerTimeout', 'Timeout'],
];

const entries = Object.entries(table) as [ErrorCode, { reason: string; http: number }][];
const codeByReason = new Map<string, ErrorCode>([...entries.map(([code, e]): [string, ErrorCode] => [e.reason, code]), ...receivedOnly]);
const codeByHttp = new Map<number, ErrorCode>();
for (const [code, e] of entries) if (!codeByHttp.has(e.http)) codeByHttp.set(e.http, code);

/** Status body for an error; anything that is not a HedgeError is an internal error. */
export function statusFromError(err: unknown): Status {
  const e =
    err instanceof HedgeError
      ? err
      : new HedgeError('Internal', `Internal error occurred: ${err instanceof Error ? err.message : String(err)}`);
  const d = e.details;
  const details: StatusDetails = {};
  if (d.name) details.name = d.name;
  if (d.group) details.group = d.group;
  if (d.kind) details.kind = d.kind;
  // omitempty, as upstream's StatusCause: a cause without type or field is `{message}` alone
  if (d.causes && d.causes.length > 0) details.causes = d.causes.map((c) => (c.reason && c.field ? c : ({ ...(c.reason ? { reason: c.reason } : {}), message: c.message, ...(c.field ? { field: c.field } : {}) } as FieldCause)));
  if (d.retryAfterSeconds !== undefined) details.retryAfterSeconds = d.retryAfterSeconds;
  const status: Status = {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: e.message,
    reason: d.relayed ? d.relayed.reason || undefined : table[e.code].reason,
    code: d.relayed?.code ?? table[e.code].http,
  };
  if (Object.keys(details).length > 0) status.details = details;
  return reorder(status);
}

export function successStatus(details: StatusDetails, code = 200): Status {
  return reorder({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details, code });
}

function reorder(s: Status): Status {
  // JSON key order like upstream: message, reason, details, code.
  const { kind, apiVersion, metadata, status, message, reason, details, code } = s;
  return { kind, apiVersion, metadata, status, message, reason, details, code };
}

/** What a failure body says: a Status's `message` when the text is one, else the text itself. */
export function failureMessage(text: string): string {
  const t = text.trim();
  if (!t.startsWith('{')) return t;
  try {
    const body: unknown = JSON.parse(t);
    if (isPlainObject(body) && body.kind === 'Status' && typeof body.message === 'string' && body.message !== '') return body.message;
  } catch {
    // not JSON after all: the text is the message
  }
  return t;
}

/**
 * Turn a Kubernetes `Status` body (or anything else a failing server sent) into a HedgeError.
 * The reason wins over the HTTP code because 409 means both AlreadyExists and Conflict.
 */
export function errorFromStatus(httpCode: number, body: unknown): HedgeError {
  const status = isPlainObject(body) && body.kind === 'Status' ? body : undefined;
  const reason = typeof status?.reason === 'string' ? status.reason : '';
  const code: ErrorCode = codeByReason.get(reason) ?? codeByHttp.get(httpCode) ?? (httpCode >= 500 ? 'Internal' : 'BadRequest');
  const message =
    typeof status?.message === 'string' && status.message
      ? status.message
      : typeof body === 'string' && body
        ? body.slice(0, 500)
        : `the server responded with HTTP ${httpCode}`;
  const d = isPlainObject(status?.details) ? status.details : {};
  const causes: FieldCause[] = Array.isArray(d.causes)
    ? d.causes.filter(isPlainObject).map((c) => ({
        field: typeof c.field === 'string' ? c.field : '',
        reason: (typeof c.reason === 'string' ? c.reason : 'FieldValueInvalid') as FieldCause['reason'],
        message: typeof c.message === 'string' ? c.message : '',
      }))
    : [];
  return new HedgeError(code, message, {
    details: {
      kind: typeof d.kind === 'string' ? d.kind : undefined,
      group: typeof d.group === 'string' ? d.group : undefined,
      name: typeof d.name === 'string' ? d.name : undefined,
      causes: causes.length ? causes : undefined,
      retryAfterSeconds: typeof d.retryAfterSeconds === 'number' ? d.retryAfterSeconds : undefined,
    },
  });
}
