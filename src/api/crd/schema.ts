import type { FieldCause } from '../../lib/errors.ts';
import { child, forbidden, formatBadValue, index, invalid, key, notSupported, required } from '../meta/field-errors.ts';
import { isPlainObject } from '../object.ts';
import { jsonEqual } from '../patch/index.ts';
import type { Json } from '../object.ts';

/**
 * The OpenAPI v3 subset a CustomResourceDefinition's `openAPIV3Schema` may use (apiextensions
 * JSONSchemaProps), and the three things the apiserver does with it: validate a value, prune
 * fields the schema does not specify, and fill `default`s. Upstream does these in
 * apiextensions-apiserver/pkg/apiserver/schema (structural, pruning, defaulting) and
 * kube-openapi's validate package; messages follow theirs ("spec.replicas in body should be ...").
 */
export interface JSONSchemaProps {
  type?: string;
  format?: string;
  description?: string;
  title?: string;
  properties?: Record<string, JSONSchemaProps>;
  additionalProperties?: JSONSchemaProps | boolean;
  items?: JSONSchemaProps;
  required?: string[];
  enum?: Json[];
  default?: Json;
  nullable?: boolean;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  exclusiveMaximum?: boolean;
  multipleOf?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
  minProperties?: number;
  maxProperties?: number;
  allOf?: JSONSchemaProps[];
  anyOf?: JSONSchemaProps[];
  oneOf?: JSONSchemaProps[];
  not?: JSONSchemaProps;
  example?: Json;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-embedded-resource'?: boolean;
  'x-kubernetes-list-type'?: string;
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-map-type'?: string;
  [other: string]: unknown;
}

const TYPES = ['object', 'array', 'string', 'integer', 'number', 'boolean'];
/** JSON-Schema keywords upstream forbids in CRD schemas (not structural, or not supported). */
const FORBIDDEN = ['$ref', '$schema', 'id', 'definitions', 'dependencies', 'additionalItems', 'patternProperties'];
/** value-validation keywords: allowed inside allOf/anyOf/oneOf/not, where types and shapes are not */
const SHAPE_KEYS = ['type', 'properties', 'items', 'additionalProperties', 'default', 'nullable', 'description', 'title',
  'x-kubernetes-preserve-unknown-fields', 'x-kubernetes-embedded-resource', 'x-kubernetes-int-or-string'];

// ----------------------------------------------------------------------------- structural check

/**
 * Upstream's structural-schema rules (plus the forbidden keywords). `path` is the field path of
 * the schema itself, e.g. `spec.versions[0].schema.openAPIV3Schema`.
 */
export function validateStructuralSchema(schema: unknown, path: string): FieldCause[] {
  const errs: FieldCause[] = [];
  if (!isPlainObject(schema)) return [invalid(path, schema, 'must be an object')];
  const s = schema as JSONSchemaProps;
  if (s.type !== 'object') errs.push(invalid(child(path, 'type'), s.type ?? '', 'must be object at the root'));
  walkStructural(s, path, errs, { root: true });
  if (isPlainObject(s.properties?.metadata)) {
    const md = s.properties.metadata;
    for (const name of Object.keys(md.properties ?? {})) {
      if (name !== 'name' && name !== 'generateName') {
        errs.push(forbidden(child(child(path, 'properties[metadata]'), `properties[${name}]`), 'must not be specified, only name and generateName are allowed'));
      }
    }
  }
  return errs;
}

