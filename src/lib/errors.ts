/**
 * One error type for all of hedge. `code` is stable and is what callers branch on;
 * the apiserver maps codes to HTTP + Kubernetes `Status` in exactly one place
 * (src/api/meta/status.ts, used by the apiserver and the client).
 */
export type ErrorCode =
  | 'NotFound'
  | 'AlreadyExists'
  | 'Conflict'
  | 'Invalid'
  | 'BadRequest'
  | 'Gone'
  | 'Unauthorized'
  | 'Forbidden'
  | 'MethodNotAllowed'
  | 'NotAcceptable'
  | 'UnsupportedMediaType'
  | 'RequestEntityTooLarge'
  | 'Timeout'
  | 'TooManyRequests'
  | 'Unavailable'
  | 'Internal';

/** Kubernetes `StatusCause` (metav1.CauseType values such as FieldValueRequired, FieldValueInvalid). */
export interface FieldCause {
  field: string;
  reason: CauseType;
  message: string;
}

export type CauseType =
  | 'FieldValueNotFound'
  | 'FieldValueRequired'
  | 'FieldValueDuplicate'
  | 'FieldValueInvalid'
  | 'FieldValueNotSupported'
  | 'FieldValueForbidden'
  | 'FieldValueTooLong'
  | 'FieldValueTooMany'
  | 'InternalError'
  | 'FieldValueTypeInvalid'
  | 'UnexpectedServerResponse'
  | 'FieldManagerConflict'
  | 'NamespaceTerminating'
  | 'ResourceVersionTooLarge'
  /** policy/v1 DisruptionBudgetCause: an eviction refused by a PodDisruptionBudget */
  | 'DisruptionBudget'
  /** no type: upstream sends such a cause as `{message}` alone (a ValidatingAdmissionPolicy's refusal) */
  | '';

export interface ErrorDetails {
  /** resource name, e.g. "pods" */
  kind?: string;
  group?: string;
  name?: string;
  causes?: FieldCause[];
  retryAfterSeconds?: number;
  /** a refusal relayed from elsewhere (an admission webhook's Status): served with this HTTP code and reason */
  relayed?: { code: number; reason: string };
}

export class HedgeError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetails;

  constructor(code: ErrorCode, message: string, opts: { details?: ErrorDetails; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'HedgeError';
    this.code = code;
    this.details = opts.details ?? {};
  }
}

export function isHedgeError(err: unknown, code?: ErrorCode): err is HedgeError {
  return err instanceof HedgeError && (code === undefined || err.code === code);
}

export const notFound = (kind: string, name: string, group = ''): HedgeError =>
  new HedgeError('NotFound', `${group ? `${kind}.${group}` : kind} "${name}" not found`, { details: { kind, group, name } });

export const alreadyExists = (kind: string, name: string, group = ''): HedgeError =>
  new HedgeError('AlreadyExists', `${group ? `${kind}.${group}` : kind} "${name}" already exists`, {
    details: { kind, group, name },
  });

export const conflict = (kind: string, name: string, reason: string, group = ''): HedgeError =>
  new HedgeError(
    'Conflict',
    `Operation cannot be fulfilled on ${group ? `${kind}.${group}` : kind} "${name}": ${reason}`,
    { details: { kind, group, name } },
  );

export const badRequest = (message: string): HedgeError => new HedgeError('BadRequest', message);

/** 422 with field causes; message formatted like apimachinery's NewInvalid (details.kind is the Kind). */
export function invalid(kind: string, name: string, causes: FieldCause[], group = ''): HedgeError {
  const summary = causes.map((c) => `${c.field}: ${c.message}`).join(', ');
  return new HedgeError('Invalid', `${group ? `${kind}.${group}` : kind} "${name}" is invalid: ${summary}`, {
    details: { kind, group, name, causes },
  });
}
