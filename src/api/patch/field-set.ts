import { isPlainObject, type Json, type JsonObject } from '../object.ts';
import { childMeta, isMergeStrategy, type FieldPatchInfo, type PatchMeta } from './patch-meta.ts';

/*
 * Field paths and sets in the managedFields "FieldsV1" vocabulary of
 * sigs.k8s.io/structured-merge-diff: a path is a list of elements `f:<field>`,
 * `k:{"name":"c"}` (item of an associative list, key fields sorted by name),
 * `v:<json>` (item of a set list) and `i:<n>` (item of an atomic-but-walked list, unused
 * here). A set holds member paths; in FieldsV1 a member that also has children is
 * written as `".": {}` among them.
 */

export type FieldPath = string[];

/**
 * Set of member paths, keyed by their JSON text; each path is parsed at most once (set operations
 * work on the keys). A set read from FieldsV1 is decoded when first needed: `has` answers from the
 * FieldsV1 itself, so an update that only checks its paths against a stored manager's set (a
 * renewal, a heartbeat) never decodes it.
 */
export class FieldSet {
  /** key → path (undefined: not parsed yet) */
  #members: Map<string, FieldPath | undefined> | undefined;
  /** FieldsV1 not decoded yet */
  #encoded: JsonObject | undefined;

  constructor() {
    this.#members = new Map();
  }

  static of(paths: Iterable<FieldPath>): FieldSet {
    const s = new FieldSet();
    for (const p of paths) s.add(p);
    return s;
  }

  /** members by key, decoding FieldsV1 first if need be */
  #m(): Map<string, FieldPath | undefined> {
    if (this.#members) return this.#members;
    const m = new Map<string, FieldPath | undefined>();
    const walk = (node: Json, p: FieldPath): void => {
      if (!isPlainObject(node)) return;
      const keys = Object.keys(node);
      if (keys.length === 0 && p.length > 0) m.set(JSON.stringify(p), p);
      for (const k of keys) {
        if (k === '.') m.set(JSON.stringify(p), p);
        else walk(node[k] ?? {}, [...p, k]);
      }
    };
    walk(this.#encoded ?? {}, []);
    this.#members = m;
    this.#encoded = undefined;
    return m;
  }

  #path(key: string, p: FieldPath | undefined): FieldPath {
    if (p) return p;
    const parsed = JSON.parse(key) as FieldPath;
    this.#m().set(key, parsed);
    return parsed;
  }

  /** A member by its key (`JSON.stringify(path)`), the path parsed only if asked for. */
  addKey(key: string, path?: FieldPath): void {
    const m = this.#m();
    if (!m.has(key) || (path && !m.get(key))) m.set(key, path);
  }

  add(path: FieldPath): void {
    this.addKey(JSON.stringify(path), [...path]);
  }

  has(path: FieldPath): boolean {
    if (this.#encoded) return encodedHas(this.#encoded, path);
    return this.#m().has(JSON.stringify(path));
  }

  #hasKey(key: string, path: FieldPath | undefined): boolean {
    if (this.#encoded) return encodedHas(this.#encoded, this.#pathOf(key, path));
    return this.#m().has(key);
  }

  #pathOf(key: string, path: FieldPath | undefined): FieldPath {
    return path ?? (JSON.parse(key) as FieldPath);
  }

  get size(): number {
    return this.#m().size;
  }

  /** No members (a set still encoded is not decoded for this). */
  get empty(): boolean {
    return this.#encoded ? !encodedAny(this.#encoded, true) : this.#m().size === 0;
  }