function walkStructural(s: JSONSchemaProps, path: string, errs: FieldCause[], at: { root?: boolean; junctor?: boolean }): void {
  for (const k of FORBIDDEN) if (k in s) errs.push(forbidden(child(path, k), `${k} is not supported`));
  if (s.type !== undefined && (typeof s.type !== 'string' || !TYPES.includes(s.type))) {
    errs.push(notSupported(child(path, 'type'), s.type, TYPES));
  }
  const intOrString = s['x-kubernetes-int-or-string'] === true;
  const preserve = s['x-kubernetes-preserve-unknown-fields'] === true;
  if (at.junctor) {
    for (const k of SHAPE_KEYS) {
      if (k in s && k !== 'properties' && k !== 'items' && k !== 'description') errs.push(forbidden(child(path, k), 'must be empty to be structural'));
    }
  } else if (!s.type && !intOrString && !preserve && !at.root) {
    errs.push(required(child(path, 'type'), 'must not be empty for specified object fields'));
  }
  if (intOrString && s.type !== undefined) errs.push(forbidden(child(path, 'type'), 'must be empty for x-kubernetes-int-or-string'));
  if (s['x-kubernetes-embedded-resource'] === true && s.type !== 'object') {
    errs.push(required(child(path, 'type'), 'must be object if x-kubernetes-embedded-resource is true'));
  }
  if (s.properties !== undefined && s.additionalProperties !== undefined && s.additionalProperties !== true) {
    errs.push(forbidden(child(path, 'additionalProperties'), 'additionalProperties and properties are mutual exclusive'));
  }
  if (s.type === 'array' && !at.junctor && s.items === undefined) errs.push(required(child(path, 'items'), 'must be specified'));
  if (s.items !== undefined) {
    if (Array.isArray(s.items)) errs.push(forbidden(child(path, 'items'), 'items must be a schema object and not an array'));
    else if (isPlainObject(s.items)) walkStructural(s.items as JSONSchemaProps, child(path, 'items'), errs, { junctor: at.junctor });
  }
  if (s.properties !== undefined) {
    if (!isPlainObject(s.properties)) errs.push(invalid(child(path, 'properties'), s.properties, 'must be an object'));
    else {
      for (const [name, p] of Object.entries(s.properties)) {
        const pp = child(path, `properties[${name}]`);
        if (!isPlainObject(p)) errs.push(invalid(pp, p, 'must be an object'));
        else walkStructural(p as JSONSchemaProps, pp, errs, { junctor: at.junctor });
      }
    }
  }
  if (isPlainObject(s.additionalProperties)) {
    walkStructural(s.additionalProperties as JSONSchemaProps, child(path, 'additionalProperties'), errs, { junctor: at.junctor });
  }
  if (s.pattern !== undefined) {
    try {
      new RegExp(String(s.pattern), 'u');
    } catch (e) {
      errs.push(invalid(child(path, 'pattern'), s.pattern, `must be a valid regular expression, but isn't: ${(e as Error).message}`));
    }
  }
  for (const j of ['allOf', 'anyOf', 'oneOf'] as const) {
    const list = s[j];
    if (list === undefined) continue;
    if (!Array.isArray(list)) errs.push(invalid(child(path, j), list, 'must be an array'));
    else list.forEach((x, i) => isPlainObject(x) && walkStructural(x as JSONSchemaProps, index(child(path, j), i), errs, { junctor: true }));
  }
  if (isPlainObject(s.not)) walkStructural(s.not, child(path, 'not'), errs, { junctor: true });
  if (s.default !== undefined && !at.junctor) {
    if (at.root) errs.push(forbidden(child(path, 'default'), 'must not be set at the root'));
    else {
      for (const c of validateValue(s, s.default, child(path, 'default'))) errs.push(c);
    }
  }
}

// ----------------------------------------------------------------------------- validation

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

/** kube-openapi's "in body" messages name the field; the root is just "body". */
function bodyName(path: string): string {
  return path || 'body';
}

/** Validate `value` at `path` against `s`; causes use upstream's field paths and wording. */
export function validateValue(s: JSONSchemaProps, value: unknown, path: string): FieldCause[] {
  const errs: FieldCause[] = [];
  check(s, value, path, errs);
  return errs;
}

