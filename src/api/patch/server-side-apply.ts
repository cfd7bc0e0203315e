import type { ManagedFieldsEntry } from 'kubernetes-types/meta/v1.js';
import { compareStrings } from '../../lib/compare.ts';
import { HedgeError, type FieldCause } from '../../lib/errors.ts';
import { isPlainObject, type Json, type JsonObject, type KubeObject } from '../object.ts';
import { compareValues, fieldSetOf, FieldSet, keyElement, listKind, pathString, valueElement, type FieldPath, type SkipTree } from './field-set.ts';
import { jsonEqual } from './merge-patch.ts';
import { childMeta, type FieldPatchInfo, type PatchMeta } from './patch-meta.ts';

/*
 * Server-side apply and managedFields bookkeeping, a reduced model of
 * sigs.k8s.io/structured-merge-diff as kube-apiserver's fieldmanager drives it:
 * - Apply merges the applied configuration into the live object (maps by field,
 *   associative lists by key, set lists by value, everything else replaced), refuses to
 *   change a field another manager owns unless forced, then removes fields this manager
 *   applied before but no longer applies and nobody else owns.
 * - Update records, for a non-apply write, which fields the writer set or changed, and
 *   takes changed fields away from their former owners.
 * Not modelled: version conversion of field sets, the 10-entry cap on Update managers,
 * schema defaults for list-map keys (a missing key field is completed from the single
 * live item that matches on the others instead).
 */

export type ManagedOperation = 'Apply' | 'Update';

/** Name structured-merge-diff gives the owner of everything in an object that predates managedFields. */
export const BEFORE_FIRST_APPLY_MANAGER = 'before-first-apply';

/** Paths the fieldmanager never tracks (stripmeta + status of the main resource). */
const IGNORED: FieldPath[] = [
  ['f:apiVersion'],
  ['f:kind'],
  ['f:status'],
  ['f:metadata'],
  ...['name', 'namespace', 'creationTimestamp', 'selfLink', 'uid', 'generation', 'managedFields', 'resourceVersion', 'deletionTimestamp', 'deletionGracePeriodSeconds'].map(
    (f) => ['f:metadata', `f:${f}`],
  ),
];

/**
 * IGNORED as fields a walk need not visit: what lies below an ignored path is dropped by
 * filterIgnored anyway (a status write's whole status, on every update of a pod or node). The
 * `f:metadata` entry ignores the metadata leaf alone, not its fields, so it skips nothing.
 */
const SKIPPED: SkipTree = (() => {
  const root: Record<string, true | Record<string, true>> = {};
  for (const ig of IGNORED) {
    const [top, sub] = ig.map((el) => el.slice(2));
    if (sub === undefined) {
      if (top !== 'metadata') root[top!] = true;
    } else ((root[top!] ??= {}) as Record<string, true>)[sub] = true;
  }
  return root;
})();

interface Manager {
  manager: string;
  operation: ManagedOperation;
  apiVersion?: string;
  subresource?: string;
  time?: string;
  set: FieldSet;
  /** the stored entry's fieldsV1, while `set` is still the set it was decoded from (saves re-encoding it) */
  fieldsV1?: Json;
}

export interface ServerSideApplyOptions {
  live: KubeObject | undefined;
  applied: KubeObject;
  manager: string;
  force: boolean;
  meta: PatchMeta;
  now: Date;
}

