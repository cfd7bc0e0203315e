import { HedgeError } from '../../lib/errors.ts';

/**
 * kube-apiserver answers a patch that decodes but cannot be applied with
 * NewGenericServerResponse(422, ...): reason Invalid, this fixed message, and the
 * library's own text as an UnexpectedServerResponse cause. kubectl prints
 * "The request is invalid: the server rejected our request due to an error in our request".
 */
export function patchRejected(detail: string): HedgeError {
  return new HedgeError('Invalid', 'the server rejected our request due to an error in our request', {
    details: { causes: [{ field: '', reason: 'UnexpectedServerResponse', message: detail }] },
  });
}

export function patchBadRequest(message: string): HedgeError {
  return new HedgeError('BadRequest', message);
}