function check(s: JSONSchemaProps, v: unknown, path: string, errs: FieldCause[]): void {
  if (v === null) {
    if (s.nullable || (s['x-kubernetes-preserve-unknown-fields'] && !s.type)) return;
    if (s.type) errs.push(invalid(path, 'null', `${bodyName(path)} in body must be of type ${s.type}: "null"`));
    return;
  }
  const t = typeOf(v);
  if (s['x-kubernetes-int-or-string']) {
    if (t !== 'integer' && t !== 'string') errs.push(invalid(path, v, `${bodyName(path)} in body must be of type integer or string: "${t}"`));
  } else if (s.type) {
    const ok = s.type === t || (s.type === 'number' && t === 'integer');
    if (!ok) {
      errs.push(invalid(path, t, `${bodyName(path)} in body must be of type ${s.type}: "${t}"`));
      return;
    }
  }
  if (s.enum !== undefined && Array.isArray(s.enum) && !s.enum.some((e) => jsonEqual(e, v as Json))) {
    errs.push(notSupported(path, v, s.enum.map((e) => (typeof e === 'string' ? e : JSON.stringify(e)))));
  }
  if (typeof v === 'number') checkNumber(s, v, path, errs);
  if (typeof v === 'string') checkString(s, v, path, errs);
  if (Array.isArray(v)) {
    if (s.minItems !== undefined && v.length < s.minItems) errs.push(invalid(path, v.length, `${bodyName(path)} in body should have at least ${s.minItems} items`));
    if (s.maxItems !== undefined && v.length > s.maxItems) {
      errs.push({ field: path, reason: 'FieldValueTooMany', message: `Too many: ${v.length}: must have at most ${s.maxItems} items` });
    }
    if (s.uniqueItems) {
      for (let i = 1; i < v.length; i++) {
        if (v.slice(0, i).some((x) => jsonEqual(x as Json, v[i] as Json))) {
          errs.push({ field: index(path, i), reason: 'FieldValueDuplicate', message: `Duplicate value: ${formatBadValue(v[i])}` });
        }
      }
    }
    if (s.items) v.forEach((x, i) => check(s.items as JSONSchemaProps, x, index(path, i), errs));
  }
  if (isPlainObject(v)) checkObject(s, v, path, errs);
  for (const sub of s.allOf ?? []) check(sub, v, path, errs);
  if (s.anyOf && !s.anyOf.some((sub) => validateValue(sub, v, path).length === 0)) {
    errs.push(invalid(path, v, `${bodyName(path)} in body must match at least one schema in anyOf`));
  }
  if (s.oneOf && s.oneOf.filter((sub) => validateValue(sub, v, path).length === 0).length !== 1) {
    errs.push(invalid(path, v, `${bodyName(path)} in body must match exactly one schema in oneOf`));
  }
  if (s.not && validateValue(s.not, v, path).length === 0) errs.push(invalid(path, v, `${bodyName(path)} in body must not match the schema in not`));
}

function checkNumber(s: JSONSchemaProps, v: number, path: string, errs: FieldCause[]): void {
  const name = bodyName(path);
  if (s.maximum !== undefined) {
    if (s.exclusiveMaximum ? v >= s.maximum : v > s.maximum) {
      errs.push(invalid(path, v, `${name} in body should be less than ${s.exclusiveMaximum ? '' : 'or equal to '}${s.maximum}`));
    }
  }
  if (s.minimum !== undefined) {
    if (s.exclusiveMinimum ? v <= s.minimum : v < s.minimum) {
      errs.push(invalid(path, v, `${name} in body should be greater than ${s.exclusiveMinimum ? '' : 'or equal to '}${s.minimum}`));
    }
  }
  if (s.multipleOf !== undefined && s.multipleOf > 0 && !Number.isInteger(v / s.multipleOf)) {
    errs.push(invalid(path, v, `${name} in body should be a multiple of ${s.multipleOf}`));
  }
}

const regexps = new Map<string, RegExp | null>();
function compiled(pattern: string): RegExp | null {
  let r = regexps.get(pattern);
  if (r === undefined) {
    try {
      r = new RegExp(pattern, 'u');
    } catch {
      r = null;
    }
    if (regexps.size > 1000) regexps.clear();
    regexps.set(pattern, r);
  }
  return r;
}

function checkString(s: JSONSchemaProps, v: string, path: string, errs: FieldCause[]): void {
  const name = bodyName(path);
  const len = [...v].length;
  if (s.maxLength !== undefined && len > s.maxLength) {
    errs.push({ field: path, reason: 'FieldValueTooLong', message: `Too long: may not be more than ${s.maxLength} bytes` });
  }
  if (s.minLength !== undefined && len < s.minLength) errs.push(invalid(path, v, `${name} in body should be at least ${s.minLength} chars long`));
  if (s.pattern !== undefined) {
    const r = compiled(s.pattern);
    if (r && !r.test(v)) errs.push(invalid(path, v, `${name} in body should match '${s.pattern}'`));
  }
  if (s.format === 'date-time' && Number.isNaN(Date.parse(v))) errs.push(invalid(path, v, `${name} in body must be of type date-time: "${v}"`));
}