export function serverSideApply(opts: ServerSideApplyOptions): KubeObject {
  const { manager, force, meta, now } = opts;
  if ((managedFieldsOf(opts.applied) ?? []).length > 0) {
    throw new HedgeError('BadRequest', 'metadata.managedFields must be nil');
  }
  // a deep copy: the merge below builds on it and removes paths from the result in place
  const liveJson = opts.live ? stripManaged(structuredClone(opts.live)) : { metadata: {} };
  let managers = opts.live ? decodeManagers(managedFieldsOf(opts.live)) : [];
  if (opts.live && managers.length === 0) {
    const owned = filterIgnored(fieldSetOf(liveJson, meta));
    if (owned.size > 0) {
      managers = [{ manager: BEFORE_FIRST_APPLY_MANAGER, operation: 'Update', apiVersion: opts.live.apiVersion, set: owned }];
    }
  }

  const applied = stripNulls(stripManaged(opts.applied)) as JsonObject;
  completeListKeys(applied, liveJson, meta);
  const appliedSet = filterIgnored(fieldSetOf(applied, meta));
  const merged = mergeObject(liveJson, applied, meta);

  const cmp = compareValues(liveJson, merged, meta);
  const changed = cmp.modified.union(cmp.added);
  const myId = managerId({ manager, operation: 'Apply' });
  const conflicts: { manager: Manager; path: FieldPath }[] = [];
  for (const m of managers) {
    if (managerId(m) === myId) continue;
    const clash = m.set.intersection(appliedSet).intersection(changed);
    for (const path of clash.paths()) conflicts.push({ manager: m, path });
    if (force && clash.size > 0) {
      m.set = m.set.difference(clash);
      m.fieldsV1 = undefined;
    }
  }
  if (conflicts.length > 0 && !force) throw conflictError(conflicts);

  const previous = managers.find((m) => managerId(m) === myId);
  const others = managers.filter((m) => managerId(m) !== myId);
  if (previous) {
    const othersSet = others.reduce((acc, m) => acc.union(m.set), new FieldSet());
    const toRemove = previous.set.difference(appliedSet).paths();
    // Whole items before their fields, so a removed item takes its fields with it.
    toRemove.sort((a, b) => a.length - b.length);
    for (const path of toRemove) {
      if (othersSet.hasPrefix(path)) continue;
      removePath(merged, path, meta);
    }
  }

  const mine: Manager = {
    manager,
    operation: 'Apply',
    apiVersion: opts.applied.apiVersion,
    time: previous && previous.set.equals(appliedSet) && changedWithin(cmp, appliedSet) === false ? previous.time : rfc3339(now),
    set: appliedSet,
  };
  const result = merged as KubeObject;
  result.metadata ??= {};
  setManagedFields(result, [...others, mine]);
  return result;
}

export interface UpdateManagedFieldsOptions {
  old: KubeObject | undefined;
  updated: KubeObject;
  manager: string;
  operation: 'Update';
  now: Date;
  meta: PatchMeta;
  /** Subresource the write went through ("status", "scale"); main resource when absent. */
  subresource?: string;
}

/**
 * managedFields for the object a create/update/patch request is about to store.
 * Follows upstream for what the request itself says about managedFields: absent or `[]`
 * keeps the stored entries, a list with only empty entries clears tracking, and any
 * other change replaces them.
 */