  paths(): FieldPath[] {
    return [...this.#m()].map(([k, p]) => [...this.#path(k, p)]);
  }

  /** The members `keep` says yes to. */
  filter(keep: (path: FieldPath) => boolean): FieldSet {
    const out = new FieldSet();
    for (const [k, p] of this.#m()) {
      const path = this.#path(k, p);
      if (keep(path)) out.addKey(k, path);
    }
    return out;
  }

  /** Whether any member of `other` is a member of this set (without decoding this one from FieldsV1). */
  intersects(other: FieldSet): boolean {
    for (const [k, p] of other.#m()) if (this.#hasKey(k, p)) return true;
    return false;
  }

  union(other: FieldSet): FieldSet {
    const out = new FieldSet();
    for (const [k, p] of this.#m()) out.addKey(k, p);
    for (const [k, p] of other.#m()) out.addKey(k, p);
    return out;
  }

  difference(other: FieldSet): FieldSet {
    const out = new FieldSet();
    for (const [k, p] of this.#m()) if (!other.#hasKey(k, p)) out.addKey(k, p);
    return out;
  }

  intersection(other: FieldSet): FieldSet {
    const out = new FieldSet();
    for (const [k, p] of this.#m()) if (other.#hasKey(k, p)) out.addKey(k, p);
    return out;
  }

  /** True if `path` or anything below it is a member. */
  hasPrefix(path: FieldPath): boolean {
    const head = JSON.stringify(path).slice(0, -1);
    for (const k of this.#m().keys()) {
      if (k === head + ']' || k.startsWith(head + ',')) return true;
    }
    return false;
  }

  equals(other: FieldSet): boolean {
    if (this.size !== other.size) return false;
    for (const [k, p] of this.#m()) if (!other.#hasKey(k, p)) return false;
    return true;
  }

  /** FieldsV1 JSON with stable (sorted) key order. */
  toFieldsV1(): JsonObject {
    const root: JsonObject = {};
    // the nodes members end at: one with children is written with `".": {}` among them
    const members = new Set<JsonObject>();
    for (const [k, p] of this.#m()) {
      let node = root;
      for (const el of this.#path(k, p)) {
        node[el] ??= {};
        node = node[el] as JsonObject;
      }
      members.add(node);
    }
    const finish = (node: JsonObject): JsonObject => {
      const keys = Object.keys(node);
      if (keys.length > 0 && members.has(node)) keys.push('.');
      const out: JsonObject = {};
      for (const k of keys.sort(compareElements)) out[k] = k === '.' ? {} : finish(node[k] as JsonObject);
      return out;
    };
    return finish(root);
  }

  static fromFieldsV1(v: Json | undefined): FieldSet {
    const s = new FieldSet();
    if (isPlainObject(v)) {
      s.#members = undefined;
      s.#encoded = v;
    }
    return s;
  }
}

/** Whether FieldsV1 `node` has any member (as `fromFieldsV1` would decode it). */
function encodedAny(node: JsonObject, root = false): boolean {
  const keys = Object.keys(node);
  if (keys.length === 0) return !root;
  for (const k of keys) {
    if (k === '.') return true;
    const child = node[k] ?? {};
    if (isPlainObject(child) && encodedAny(child)) return true;
  }
  return false;
}

/** Whether FieldsV1 `v` has `path` as a member (as `fromFieldsV1` would decode it). */
function encodedHas(v: JsonObject, path: FieldPath): boolean {
  if (path.length === 0) return Object.hasOwn(v, '.');
  let node: Json | undefined = v;
  for (const el of path) {
    if (!isPlainObject(node) || el === '.') return false;
    // fromFieldsV1 reads a null child as {}
    node = Object.hasOwn(node, el) ? (node[el] ?? {}) : undefined;
  }
  if (!isPlainObject(node)) return false;
  return Object.keys(node).length === 0 || Object.hasOwn(node, '.');
}

function compareElements(a: string, b: string): number {
  if (a === '.') return -1;
  if (b === '.') return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

export type ListKind = { kind: 'associative'; keys: string[] } | { kind: 'set' } | { kind: 'atomic' };

/** How SSA treats a list field, derived the way structured-merge-diff reads OpenAPI. */
export function listKind(info: FieldPatchInfo, items: Json[]): ListKind {
  if (info.listType === 'atomic') return { kind: 'atomic' };
  if (info.listType === 'map' && info.listMapKeys && info.listMapKeys.length > 0) {
    return { kind: 'associative', keys: [...info.listMapKeys].sort() };
  }
  if (info.listType === 'set') return { kind: 'set' };
  if (isMergeStrategy(info)) {
    if (info.mergeKey) return { kind: 'associative', keys: [info.mergeKey] };
    if (items.every((v) => !isPlainObject(v) && !Array.isArray(v))) return { kind: 'set' };
  }
  return { kind: 'atomic' };
}

export function keyElement(item: JsonObject, keys: string[]): string {
  const k: JsonObject = {};
  for (const name of [...keys].sort()) if (name in item) k[name] = item[name];
  return 'k:' + JSON.stringify(k);
}

export function valueElement(v: Json): string {
  return 'v:' + JSON.stringify(v);
}

/**
 * Fields whose leaves a walk leaves out, by name at each level of nested objects: `true` skips the
 * field and everything below it; an object names fields to skip inside the field's value (fields
 * of maps only: a walk does not carry it into lists or atomic maps).
 */
export interface SkipTree {
  readonly [field: string]: true | SkipTree | undefined;
}

/**
 * Leaves of `value` with a comparable fingerprint each: scalars, atomic lists/maps and
 * empty containers are leaves; so is every associative/set list item itself (the `.`
 * member), fingerprinted as present.
 */
export function leaves(value: Json, meta: PatchMeta, out = new Map<string, string>(), path: FieldPath = [], skip?: SkipTree, paths?: LeafPaths): Map<string, string> {
  if (isPlainObject(value)) {
    const keys = Object.keys(value);
    if (keys.length === 0 && path.length > 0) putLeaf(out, path, '{}', paths);
    for (const k of keys) {
      const sk = skip?.[k];
      if (sk === true) continue;
      fieldLeaves(value[k], childMeta(meta, k), [...path, `f:${k}`], out, sk, paths);
    }
    return out;
  }
  if (path.length > 0) putLeaf(out, path, JSON.stringify(value), paths);
  return out;
}

/** the paths of the leaves by key, when a caller keeps them (the path arrays are never changed once made) */
type LeafPaths = Map<string, FieldPath> | undefined;

const putLeaf = (out: Map<string, string>, p: FieldPath, fp: string, paths: LeafPaths): void => {
  const key = JSON.stringify(p);
  out.set(key, fp);
  paths?.set(key, p);
};

/** the leaves of one field's value `v` at path `p` (its parent's meta gave `info` and `child`) */
function fieldLeaves(v: Json, { info, child }: { info: FieldPatchInfo; child: PatchMeta }, p: FieldPath, out: Map<string, string>, skip?: SkipTree, paths?: LeafPaths): void {
  if (isPlainObject(v) && info.mapType === 'atomic') putLeaf(out, p, JSON.stringify(v), paths);
  else if (Array.isArray(v)) listLeaves(v, info, child, p, out, (q, fp) => putLeaf(out, q, fp, paths), paths);
  else leaves(v, child, out, p, skip, paths);
}

function listLeaves(
  list: Json[],
  info: FieldPatchInfo,
  child: PatchMeta,
  path: FieldPath,
  out: Map<string, string>,
  put: (p: FieldPath, fp: string) => void,
  paths?: LeafPaths,
): void {
  const lk = listKind(info, list);
  if (list.length === 0 || lk.kind === 'atomic') {
    put(path, JSON.stringify(list));
    return;
  }
  for (const item of list) {
    if (lk.kind === 'set') {
      put([...path, valueElement(item)], 'item');
    } else if (isPlainObject(item)) {
      const p = [...path, keyElement(item, lk.keys)];
      put(p, 'item');
      leaves(item, child, out, p, undefined, paths);
    }
  }
}

export function fieldSetOf(value: Json, meta: PatchMeta): FieldSet {
  return FieldSet.of([...leaves(value, meta).keys()].map((k) => JSON.parse(k) as FieldPath));
}

/**
 * Paths whose leaf differs (modified), appears (added) or disappears (removed) from a to b.
 * Walks both objects side by side and computes leaves only under fields whose values differ:
 * an update usually changes a few fields of a large object (a Lease's renewTime, a Node's
 * heartbeat), and the leaves of the unchanged rest are identical on both sides. `skip`: fields
 * the caller ignores (left out of all three sets).
 */
export function compareValues(a: Json, b: Json, meta: PatchMeta, skip?: SkipTree): { modified: FieldSet; added: FieldSet; removed: FieldSet } {
  const la = new Map<string, string>();
  const lb = new Map<string, string>();
  const paths = new Map<string, FieldPath>();
  differingLeaves(a, b, meta, [], la, lb, skip, paths);
  const modified = new FieldSet();
  const added = new FieldSet();
  const removed = new FieldSet();
  // the maps' keys are JSON.stringify(path), the paths kept beside them: the sets need not parse the keys
  for (const [k, fp] of lb) {
    const before = la.get(k);
    if (before === undefined) added.addKey(k, paths.get(k));
    else if (before !== fp) modified.addKey(k, paths.get(k));
  }
  for (const k of la.keys()) if (!lb.has(k)) removed.addKey(k, paths.get(k));
  return { modified, added, removed };
}

/**
 * leaves(a) into `la` and leaves(b) into `lb`, except the leaves of fields equal on both sides
 * (paths of different fields are disjoint, so leaving those out changes no comparison). Only
 * non-empty objects are walked side by side: an empty one is a leaf of its own (`{}`).
 * `skip`: fields whose leaves are of no interest to the caller (managedFields' ignored ones), not walked.
 */
function differingLeaves(
  a: Json,
  b: Json,
  meta: PatchMeta,
  path: FieldPath,
  la: Map<string, string>,
  lb: Map<string, string>,
  skip: SkipTree | undefined,
  paths: LeafPaths,
): void {
  if (!isPlainObject(a) || !isPlainObject(b) || Object.keys(a).length === 0 || Object.keys(b).length === 0) {
    leaves(a, meta, la, path, skip, paths);
    leaves(b, meta, lb, path, skip, paths);
    return;
  }
  const visit = (k: string): void => {
    const sk = skip?.[k];
    if (sk === true) return;
    const inA = Object.hasOwn(a, k);
    const inB = Object.hasOwn(b, k);
    const va = a[k];
    const vb = b[k];
    if (inA && inB && sameJson(va, vb)) return;
    const cm = childMeta(meta, k);
    const p = [...path, `f:${k}`];
    if (inA && inB && isPlainObject(va) && isPlainObject(vb) && cm.info.mapType !== 'atomic') {
      differingLeaves(va, vb, cm.child, p, la, lb, sk, paths);
      return;
    }
    if (inA) fieldLeaves(va, cm, p, la, sk, paths);
    if (inB) fieldLeaves(vb, cm, p, lb, sk, paths);
  };
  for (const k of Object.keys(b)) visit(k);
  for (const k of Object.keys(a)) if (!Object.hasOwn(b, k)) visit(k);
}

/** equal JSON, key order included (a leaf's fingerprint is its JSON text) */
function sameJson(a: Json, b: Json): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((v, i) => sameJson(v, b[i]));
  if (Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && sameJson((a as JsonObject)[k], (b as JsonObject)[k]));
}

/** Human path as structured-merge-diff prints it: .spec.containers[name="c"].image */
export function pathString(path: FieldPath): string {
  return path
    .map((el) => {
      const body = el.slice(2);
      switch (el.slice(0, 2)) {
        case 'f:':
          return `.${body}`;
        case 'k:': {
          const key = JSON.parse(body) as JsonObject;
          return `[${Object.entries(key)
            .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
            .join(',')}]`;
        }
        case 'v:':
          return `[=${body}]`;
        case 'i:':
          return `[${body}]`;
        default:
          return el;
      }
    })
    .join('');
}
