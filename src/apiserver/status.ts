import { HedgeError } from '../lib/errors.ts';

/**
 * The apiserver's face of `api/meta/status.ts` (the one table of error codes, Status reasons and
 * HTTP codes, shared with the client) plus the errors apimachinery words in a fixed way.
 */
export { statusFromError, successStatus, type Status, type StatusDetails } from '../api/meta/status.ts';

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