export function updateManagedFields(opts: UpdateManagedFieldsOptions): KubeObject {
  const { manager, meta, now } = opts;
  const requested = managedFieldsOf(opts.updated);
  const stored = opts.old ? managedFieldsOf(opts.old) : undefined;
  // only metadata.managedFields is set on the result: the rest is shared with `updated`
  const result: KubeObject = { ...opts.updated, metadata: { ...opts.updated.metadata } };
  if (requested && requested.length > 0 && requested.every((e) => !e.manager && !e.fieldsV1 && !e.operation)) {
    delete result.metadata.managedFields;
    return result;
  }
  const replaced = requested && requested.length > 0 && !jsonEqual(requested as unknown as Json, (stored ?? []) as unknown as Json);
  // entries a request replaced are re-encoded from their sets; stored ones were encoded by us
  const managers = replaced ? decodeManagers(requested) : decodeManagers(stored, true);
  const oldJson = opts.old ? stripManaged(opts.old) : {};
  const newJson = stripManaged(opts.updated);
  const cmp = compareValues(oldJson, newJson, meta, SKIPPED);
  const modified = filterIgnored(cmp.modified);
  const added = filterIgnored(cmp.added);
  const removed = filterIgnored(cmp.removed);

  const me: Manager = { manager, operation: 'Update', apiVersion: opts.updated.apiVersion, subresource: opts.subresource, set: new FieldSet() };
  const myId = managerId(me);
  const takenAway = modified.union(removed);
  const others: Manager[] = [];
  let previous: Manager | undefined;
  for (const m of managers) {
    if (managerId(m) === myId) previous = m;
    else if (takenAway.size === 0) others.push(m);
    // most updates take nothing from the others: their sets stay encoded as stored
    else if (!m.set.intersects(takenAway)) others.push(m);
    else others.push({ ...m, set: m.set.difference(takenAway), fieldsV1: undefined });
  }
  // The usual update (a renewal, a heartbeat) changes values of fields this manager owns already:
  // its set stays as stored.
  if (previous && added.size === 0 && removed.size === 0 && modified.difference(previous.set).size === 0) {
    me.set = previous.set;
    me.fieldsV1 = previous.fieldsV1;
  } else me.set = (previous?.set ?? new FieldSet()).union(modified).union(added).difference(removed);
  const touched = modified.size + added.size + removed.size > 0;
  me.time = previous && !touched && previous.set.equals(me.set) ? previous.time : rfc3339(now);
  setManagedFields(result, [...others, me]);
  return result;
}

function managedFieldsOf(obj: KubeObject): ManagedFieldsEntry[] | undefined {
  const mf: unknown = obj.metadata?.managedFields;
  return Array.isArray(mf) ? (mf as ManagedFieldsEntry[]) : undefined;
}

function changedWithin(cmp: { modified: FieldSet; added: FieldSet }, set: FieldSet): boolean {
  return cmp.modified.intersection(set).size > 0 || cmp.added.intersection(set).size > 0;
}

function managerId(m: Pick<Manager, 'manager' | 'operation' | 'apiVersion' | 'subresource'>): string {
  // Appliers keep one entry across API versions; updaters get one per version (as upstream).
  return JSON.stringify([m.manager, m.operation, m.operation === 'Update' ? (m.apiVersion ?? '') : '', m.subresource ?? '']);
}

function decodeManagers(entries: ManagedFieldsEntry[] | undefined, keepEncoded = false): Manager[] {
  const out: Manager[] = [];
  for (const e of entries ?? []) {
    if (!e.manager && !e.fieldsV1) continue;
    out.push({
      manager: e.manager ?? '',
      operation: e.operation === 'Apply' ? 'Apply' : 'Update',
      apiVersion: e.apiVersion,
      subresource: e.subresource || undefined,
      time: e.time,
      set: FieldSet.fromFieldsV1(e.fieldsV1 as Json | undefined),
      fieldsV1: keepEncoded ? (e.fieldsV1 as Json | undefined) : undefined,
    });
  }
  return out;
}

function setManagedFields(obj: KubeObject, managers: Manager[]): void {
  const entries = managers
    .filter((m) => !m.set.empty)
    .sort(
      (a, b) =>
        compareStrings(a.operation, b.operation) ||
        compareStrings(a.time ?? '', b.time ?? '') ||
        compareStrings(a.manager, b.manager) ||
        compareStrings(a.apiVersion ?? '', b.apiVersion ?? '') ||
        compareStrings(a.subresource ?? '', b.subresource ?? ''),
    )
    .map((m): ManagedFieldsEntry => {
      const e: ManagedFieldsEntry = { manager: m.manager, operation: m.operation };
      if (m.apiVersion) e.apiVersion = m.apiVersion;
      if (m.time) e.time = m.time;
      e.fieldsType = 'FieldsV1';
      e.fieldsV1 = m.fieldsV1 ?? m.set.toFieldsV1();
      if (m.subresource) e.subresource = m.subresource;
      return e;
    });
  if (entries.length > 0) obj.metadata.managedFields = entries;
  else delete obj.metadata.managedFields;
}

