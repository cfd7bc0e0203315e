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

/** Set of member paths; keys are JSON-encoded paths. */
export class FieldSet {
  private readonly members = new Set<string>();

  static of(paths: Iterable<FieldPath>): FieldSet {
    const s = new FieldSet();
    for (const p of paths) s.add(p);
    return s;
  }

  add(path: FieldPath): void {
    this.members.add(JSON.stringify(path));
  }

  has(path: FieldPath): boolean {
    return this.members.has(JSON.stringify(path));
  }

  get size(): number {
    return this.members.size;
  }

  paths(): FieldPath[] {
    return [...this.members].map((k) => JSON.parse(k) as FieldPath);
  }

  union(other: FieldSet): FieldSet {
    return FieldSet.of([...this.paths(), ...other.paths()]);
  }

  difference(other: FieldSet): FieldSet {
    return FieldSet.of(this.paths().filter((p) => !other.has(p)));
  }

  intersection(other: FieldSet): FieldSet {
    return FieldSet.of(this.paths().filter((p) => other.has(p)));
  }

  /** True if `path` or anything below it is a member. */
  hasPrefix(path: FieldPath): boolean {
    const head = JSON.stringify(path).slice(0, -1);
    for (const k of this.members) {
      if (k === head + ']' || k.startsWith(head + ',')) return true;
    }
    return false;
  }

  equals(other: FieldSet): boolean {
    return this.size === other.size && this.paths().every((p) => other.has(p));
  }

  /** FieldsV1 JSON with stable (sorted) key order. */
  toFieldsV1(): JsonObject {
    const root: JsonObject = {};
    const paths = this.paths();
    for (const p of paths) {
      let node = root;
      for (const el of p) {
        node[el] ??= {};
        node = node[el] as JsonObject;
      }
    }
    const memberWithChildren = (p: FieldPath, node: JsonObject) => {
      if (Object.keys(node).length > 0 && this.has(p)) node['.'] = {};
    };
    const finish = (node: JsonObject, p: FieldPath): JsonObject => {
      memberWithChildren(p, node);
      const out: JsonObject = {};
      for (const k of Object.keys(node).sort(compareElements)) {
        out[k] = k === '.' ? {} : finish(node[k] as JsonObject, [...p, k]);
      }
      return out;
    };
    return finish(root, []);
  }

  static fromFieldsV1(v: Json | undefined): FieldSet {
    const s = new FieldSet();
    const walk = (node: Json, p: FieldPath) => {
      if (!isPlainObject(node)) return;
      const keys = Object.keys(node);
      if (keys.length === 0 && p.length > 0) s.add(p);
      for (const k of keys) {
        if (k === '.') s.add(p);
        else walk(node[k] ?? {}, [...p, k]);
      }
    };
    if (v !== undefined) walk(v, []);
    return s;
  }
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
 * Leaves of `value` with a comparable fingerprint each: scalars, atomic lists/maps and
 * empty containers are leaves; so is every associative/set list item itself (the `.`
 * member), fingerprinted as present.
 */
export function leaves(value: Json, meta: PatchMeta, out = new Map<string, string>(), path: FieldPath = []): Map<string, string> {
  const put = (p: FieldPath, fp: string) => out.set(JSON.stringify(p), fp);
  if (isPlainObject(value)) {
    const keys = Object.keys(value);
    if (keys.length === 0 && path.length > 0) put(path, '{}');
    for (const k of keys) {
      const { info, child } = childMeta(meta, k);
      const v = value[k];
      const p = [...path, `f:${k}`];
      if (isPlainObject(v) && info.mapType === 'atomic') put(p, JSON.stringify(v));
      else if (Array.isArray(v)) listLeaves(v, info, child, p, out, put);
      else leaves(v, child, out, p);
    }
    return out;
  }
  if (path.length > 0) put(path, JSON.stringify(value));
  return out;
}

function listLeaves(
  list: Json[],
  info: FieldPatchInfo,
  child: PatchMeta,
  path: FieldPath,
  out: Map<string, string>,
  put: (p: FieldPath, fp: string) => void,
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
      leaves(item, child, out, p);
    }
  }
}

export function fieldSetOf(value: Json, meta: PatchMeta): FieldSet {
  return FieldSet.of([...leaves(value, meta).keys()].map((k) => JSON.parse(k) as FieldPath));
}

/** Paths whose leaf differs (modified), appears (added) or disappears (removed) from a to b. */
export function compareValues(a: Json, b: Json, meta: PatchMeta): { modified: FieldSet; added: FieldSet; removed: FieldSet } {
  const la = leaves(a, meta);
  const lb = leaves(b, meta);
  const modified = new FieldSet();
  const added = new FieldSet();
  const removed = new FieldSet();
  for (const [k, fp] of lb) {
    const p = JSON.parse(k) as FieldPath;
    const before = la.get(k);
    if (before === undefined) added.add(p);
    else if (before !== fp) modified.add(p);
  }
  for (const k of la.keys()) if (!lb.has(k)) removed.add(JSON.parse(k) as FieldPath);
  return { modified, added, removed };
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
