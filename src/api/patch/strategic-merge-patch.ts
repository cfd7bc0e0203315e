import { isPlainObject, type Json, type JsonObject } from '../object.ts';
import { patchBadRequest, patchRejected } from './errors.ts';
import { childMeta, isMergeStrategy, type PatchMeta } from './patch-meta.ts';

/*
 * Kubernetes strategic merge patch (apply side), after
 * k8s.io/apimachinery/pkg/util/strategicpatch (StrategicMergeMapPatch with
 * MergeParallelList and IgnoreUnmatchedNulls, which is what kube-apiserver uses).
 *
 * Deliberate differences from upstream:
 * - `$patch: merge` in a map is accepted and means "merge as usual" (upstream rejects
 *   it as an unknown patch type); as a list element it is dropped (upstream: "merging
 *   lists cannot yet be specified in the patch").
 * - a value taken from the patch for a field the original lacks is itself merged into
 *   an empty value, so nulls and directives inside it never reach the stored object
 *   (upstream gets the same effect from decoding into typed Go structs afterwards).
 * - errors upstream reports as a bare 500 (missing merge key, unknown directive,
 *   mixed element types) are 400 BadRequest here; list-of-lists and a patch that does
 *   not match its $retainKeys are 422 like upstream.
 */

const DIRECTIVE = '$patch';
const RETAIN_KEYS = '$retainKeys';
const DELETE_PRIMITIVE_PREFIX = '$deleteFromPrimitiveList';
const SET_ORDER_PREFIX = '$setElementOrder';

type ElemKind = 'map' | 'scalar';

export function applyStrategicMergePatch(doc: Json, patch: Json, meta: PatchMeta): Json {
  if (!isPlainObject(patch)) throw patchBadRequest('invalid JSON document: a strategic merge patch must be a JSON object');
  if (!isPlainObject(doc)) throw patchBadRequest('invalid JSON document: the patched object must be a JSON object');
  return mergeMap(structuredClone(doc), structuredClone(patch), meta);
}

function mergeMap(original: JsonObject, patch: JsonObject, meta: PatchMeta): JsonObject {
  if (DIRECTIVE in patch) {
    const directive = patch[DIRECTIVE];
    delete patch[DIRECTIVE];
    if (directive === 'replace') return stripDirectivesShallow(patch);
    if (directive === 'delete') return {};
    if (directive !== 'merge') throw patchBadRequest(`unknown patch type: ${show(directive)} in map: ${show(patch)}`);
  }

  applyRetainKeys(original, patch);
  mergeSetElementOrder(original, patch, meta);

  for (const [rawKey, patchV] of Object.entries(patch)) {
    let key = rawKey;
    let isDeleteList = false;
    if (rawKey.startsWith(DELETE_PRIMITIVE_PREFIX)) {
      key = extractKey(rawKey, DELETE_PRIMITIVE_PREFIX);
      isDeleteList = true;
      if (!Array.isArray(patchV)) throw patchBadRequest('invalid patch format of primitive list');
    }
    if (patchV === null) {
      delete original[key];
      continue;
    }
    const { info, child } = childMeta(meta, key);
    if (!(key in original)) {
      if (!isDeleteList) original[key] = fromPatchOnly(patchV, info.strategy, info.mergeKey, child);
      continue;
    }
    const origV = original[key];
    if (kindOf(origV) !== kindOf(patchV)) {
      if (!isDeleteList) original[key] = fromPatchOnly(patchV, info.strategy, info.mergeKey, child);
      continue;
    }
    if (isPlainObject(origV) && isPlainObject(patchV)) {
      original[key] = info.strategy === 'replace' ? patchV : mergeMap(origV, patchV, child);
    } else if (Array.isArray(origV) && Array.isArray(patchV)) {
      original[key] =
        isMergeStrategy(info) || isDeleteList
          ? mergeSlice(origV, patchV, child, info.mergeKey ?? '', isDeleteList)
          : patchV;
    } else {
      original[key] = patchV;
    }
  }
  return original;
}