/** the last second rfc3339 formatted: the writes of one second share their managedFields time */
let lastSecond = NaN;
let lastSecondText = '';

function rfc3339(d: Date): string {
  const second = Math.floor(d.getTime() / 1000);
  if (second === lastSecond) return lastSecondText;
  // toISOString is YYYY-MM-DDTHH:MM:SS.sssZ for years 0–9999: the seconds without the fraction
  const iso = d.toISOString();
  lastSecondText = iso.length === 24 ? `${iso.slice(0, 19)}Z` : iso.replace(/\.\d{3}Z$/, 'Z');
  lastSecond = second;
  return lastSecondText;
}

function filterIgnored(set: FieldSet): FieldSet {
  if (set.size === 0) return set;
  return set.filter((p) => !IGNORED.some((ig) => ig.length <= p.length && ig.every((el, i) => el === p[i]) && (ig.length > 1 || ig[0] !== 'f:metadata' || p.length === 1)));
}

/** `obj` without metadata.managedFields, for reading only: a shallow copy sharing the rest */
function stripManaged(obj: KubeObject): JsonObject {
  const copy = { ...obj } as unknown as JsonObject;
  const md = copy.metadata;
  if (isPlainObject(md)) {
    const { managedFields: _, ...rest } = md;
    copy.metadata = rest;
  }
  return copy;
}

function stripNulls(v: Json): Json {
  if (Array.isArray(v)) return v.map(stripNulls);
  if (!isPlainObject(v)) return v;
  const out: JsonObject = {};
  for (const [k, x] of Object.entries(v)) if (x !== null) out[k] = stripNulls(x);
  return out;
}

function mergeObject(live: JsonObject, applied: JsonObject, meta: PatchMeta): JsonObject {
  const out: JsonObject = { ...live };
  for (const [k, v] of Object.entries(applied)) {
    const { info, child } = childMeta(meta, k);
    out[k] = mergeValue(live[k], v, info, child);
  }
  return out;
}

function mergeValue(live: Json | undefined, applied: Json, info: FieldPatchInfo, child: PatchMeta): Json {
  if (isPlainObject(applied)) {
    if (!isPlainObject(live) || info.mapType === 'atomic') return applied;
    return mergeObject(live, applied, child);
  }
  if (Array.isArray(applied)) {
    if (!Array.isArray(live)) return applied;
    const lk = listKind(info, [...live, ...applied]);
    if (lk.kind === 'atomic') return applied;
    if (lk.kind === 'set') {
      const out = [...live];
      for (const v of applied) if (!out.some((x) => jsonEqual(x, v))) out.push(v);
      return out;
    }
    const out = [...live];
    for (const item of applied) {
      if (!isPlainObject(item)) continue;
      const key = keyElement(item, lk.keys);
      const idx = out.findIndex((x) => isPlainObject(x) && keyElement(x, lk.keys) === key);
      if (idx >= 0) out[idx] = mergeObject(out[idx] as JsonObject, item, child);
      else out.push(item);
    }
    return out;
  }
  return applied;
}

/** Fills list-map key fields the applied item leaves out from the one live item matching on the rest. */
function completeListKeys(applied: JsonObject, live: Json | undefined, meta: PatchMeta): void {
  if (!isPlainObject(live)) return;
  for (const [k, v] of Object.entries(applied)) {
    const { info, child } = childMeta(meta, k);
    const lv = live[k];
    if (isPlainObject(v)) {
      completeListKeys(v, lv, child);
      continue;
    }
    if (!Array.isArray(v) || !Array.isArray(lv)) continue;
    const lk = listKind(info, [...v, ...lv]);
    if (lk.kind !== 'associative') continue;
    for (const item of v) {
      if (!isPlainObject(item)) continue;
      const missing = lk.keys.filter((key) => !(key in item));
      const present = lk.keys.filter((key) => key in item);
      const candidates = lv.filter(
        (x): x is JsonObject => isPlainObject(x) && present.every((key) => jsonEqual(x[key], item[key])),
      );
      if (missing.length > 0 && candidates.length === 1) {
        for (const key of missing) if (key in candidates[0]) item[key] = candidates[0][key];
      }
      const match = lv.find((x) => isPlainObject(x) && keyElement(x, lk.keys) === keyElement(item, lk.keys));
      completeListKeys(item, match, child);
    }
  }
}

