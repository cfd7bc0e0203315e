import type { Json } from '../api/object.ts';
import { isPlainObject } from '../api/object.ts';
import { definitionNameFor, loadDefinitions } from '../api/openapi/index.ts';
import {
  applyJsonPatch,
  applyMergePatch,
  applyStrategicMergePatch,
  emptyPatchMeta,
  patchMetaFromOpenAPI,
  type OpenAPIV2Schema,
  type PatchMeta,
} from '../api/patch/index.ts';
import type { PatchType } from './types.ts';

/** Patch application for the in-memory fake: the same engine and merge keys the apiserver uses. */
const metas = new Map<string, PatchMeta>();

function metaFor(doc: unknown): PatchMeta {
  if (!isPlainObject(doc) || typeof doc.apiVersion !== 'string' || typeof doc.kind !== 'string') return emptyPatchMeta;
  const key = `${doc.apiVersion}|${doc.kind}`;
  let meta = metas.get(key);
  if (!meta) {
    const definitions = loadDefinitions();
    const name = definitionNameFor(doc.apiVersion, doc.kind, definitions);
    meta = name ? patchMetaFromOpenAPI(definitions as Record<string, OpenAPIV2Schema>, name) : emptyPatchMeta;
    metas.set(key, meta);
  }
  return meta;
}

export function applyPatch(doc: unknown, type: PatchType, patch: unknown): unknown {
  switch (type) {
    case 'json':
      return applyJsonPatch(doc as Json, patch);
    case 'merge':
      return applyMergePatch(doc as Json, patch as Json);
    case 'strategic':
      return applyStrategicMergePatch(doc as Json, patch as Json, metaFor(doc));
  }
}