function checkObject(s: JSONSchemaProps, v: Record<string, unknown>, path: string, errs: FieldCause[]): void {
  const name = bodyName(path);
  for (const r of s.required ?? []) {
    if (!(r in v)) errs.push(required(child(path, r)));
  }
  const n = Object.keys(v).length;
  if (s.maxProperties !== undefined && n > s.maxProperties) errs.push({ field: path, reason: 'FieldValueTooMany', message: `Too many: ${n}: must have at most ${s.maxProperties} items` });
  if (s.minProperties !== undefined && n < s.minProperties) errs.push(invalid(path, n, `${name} in body should have at least ${s.minProperties} properties`));
  for (const [k, x] of Object.entries(v)) {
    const p = s.properties?.[k];
    if (p) check(p, x, child(path, k), errs);
    else if (isPlainObject(s.additionalProperties)) check(s.additionalProperties as JSONSchemaProps, x, key(path, k), errs);
  }
  if (s['x-kubernetes-embedded-resource']) {
    if (typeof v.apiVersion !== 'string' || v.apiVersion === '') errs.push(required(child(path, 'apiVersion'), 'must not be empty'));
    if (typeof v.kind !== 'string' || v.kind === '') errs.push(required(child(path, 'kind'), 'must not be empty'));
  }
}

// ----------------------------------------------------------------------------- pruning

/**
 * Drop fields the schema does not specify, in place, unless x-kubernetes-preserve-unknown-fields
 * keeps them. Returns the dropped paths (for fieldValidation Warn/Strict). `apiVersion`, `kind`
 * and `metadata` of the root (and of embedded resources) are always kept.
 */
export function prune(s: JSONSchemaProps, value: unknown, path = '', root = true): string[] {
  const dropped: string[] = [];
  pruneInto(s, value, path, root, dropped);
  return dropped;
}

function pruneInto(s: JSONSchemaProps, v: unknown, path: string, keepMeta: boolean, dropped: string[]): void {
  if (Array.isArray(v)) {
    if (s.items) v.forEach((x, i) => pruneInto(s.items as JSONSchemaProps, x, index(path, i), false, dropped));
    return;
  }
  if (!isPlainObject(v)) return;
  const embedded = s['x-kubernetes-embedded-resource'] === true;
  const preserve = s['x-kubernetes-preserve-unknown-fields'] === true;
  for (const [k, x] of Object.entries(v)) {
    const p = s.properties?.[k];
    if ((keepMeta || embedded) && (k === 'apiVersion' || k === 'kind' || k === 'metadata')) {
      if (p && k !== 'metadata') pruneInto(p, x, child(path, k), false, dropped);
      continue;
    }
    if (p) pruneInto(p, x, child(path, k), false, dropped);
    else if (isPlainObject(s.additionalProperties)) pruneInto(s.additionalProperties as JSONSchemaProps, x, key(path, k), false, dropped);
    else if (s.additionalProperties === true || preserve) continue;
    else {
      delete v[k];
      dropped.push(child(path, k));
    }
  }
}

// ----------------------------------------------------------------------------- defaulting

/** Fill `default`s of absent properties, in place (upstream: after pruning, on read and write). */
export function applyDefaults(s: JSONSchemaProps, v: unknown): void {
  if (Array.isArray(v)) {
    if (s.items) for (const x of v) applyDefaults(s.items, x);
    return;
  }
  if (!isPlainObject(v)) return;
  for (const [k, p] of Object.entries(s.properties ?? {})) {
    if (!(k in v) && p.default !== undefined) v[k] = structuredClone(p.default);
    if (k in v) applyDefaults(p, v[k]);
  }
  if (isPlainObject(s.additionalProperties)) {
    for (const [k, x] of Object.entries(v)) if (!s.properties?.[k]) applyDefaults(s.additionalProperties as JSONSchemaProps, x);
  }
}
