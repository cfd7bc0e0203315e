import { HedgeError, type ErrorCode, type FieldCause } from '../lib/errors.ts';
import { isPlainObject } from '../api/object.ts';

/** metav1.StatusReason → our code. Several upstream reasons collapse onto one of ours. */
const reasonToCode: Record<string, ErrorCode> = {
  NotFound: 'NotFound',
  AlreadyExists: 'AlreadyExists',
  Conflict: 'Conflict',
  Invalid: 'Invalid',
  BadRequest: 'BadRequest',
  Gone: 'Gone',
  Expired: 'Gone',
  Unauthorized: 'Unauthorized',
  Forbidden: 'Forbidden',
  MethodNotAllowed: 'MethodNotAllowed',
  NotAcceptable: 'NotAcceptable',
  UnsupportedMediaType: 'UnsupportedMediaType',
  RequestEntityTooLarge: 'RequestEntityTooLarge',
  Timeout: 'Timeout',
  ServerTimeout: 'Timeout',
  TooManyRequests: 'TooManyRequests',
  ServiceUnavailable: 'Unavailable',
  InternalError: 'Internal',
};

const httpToCode: Record<number, ErrorCode> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  406: 'NotAcceptable',
  409: 'Conflict',
  410: 'Gone',
  413: 'RequestEntityTooLarge',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  503: 'Unavailable',
  504: 'Timeout',
};

/**
 * Turn a Kubernetes `Status` body (or anything else a failing server sent) into a HedgeError.
 * The reason wins over the HTTP code because 409 means both AlreadyExists and Conflict.
 */
export function errorFromStatus(httpCode: number, body: unknown): HedgeError {
  const status = isPlainObject(body) && body.kind === 'Status' ? body : undefined;
  const reason = typeof status?.reason === 'string' ? status.reason : '';
  const code: ErrorCode = reasonToCode[reason] ?? httpToCode[httpCode] ?? (httpCode >= 500 ? 'Internal' : 'BadRequest');
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
