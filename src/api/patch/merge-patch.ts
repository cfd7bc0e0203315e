import { isPlainObject, type Json, type JsonObject } from '../object.ts';
import { patchBadRequest } from './errors.ts';

/**
 * RFC 7386 JSON Merge Patch, on copies. Like kube-apiserver (evanphx MergePatch →
 * ErrBadJSONPatch → 400) the top-level patch must be an object: RFC 7386 would let a
 * scalar or array replace the whole document, which can never be a Kubernetes object.
 */
export function applyMergePatch(doc: Json, patch: Json): Json {
  if (!isPlainObject(patch)) throw patchBadRequest('Invalid JSON Patch');
  return mergeValue(doc, patch);
}

function mergeValue(target: Json, patch: Json): Json {
  if (!isPlainObject(patch)) return structuredClone(patch);
  const out: JsonObject = isPlainObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergeValue(out[k] ?? null, v);
  }
  return out;
}

/** The merge patch that turns `original` into `modified` (an empty object when equal). */
export function createMergePatch(original: Json, modified: Json): Json {
  if (!isPlainObject(original) || !isPlainObject(modified)) {
    return structuredClone(modified);
  }
  const patch: JsonObject = {};
  for (const k of Object.keys(original)) {
    if (!(k in modified)) patch[k] = null;
  }
  for (const [k, m] of Object.entries(modified)) {
    if (!(k in original)) {
      patch[k] = structuredClone(m);
      continue;
    }
    const o = original[k];
    if (isPlainObject(o) && isPlainObject(m)) {
      const sub = createMergePatch(o, m) as JsonObject;
      if (Object.keys(sub).length > 0) patch[k] = sub;
    } else if (!jsonEqual(o, m)) {
      patch[k] = structuredClone(m);
    }
  }
  return patch;
}

/** Structural equality of JSON values (object key order ignored). */
export function jsonEqual(a: Json | undefined, b: Json | undefined): boolean {
  if (a === b) return true;
  if (a === null || b === null || a === undefined || b === undefined) return false;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((v, i) => jsonEqual(v, b[i]));
  }
  if (isPlainObject(a)) {
    if (!isPlainObject(b)) return false;
    const ka = Object.keys(a);
    if (ka.length !== Object.keys(b).length) return false;
    return ka.every((k) => k in b && jsonEqual(a[k], b[k]));
  }
  return false;
}
