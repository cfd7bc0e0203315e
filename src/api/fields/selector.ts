import { HedgeError } from '../../lib/errors.ts';
import type { KubeObject } from '../object.ts';
import type { ResourceDef } from '../resources/types.ts';

export type FieldOperator = '=' | '==' | '!=';

export interface FieldRequirement {
  field: string;
  operator: FieldOperator;
  value: string;
}

export interface FieldSelector {
  requirements: FieldRequirement[];
}

/** Split on unescaped `sep` (upstream lets `\,` `\=` `\!` `\\` appear inside values). */
function splitUnescaped(s: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (ch === '\\' && i + 1 < s.length) {
      cur += ch + s[i + 1];
      i++;
    } else if (ch === sep) {
      out.push(cur);
      cur = '';
    } else {
      cur += ch;
    }
  }
  out.push(cur);
  return out;
}

function unescape(v: string): string {
  if (!v.includes('\\') && !/[=,]/.test(v)) return v;
  let out = '';
  for (let i = 0; i < v.length; i++) {
    const ch = v[i];
    if (ch === '\\') {
      const next = v[i + 1];
      if (next === undefined || !'\\,='.includes(next)) {
        throw new HedgeError('BadRequest', `invalid field selector: invalid escape sequence: \\${next ?? ''}`);
      }
      out += next;
      i++;
    } else if (ch === '=' || ch === ',') {
      throw new HedgeError('BadRequest', `invalid field selector: unescaped character '${ch}' in value`);
    } else {
      out += ch;
    }
  }
  return out;
}

/** Finds the first unescaped operator in a term; `!=` and `==` are tried before `=`. */
function splitTerm(term: string): [string, FieldOperator, string] | undefined {
  for (let i = 0; i < term.length; i++) {
    if (term[i] === '\\') {
      i++;
      continue;
    }
    for (const op of ['!=', '==', '='] as const) {
      if (term.startsWith(op, i)) return [term.slice(0, i), op, term.slice(i + op.length)];
    }
  }
  return undefined;
}

/**
 * Parses `?fieldSelector=` (fields.ParseSelector): `metadata.name=x,spec.nodeName!=y`.
 * Syntax only; use `checkFieldsSupported` to reject fields a resource does not index.
 */
export function parseFieldSelector(input: string): FieldSelector {
  const requirements: FieldRequirement[] = [];
  for (const raw of splitUnescaped(input, ',')) {
    const term = raw.trim();
    if (term === '') continue;
    const parts = splitTerm(term);
    if (!parts) throw new HedgeError('BadRequest', `invalid selector: '${input}'; can't understand '${term}'`);
    const [field, operator, value] = parts;
    requirements.push({ field: field.trim(), operator, value: unescape(value.trim()) });
  }
  return { requirements };
}

export function fieldSelectorToString(sel: FieldSelector): string {
  const esc = (v: string): string => v.replace(/[\\,=]/g, (c) => `\\${c}`);
  return sel.requirements.map((r) => `${r.field}${r.operator}${esc(r.value)}`).join(',');
}

/** The fields a resource can be selected on, with their string value for `obj`. */
export function fieldSet(def: Pick<ResourceDef, 'namespaced' | 'fieldSelectors'>, obj: KubeObject): Record<string, string> {
  const set: Record<string, string> = { 'metadata.name': obj.metadata?.name ?? '' };
  if (def.namespaced) set['metadata.namespace'] = obj.metadata?.namespace ?? '';
  for (const [field, get] of Object.entries(def.fieldSelectors ?? {})) set[field] = get(obj);
  return set;
}

export function supportedFields(def: Pick<ResourceDef, 'fieldSelectors'>): string[] {
  return ['metadata.name', 'metadata.namespace', ...Object.keys(def.fieldSelectors ?? {})];
}

/** Throws HedgeError('BadRequest', 'field label not supported: foo') like upstream's conversion funcs. */
export function checkFieldsSupported(sel: FieldSelector, def: Pick<ResourceDef, 'fieldSelectors'>): void {
  const ok = new Set(supportedFields(def));
  for (const r of sel.requirements) {
    if (!ok.has(r.field)) throw new HedgeError('BadRequest', `field label not supported: ${r.field}`);
  }
}

export function matchesFields(sel: FieldSelector, set: Readonly<Record<string, string>>): boolean {
  return sel.requirements.every((r) => {
    const v = set[r.field] ?? '';
    return r.operator === '!=' ? v !== r.value : v === r.value;
  });
}

/** The value a selector pins `field` to with = or ==, if any (lets callers use an index). */
export function exactMatch(sel: FieldSelector, field: string): string | undefined {
  for (const r of sel.requirements) if (r.field === field && r.operator !== '!=') return r.value;
  return undefined;
}

/** Parse + support check + matcher in one step, for the list/watch handlers. */
export function compileFieldSelector(
  input: string | undefined,
  def: Pick<ResourceDef, 'namespaced' | 'fieldSelectors'>,
): { selector: FieldSelector; matches(obj: KubeObject): boolean } {
  const selector = parseFieldSelector(input ?? '');
  checkFieldsSupported(selector, def);
  if (selector.requirements.length === 0) return { selector, matches: () => true };
  return { selector, matches: (obj) => matchesFields(selector, fieldSet(def, obj)) };
}