/** A patch value for a field the original lacks, cleaned of nulls and directives. */
function fromPatchOnly(patchV: Json, strategy: string | undefined, mergeKey: string | undefined, child: PatchMeta): Json {
  if (isPlainObject(patchV)) return strategy === 'replace' ? patchV : mergeMap({}, patchV, child);
  if (Array.isArray(patchV) && (strategy === 'merge' || strategy === 'merge,retainKeys')) {
    return mergeSlice([], patchV, child, mergeKey ?? '', false);
  }
  return patchV;
}

function stripDirectivesShallow(m: JsonObject): JsonObject {
  for (const k of Object.keys(m)) {
    if (k === RETAIN_KEYS || k.startsWith(SET_ORDER_PREFIX) || k.startsWith(DELETE_PRIMITIVE_PREFIX)) delete m[k];
  }
  return m;
}

function applyRetainKeys(original: JsonObject, patch: JsonObject): void {
  if (!(RETAIN_KEYS in patch)) return;
  const list = patch[RETAIN_KEYS];
  delete patch[RETAIN_KEYS];
  if (!Array.isArray(list)) throw patchBadRequest('invalid patch format of retainKeys');
  const keep = new Set<Json>(list);
  for (const [k, v] of Object.entries(patch)) {
    if (v === null || k.startsWith(DELETE_PRIMITIVE_PREFIX) || k.startsWith(SET_ORDER_PREFIX)) continue;
    if (!keep.has(k)) throw patchRejected("patch content doesn't match retainKeys list");
  }
  for (const k of Object.keys(original)) {
    if (!keep.has(k)) delete original[k];
  }
}

function extractKey(s: string, prefix: string): string {
  const slash = s.indexOf('/');
  if (slash < 0 || s.slice(0, slash) !== prefix) {
    throw patchBadRequest(
      prefix === DELETE_PRIMITIVE_PREFIX ? 'invalid patch format of primitive list' : 'invalid patch format of setElementOrder list',
    );
  }
  return s.slice(slash + 1);
}

/** $setElementOrder/<field>: merge the list it names now and impose the requested order. */
function mergeSetElementOrder(original: JsonObject, patch: JsonObject, meta: PatchMeta): void {
  for (const [dirKey, order] of Object.entries(patch)) {
    if (!dirKey.startsWith(SET_ORDER_PREFIX)) continue;
    delete patch[dirKey];
    if (!Array.isArray(order)) throw patchBadRequest('invalid patch format of setElementOrder list');
    const key = extractKey(dirKey, SET_ORDER_PREFIX);
    const foundOriginal = key in original && original[key] !== null;
    const foundPatch = key in patch && patch[key] !== null;
    const originalList = foundOriginal ? original[key] : [];
    const patchList = foundPatch ? patch[key] : [];
    if (!Array.isArray(originalList) || !Array.isArray(patchList)) {
      throw patchBadRequest(`invalid patch format of setElementOrder list: ${key} is not a list`);
    }
    const { info, child } = childMeta(meta, key);
    const mergeKey = info.mergeKey ?? '';
    validateWithSetOrder(patchList, order, mergeKey);

    let merged: Json[];
    if (foundOriginal && foundPatch) {
      merged = isMergeStrategy(info) ? mergeSlice(originalList, patchList, child, mergeKey, false) : patchList;
    } else if (foundOriginal) {
      merged = originalList;
    } else if (foundPatch) {
      merged = isMergeStrategy(info) ? mergeSlice([], patchList, child, mergeKey, false) : patchList;
    } else {
      continue;
    }
    if (merged.length === 0) {
      original[key] = merged;
      delete patch[key];
      continue;
    }
    const kind = elementKind([originalList, patchList]) ?? elementKind([merged]) ?? 'scalar';
    const { inList, rest } = partition(merged, order, mergeKey);
    original[key] = normalizeElementOrder(inList, rest, order, originalList, mergeKey, kind);
    delete patch[key];
  }
}

function validateWithSetOrder(patchList: Json[], order: Json[], mergeKey: string): void {
  if (patchList.length === 0 || order.length === 0) return;
  const items = mergeKey ? patchList.filter((v) => !(isPlainObject(v) && v[DIRECTIVE] === 'delete')) : patchList;
  let p = 0;
  let s = 0;
  while (p < items.length && s < order.length) {
    const item = items[p];
    if (isPlainObject(item) && DIRECTIVE in item) {
      p++;
      continue;
    }
    if (mergeKeyEqual(item, order[s], mergeKey)) p++;
    s++;
  }
  if (p < items.length) {
    throw patchBadRequest(
      `The order in patch list:\n${show(patchList)}\n doesn't match ${SET_ORDER_PREFIX} list:\n${show(order)}\n`,
    );
  }
}

