import { HedgeError, type ErrorCode, type FieldCause } from '../lib/errors.ts';

/**
 * The one place where hedge errors become HTTP codes and Kubernetes `Status` bodies.
 * Reasons and codes follow apimachinery's pkg/api/errors.
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

const httpCodeOf: Record<ErrorCode, number> = {
  NotFound: 404,
  AlreadyExists: 409,
  Conflict: 409,
  Invalid: 422,
  BadRequest: 400,
  Gone: 410,
  Unauthorized: 401,
  Forbidden: 403,
  MethodNotAllowed: 405,
  NotAcceptable: 406,
  UnsupportedMediaType: 415,
  RequestEntityTooLarge: 413,
  Timeout: 504,
  TooManyRequests: 429,
  Unavailable: 503,
  Internal: 500,
};

const reasonOf: Record<ErrorCode, string> = {
  NotFound: 'NotFound',
  AlreadyExists: 'AlreadyExists',
  Conflict: 'Conflict',
  Invalid: 'Invalid',
  BadRequest: 'BadRequest',
  // Every 410 hedge produces is an expired resourceVersion or continue token (NewResourceExpired).
  Gone: 'Expired',
  Unauthorized: 'Unauthorized',
  Forbidden: 'Forbidden',
  MethodNotAllowed: 'MethodNotAllowed',
  NotAcceptable: 'NotAcceptable',
  UnsupportedMediaType: 'UnsupportedMediaType',
  RequestEntityTooLarge: 'RequestEntityTooLarge',
  Timeout: 'Timeout',
  TooManyRequests: 'TooManyRequests',
  Unavailable: 'ServiceUnavailable',
  Internal: 'InternalError',
};

export function httpStatusFor(code: ErrorCode): number {
  return httpCodeOf[code];
}

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
  if (d.causes && d.causes.length > 0) details.causes = d.causes;
  if (d.retryAfterSeconds !== undefined) details.retryAfterSeconds = d.retryAfterSeconds;
  const status: Status = {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: e.message,
    reason: reasonOf[e.code],
    code: httpCodeOf[e.code],
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

/** Helpers for errors apimachinery builds with fixed wording. */
export const statusErrors = {
  unauthorized: (): HedgeError => new HedgeError('Unauthorized', 'Unauthorized'),
  methodNotAllowed: (method: string, resource: string): HedgeError =>
    new HedgeError('MethodNotAllowed', `the server does not allow this method on the requested resource`, {
      details: { kind: resource },
      cause: method,
    }),
  notAcceptable: (): HedgeError =>
    new HedgeError(
      'NotAcceptable',
      'only the following media types are accepted: application/json, application/yaml, application/json;as=Table;v=v1;g=meta.k8s.io',
    ),
  unsupportedMediaType: (contentType: string, accepted: string[]): HedgeError =>
    new HedgeError(
      'UnsupportedMediaType',
      `the body of the request was in an unknown format - accepted media types include: ${accepted.join(', ')}`,
      { cause: contentType },
    ),
  tooLarge: (limit: number): HedgeError =>
    new HedgeError('RequestEntityTooLarge', `Request entity too large: limit is ${limit}`),
  notFoundPath: (): HedgeError => new HedgeError('NotFound', 'the server could not find the requested resource'),
  tooOldResourceVersion: (requested: number | string, oldest: number): HedgeError =>
    new HedgeError('Gone', `too old resource version: ${requested} (${oldest})`),
  continueExpired: (): HedgeError =>
    new HedgeError(
      'Gone',
      'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.',
    ),
};
