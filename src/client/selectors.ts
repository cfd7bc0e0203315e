import { badRequest } from '../lib/errors.ts';
import type { KubeObject } from '../api/object.ts';

/**
 * Minimal label / field selector evaluation for the in-memory fake and informer filters.
 * Dedup candidate: if src/api grows a full selector parser, the fake should use it.
 */
export type LabelRequirement =
  | { op: 'eq'; key: string; value: string }
  | { op: 'neq'; key: string; value: string }
  | { op: 'in'; key: string; values: string[] }
  | { op: 'notin'; key: string; values: string[] }
  | { op: 'exists'; key: string }
  | { op: 'notexists'; key: string };

/** Split at commas that are not inside a `( … )` value set. */
function splitTop(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out.map((x) => x.trim()).filter((x) => x !== '');
}

export function parseLabelSelector(s: string | undefined): LabelRequirement[] {
  if (!s) return [];
  return splitTop(s).map((term): LabelRequirement => {
    const set = /^([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term);
    if (set) {
      const values = set[3].split(',').map((v) => v.trim()).filter((v) => v !== '');
      return set[2] === 'in' ? { op: 'in', key: set[1], values } : { op: 'notin', key: set[1], values };
    }
    const neq = /^([^\s!=]+)\s*!=\s*(\S*)$/.exec(term);
    if (neq) return { op: 'neq', key: neq[1], value: neq[2] };
    const eq = /^([^\s!=]+)\s*==?\s*(\S*)$/.exec(term);
    if (eq) return { op: 'eq', key: eq[1], value: eq[2] };
    const not = /^!\s*([^\s!=]+)$/.exec(term);
    if (not) return { op: 'notexists', key: not[1] };
    if (/^[^\s!=()]+$/.test(term)) return { op: 'exists', key: term };
    throw badRequest(`unable to parse requirement: "${term}"`);
  });
}

export function matchLabels(reqs: LabelRequirement[], labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  return reqs.every((r) => {
    const has = Object.hasOwn(l, r.key);
    switch (r.op) {
      case 'eq':
        return has && l[r.key] === r.value;
      case 'neq':
        return !has || l[r.key] !== r.value;
      case 'in':
        return has && r.values.includes(l[r.key]);
      case 'notin':
        return !has || !r.values.includes(l[r.key]);
      case 'exists':
        return has;
      case 'notexists':
        return !has;
    }
  });
}

export interface FieldRequirement {
  field: string;
  value: string;
  negate: boolean;
}

export function parseFieldSelector(s: string | undefined): FieldRequirement[] {
  if (!s) return [];
  return s
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '')
    .map((term) => {
      const m = /^([^!=\s]+)\s*(!=|==|=)\s*(.*)$/.exec(term);
      if (!m) throw badRequest(`invalid field selector: "${term}"`);
      return { field: m[1], value: m[3], negate: m[2] === '!=' };
    });
}

/** Reads a dotted path (`spec.nodeName`) as a string; absent = '' like the apiserver's field sets. */
export function fieldValue(obj: KubeObject, path: string): string {
  let cur: unknown = obj;
  for (const part of path.split('.')) {
    if (typeof cur !== 'object' || cur === null) return '';
    cur = (cur as Record<string, unknown>)[part];
  }
  if (cur === undefined || cur === null) return '';
  return typeof cur === 'string' ? cur : String(cur);
}

export function matchFields(reqs: FieldRequirement[], obj: KubeObject): boolean {
  return reqs.every((r) => (fieldValue(obj, r.field) === r.value) !== r.negate);
}