/**
 * Removes the field, keyed item or set value at `path`; a missing path is a no-op.
 * Lists and maps the removal leaves empty are dropped as well (below the top level),
 * as Go's omitempty encoding does for the typed objects upstream stores.
 */
function removePath(root: JsonObject, path: FieldPath, meta: PatchMeta): void {
  removeAt(root, path, 0, meta, {});
}

function removeAt(node: Json, path: FieldPath, i: number, meta: PatchMeta, info: FieldPatchInfo): boolean {
  const el = path[i];
  const last = i === path.length - 1;
  if (el.startsWith('f:')) {
    if (!isPlainObject(node)) return false;
    const name = el.slice(2);
    if (!(name in node)) return false;
    if (last) {
      // Never strip a key field from an item that stays.
      const parent = path[i - 1];
      if (parent?.startsWith('k:') && name in (JSON.parse(parent.slice(2)) as JsonObject)) return false;
      delete node[name];
      return true;
    }
    const f = childMeta(meta, name);
    const removed = removeAt(node[name], path, i + 1, f.child, f.info);
    if (removed && i > 0 && isEmptyContainer(node[name])) delete node[name];
    return removed;
  }
  if (!(el.startsWith('k:') || el.startsWith('v:')) || !Array.isArray(node)) return false;
  const list: Json[] = node;
  const lk = listKind(info, list);
  const idx = el.startsWith('v:')
    ? list.findIndex((x) => valueElement(x) === el)
    : list.findIndex((x) => isPlainObject(x) && lk.kind === 'associative' && keyElement(x, lk.keys) === el);
  if (idx < 0) return false;
  if (last) {
    list.splice(idx, 1);
    return true;
  }
  return removeAt(list[idx], path, i + 1, meta, {});
}

function isEmptyContainer(v: Json | undefined): boolean {
  return (Array.isArray(v) && v.length === 0) || (isPlainObject(v) && Object.keys(v).length === 0);
}

function conflictError(conflicts: { manager: Manager; path: FieldPath }[]): HedgeError {
  const who = (m: Manager) =>
    m.operation === 'Update' ? `${JSON.stringify(m.manager)} using ${m.apiVersion ?? ''}` : JSON.stringify(m.manager);
  const causes: FieldCause[] = conflicts.map((c) => ({
    field: pathString(c.path),
    reason: 'FieldManagerConflict',
    message: `conflict with ${who(c.manager)}`,
  }));
  let message: string;
  if (conflicts.length === 1) {
    message = `Apply failed with 1 conflict: conflict with ${who(conflicts[0].manager)}: ${pathString(conflicts[0].path)}`;
  } else {
    const byManager = new Map<string, { label: string; paths: string[] }>();
    for (const c of conflicts) {
      const id = managerId(c.manager);
      const entry = byManager.get(id) ?? { label: who(c.manager), paths: [] };
      entry.paths.push(pathString(c.path));
      byManager.set(id, entry);
    }
    const lines: string[] = [];
    for (const id of [...byManager.keys()].sort()) {
      const e = byManager.get(id);
      if (!e) continue;
      lines.push(`conflicts with ${e.label}:`);
      for (const p of e.paths.sort()) lines.push(`- ${p}`);
    }
    message = `Apply failed with ${conflicts.length} conflicts: ${lines.join('\n')}`;
  }
  return new HedgeError('Conflict', message, { details: { causes } });
}