function mergeKeyEqual(left: Json, right: Json, mergeKey: string): boolean {
  if (!mergeKey) return left === right;
  if (!isPlainObject(left) || !isPlainObject(right)) throw patchBadRequest(`expected a map in a list with merge key ${mergeKey}`);
  if (!(mergeKey in left)) throw noMergeKey(left, mergeKey);
  if (!(mergeKey in right)) throw noMergeKey(right, mergeKey);
  return left[mergeKey] === right[mergeKey];
}

function mergeSlice(original: Json[], patch: Json[], meta: PatchMeta, mergeKey: string, isDeleteList: boolean): Json[] {
  if (original.length === 0 && patch.length === 0) return original;
  const kind = elementKind([original, patch]);
  if (kind === undefined) return original;

  let merged: Json[];
  let base = original;
  let patchItems = patch;
  if (kind === 'scalar') {
    if (isDeleteList) {
      const del = new Set<Json>(patch);
      return original.filter((v) => !del.has(v));
    }
    merged = dedupe([...original, ...patch]);
  } else {
    if (!mergeKey) throw patchBadRequest('cannot merge lists without merge key for type map');
    [base, patchItems] = mergeSpecialElements(original, patch, mergeKey);
    merged = mergeWithoutSpecialElements([...base], patchItems, mergeKey, meta);
  }
  const { inList, rest } = partition(merged, patchItems, mergeKey);
  return normalizeElementOrder(inList, rest, patchItems, base, mergeKey, kind);
}

/** Handles `$patch` elements; returns the (possibly reduced or replaced) original and the remaining patch. */
function mergeSpecialElements(original: Json[], patch: Json[], mergeKey: string): [Json[], Json[]] {
  const plain: Json[] = [];
  let replace = false;
  let base = original;
  for (const v of patch) {
    if (!isPlainObject(v)) throw patchBadRequest(`expected a map in a list with merge key ${mergeKey}, got ${show(v)}`);
    if (!(DIRECTIVE in v)) {
      plain.push(v);
      continue;
    }
    switch (v[DIRECTIVE]) {
      case 'delete': {
        if (!(mergeKey in v)) throw noMergeKey(v, mergeKey);
        const value = v[mergeKey];
        base = base.filter((o) => !(isPlainObject(o) && o[mergeKey] === value));
        break;
      }
      case 'replace':
        replace = true;
        break;
      case 'merge': {
        const rest = { ...v };
        delete rest[DIRECTIVE];
        if (Object.keys(rest).length > 0) plain.push(rest);
        break;
      }
      default:
        throw patchBadRequest(`unknown patch type: ${show(v[DIRECTIVE])} in map: ${show(v)}`);
    }
  }
  return replace ? [plain, []] : [base, plain];
}

function mergeWithoutSpecialElements(original: Json[], patch: Json[], mergeKey: string, meta: PatchMeta): Json[] {
  for (const v of patch) {
    const pv = v as JsonObject;
    if (!(mergeKey in pv)) throw noMergeKey(pv, mergeKey);
    const idx = original.findIndex((o) => {
      if (!isPlainObject(o)) throw patchBadRequest(`value for key ${mergeKey} is not a map.`);
      return mergeKey in o && o[mergeKey] === pv[mergeKey];
    });
    if (idx >= 0) original[idx] = mergeMap(original[idx] as JsonObject, pv, meta);
    else original.push(mergeMap({}, pv, meta));
  }
  return original;
}

function partition(items: Json[], by: Json[], mergeKey: string): { inList: Json[]; rest: Json[] } {
  const inList: Json[] = [];
  const rest: Json[] = [];
  for (const v of items) {
    const found = mergeKey
      ? by.some((b) => isPlainObject(b) && isPlainObject(v) && mergeKey in b && b[mergeKey] === v[mergeKey])
      : by.includes(v);
    (found ? inList : rest).push(v);
  }
  return { inList, rest };
}

