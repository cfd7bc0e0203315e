import jsonpatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import { HedgeError } from '../lib/errors.ts';
import { isPlainObject } from '../api/object.ts';
import type { PatchType } from './types.ts';

/**
 * Patch application for the in-memory fake. Strategic merge is a deliberately small subset:
 * merge-patch semantics plus merge-by-key for the lists controllers patch (conditions by type,
 * containers by name, …) and `$patch: delete` on list items. Dedup candidate with src/api/patch.
 */
const mergeKeys: Record<string, string> = {
  conditions: 'type',
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  volumes: 'name',
  env: 'name',
  ports: 'containerPort',
  ownerReferences: 'uid',
  addresses: 'type',
  containerStatuses: 'name',
  initContainerStatuses: 'name',
};

export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return structuredClone(patch);
  const out: Record<string, unknown> = isPlainObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function strategicMerge(target: unknown, patch: unknown, field: string): unknown {
  if (Array.isArray(patch)) {
    const key = mergeKeys[field];
    if (!key || !Array.isArray(target) || !patch.every(isPlainObject)) return structuredClone(patch);
    const out = [...target] as unknown[];
    for (const item of patch as Record<string, unknown>[]) {
      const idx = out.findIndex((t) => isPlainObject(t) && t[key] === item[key]);
      if (item.$patch === 'delete') {
        if (idx >= 0) out.splice(idx, 1);
      } else if (idx >= 0) out[idx] = strategicMerge(out[idx], item, '');
      else out.push(structuredClone(item));
    }
    return out;
  }
  if (!isPlainObject(patch)) return structuredClone(patch);
  const out: Record<string, unknown> = isPlainObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith('$')) continue;
    if (v === null) delete out[k];
    else out[k] = strategicMerge(out[k], v, k);
  }
  return out;
}

export function applyPatch(doc: unknown, type: PatchType, patch: unknown): unknown {
  switch (type) {
    case 'json': {
      if (!Array.isArray(patch)) throw new HedgeError('BadRequest', 'json patch must be an array of operations');
      try {
        return jsonpatch.applyPatch(structuredClone(doc), patch as Operation[], true, false).newDocument;
      } catch (err) {
        throw new HedgeError('Invalid', `json patch: ${err instanceof Error ? err.message : String(err)}`, {
          cause: err,
        });
      }
    }
    case 'merge':
      return mergePatch(doc, patch);
    case 'strategic':
      return strategicMerge(doc, patch, '');
  }
}
