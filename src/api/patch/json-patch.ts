import jsonpatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import { HedgeError } from '../../lib/errors.ts';
import { isPlainObject, type Json } from '../object.ts';
import { patchBadRequest, patchRejected } from './errors.ts';

/** Same cap as kube-apiserver's maxJSONPatchOperations. */
export const MAX_JSON_PATCH_OPERATIONS = 10000;

const OPS = new Set(['add', 'remove', 'replace', 'move', 'copy', 'test']);

/**
 * RFC 6902 JSON Patch on a deep copy of `doc`.
 *
 * Status codes follow kube-apiserver (handlers/patch.go applyJSPatch):
 * - a body that is not a list of operation objects fails to decode → 400 BadRequest;
 * - more than 10000 operations → 413 RequestEntityTooLarge;
 * - anything that fails while applying (unknown op, missing/ill-typed path, from or value,
 *   nonexistent path, failed `test`) → 422 Invalid "the server rejected our request due to
 *   an error in our request", with the reason as an UnexpectedServerResponse cause.
 *   evanphx/json-patch only checks operation fields when applying, hence 422 for those too.
 */
export function applyJsonPatch(doc: Json, patch: unknown): Json {
  if (!Array.isArray(patch)) {
    throw patchBadRequest('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  }
  if (patch.length > MAX_JSON_PATCH_OPERATIONS) {
    throw new HedgeError(
      'RequestEntityTooLarge',
      `The allowed maximum operations in a JSON patch is ${MAX_JSON_PATCH_OPERATIONS}, got ${patch.length}`,
    );
  }
  const ops: Operation[] = [];
  patch.forEach((op: unknown, i) => {
    if (!isPlainObject(op)) throw patchBadRequest(`json: cannot unmarshal operation ${i} of the patch: not an object`);
    ops.push(checkOperation(op, i));
  });
  try {
    return jsonpatch.applyPatch(structuredClone(doc), ops, true, true, true).newDocument as Json;
  } catch (err) {
    if (err instanceof HedgeError) throw err;
    const first = err instanceof Error ? err.message.split('\n')[0] : String(err);
    const index = err instanceof jsonpatch.JsonPatchError && err.index !== undefined ? ` (operation ${err.index})` : '';
    throw patchRejected(`${first}${index}`);
  }
}

function checkOperation(op: Record<string, unknown>, i: number): Operation {
  const kind = op.op;
  if (typeof kind !== 'string' || !OPS.has(kind)) throw patchRejected(`Unexpected kind: ${String(kind)} (operation ${i})`);
  if (typeof op.path !== 'string') throw patchRejected(`operation ${i} (${kind}) missing path`);
  if ((kind === 'move' || kind === 'copy') && typeof op.from !== 'string') {
    throw patchRejected(`operation ${i} (${kind}) missing from`);
  }
  if ((kind === 'add' || kind === 'replace' || kind === 'test') && !('value' in op)) {
    throw patchRejected(`operation ${i} (${kind}) missing value`);
  }
  return op as unknown as Operation;
}