/** Sort patch items by patchOrder and server-only items by serverOrder, then interleave them. */
function normalizeElementOrder(
  patchItems: Json[],
  serverOnly: Json[],
  patchOrder: Json[],
  serverOrder: Json[],
  mergeKey: string,
  kind: ElemKind,
): Json[] {
  const p = normalizeSliceOrder(patchItems, patchOrder, mergeKey, kind);
  const s = normalizeSliceOrder(serverOnly, serverOrder, mergeKey, kind);
  return mergeSortedSlice(s, p, serverOrder, mergeKey, kind);
}

function indexIn(list: Json[], item: Json, mergeKey: string, kind: ElemKind): number {
  const val = (x: Json): Json | undefined => (kind === 'map' ? (isPlainObject(x) ? x[mergeKey] : undefined) : x);
  const target = val(item);
  return list.findIndex((x) => val(x) === target);
}

function normalizeSliceOrder(toSort: Json[], order: Json[], mergeKey: string, kind: ElemKind): Json[] {
  let keep = toSort;
  let toDelete: Json[] = [];
  if (kind === 'map') {
    for (const v of [...toSort, ...order]) {
      if (!isPlainObject(v)) throw patchBadRequest(`expected a map in a list with merge key ${mergeKey}, got ${show(v)}`);
      if (!(mergeKey in v)) throw noMergeKey(v, mergeKey);
    }
    keep = toSort.filter((v) => !(isPlainObject(v) && v[DIRECTIVE] === 'delete'));
    toDelete = toSort.filter((v) => isPlainObject(v) && v[DIRECTIVE] === 'delete');
  }
  // Items missing from `order` go first, as upstream's comparator moves them forward.
  const decorated = keep.map((v, i) => ({ v, i, at: indexIn(order, v, mergeKey, kind) }));
  decorated.sort((a, b) => {
    if (a.at < 0 || b.at < 0) return a.at < 0 && b.at >= 0 ? -1 : b.at < 0 && a.at >= 0 ? 1 : a.i - b.i;
    return a.at - b.at || a.i - b.i;
  });
  return [...decorated.map((d) => d.v), ...toDelete];
}

/**
 * Inserts each server-only item (left) among the patch items (right): a left item goes
 * before the first right item that comes after it in the live list. Both relative
 * orders are kept.
 */
function mergeSortedSlice(left: Json[], right: Json[], serverOrder: Json[], mergeKey: string, kind: ElemKind): Json[] {
  const out: Json[] = [];
  let i = 0;
  let j = 0;
  while (i < left.length || j < right.length) {
    if (i >= left.length) out.push(right[j++]);
    else if (j >= right.length) out.push(left[i++]);
    else {
      const li = indexIn(serverOrder, left[i], mergeKey, kind);
      const ri = indexIn(serverOrder, right[j], mergeKey, kind);
      if (li >= 0 && ri >= 0 && li < ri) out.push(left[i++]);
      else out.push(right[j++]);
    }
  }
  return out;
}

function dedupe(values: Json[]): Json[] {
  const out: Json[] = [];
  for (const v of values) if (!out.includes(v)) out.push(v);
  return out;
}

function elementKind(lists: Json[][]): ElemKind | undefined {
  let kind: ElemKind | undefined;
  let scalarType: string | undefined;
  for (const list of lists) {
    for (const v of list) {
      if (Array.isArray(v)) throw patchRejected('lists of lists are not supported');
      const k: ElemKind = isPlainObject(v) ? 'map' : 'scalar';
      const t = v === null ? 'null' : typeof v;
      if (kind === undefined) {
        kind = k;
        scalarType = t;
      } else if (kind !== k || (k === 'scalar' && t !== scalarType)) {
        throw patchBadRequest(`list element types are not identical: ${show(lists)}`);
      }
    }
  }
  return kind;
}

function kindOf(v: Json): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'list';
  return typeof v;
}

function noMergeKey(m: JsonObject, mergeKey: string) {
  return patchBadRequest(`map: ${show(m)} does not contain declared merge key: ${mergeKey}`);
}

function show(v: unknown): string {
  return JSON.stringify(v) ?? String(v);
}
