import type { CustomResourceColumnDefinition } from 'kubernetes-types/apiextensions/v1.js';
import type { FieldCause } from '../../lib/errors.ts';
import { invalid } from '../meta/field-errors.ts';
import { isPlainObject, type Json, type KubeObject } from '../object.ts';
import { jsonEqual } from '../patch/index.ts';
import type { ResourceDef, TableColumn, TableDef } from '../resources/types.ts';
import { ageColumn, nameColumn, NAME_DESCRIPTION } from '../table/columns.ts';
import { since } from '../table/duration.ts';
import { applyDefaults, prune, validateValue, type JSONSchemaProps } from './schema.ts';
import type { CrdObject, CrdVersion } from './types.ts';
import { compileRuleTree, evaluateRuleTree } from './validation-rules.ts';

const ALL_VERBS: ResourceDef['verbs'] = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
const ROOT_KEYS = new Set(['apiVersion', 'kind', 'metadata']);
const RULES_NOT_CHECKED = 'some validation rules were not checked because the object was invalid; correct the existing errors to complete validation';

/** One ResourceDef per served version of an (accepted) CRD; conversion is None, so each is the stored shape. */
export function customResourceDefs(crd: CrdObject): ResourceDef[] {
  const s = crd.spec;
  const storage = s.versions.find((v) => v.storage)?.name ?? s.versions[0]?.name ?? '';
  return s.versions.filter((v) => v.served).map((v) => versionDef(crd, v, storage));
}

function versionDef(crd: CrdObject, v: CrdVersion, storageVersion: string): ResourceDef {
  const s = crd.spec;
  const names = s.names;
  const schema: JSONSchemaProps = v.schema?.openAPIV3Schema ?? { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
  const hasStatus = v.subresources?.status !== undefined;
  // compiled here, once per CRD generation (the controller rebuilds the defs when it changes)
  const rules = compileRuleTree(schema, '').tree;
  const subresources: string[] = [];
  if (hasStatus) subresources.push('status');
  if (v.subresources?.scale) subresources.push('scale');
  const fieldSelectors: Record<string, (obj: KubeObject) => string> = {};
  for (const f of v.selectableFields ?? []) {
    const path = f.jsonPath.slice(1).split('.');
    fieldSelectors[path.join('.')] = (obj) => {
      const got = valueAt(obj, path);
      return got === undefined || got === null ? '' : typeof got === 'object' ? JSON.stringify(got) : String(got as string | number | boolean);
    };
  }
  const withoutMeta = (obj: KubeObject): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(obj)) if (!ROOT_KEYS.has(k) && !(hasStatus && k === 'status')) out[k] = x;
    return out;
  };
  return {
    group: s.group,
    version: v.name,
    kind: names.kind,
    listKind: names.listKind ?? `${names.kind}List`,
    plural: names.plural,
    singular: names.singular ?? names.kind.toLowerCase(),
    shortNames: names.shortNames ?? [],
    categories: names.categories ?? [],
    namespaced: s.scope === 'Namespaced',
    verbs: ALL_VERBS,
    subresources,
    hasStatus,
    defaults(obj) {
      prune(schema, obj);
      applyDefaults(schema, obj);
    },
    validate(obj, old): FieldCause[] {
      const body: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(obj)) if (!ROOT_KEYS.has(k)) body[k] = x;
      const rootSchema: JSONSchemaProps = { ...schema, required: (schema.required ?? []).filter((r) => !ROOT_KEYS.has(r)) };
      const errs = validateValue(rootSchema, body, '');
      if (!rules) return errs;
      // upstream runs the CEL rules only on an object the schema accepts
      if (errs.length > 0) return [...errs, invalid('<nil>', null, RULES_NOT_CHECKED)];
      return evaluateRuleTree(rules, obj, old);
    },
    fieldSelectors,
    table: printerTable(v.additionalPrinterColumns ?? []),
    generationChanged: (oldObj, newObj) => !jsonEqual(withoutMeta(oldObj) as Json, withoutMeta(newObj) as Json),
    custom: {
      crdName: crd.metadata.name ?? '',
      storageVersion,
      scale: v.subresources?.scale,
      unknownFields: (obj) => prune(schema, structuredClone(obj)),
    },
    openapiDefinitions: openapiDefinitions(s.group, v.name, names.kind, names.listKind ?? `${names.kind}List`, schema),
  };
}

// ----------------------------------------------------------------------------- table

/** kubectl's column wording for the CRD printer columns; `date` cells are ages, as upstream's table convertor makes them. */
function printerTable(cols: CustomResourceColumnDefinition[]): TableDef {
  const columns: TableColumn[] = [{ ...nameColumn(), description: NAME_DESCRIPTION }];
  const getters: ((obj: KubeObject, now: Date) => string | number | boolean | null)[] = [(obj) => obj.metadata.name ?? ''];
  for (const c of cols) {
    const type = c.type as TableColumn['type'];
    columns.push({ name: c.name, type, ...(c.format ? { format: c.format } : {}), description: c.description ?? '', priority: c.priority ?? 0 });
    const path = parseJsonPath(c.jsonPath);
    getters.push((obj, now) => {
      const vals = evaluate(obj, path);
      if (vals.length === 0) return null;
      if (type === 'date') return typeof vals[0] === 'string' ? since(vals[0], now) : null;
      if (vals.length === 1) {
        const x = vals[0];
        if (typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean') return x;
        return JSON.stringify(x);
      }
      return vals.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join(',');
    });
  }
  // upstream adds Age only when a CRD gives no printer columns (the CronTab example lists its own)
  if (cols.length === 0) {
    columns.push(ageColumn());
    getters.push((obj, now) => since(obj.metadata.creationTimestamp, now));
  }
  return { columns, row: (obj, now) => getters.map((g) => g(obj, now)) };
}

type Step = { kind: 'field'; name: string } | { kind: 'index'; i: number } | { kind: 'all' };

/** `.spec.a[0].b`, `.items[*].name`, optionally wrapped in `{}` (kubectl's JSONPath subset used by columns) */
export function parseJsonPath(expr: string): Step[] {
  let e = expr.trim();
  if (e.startsWith('{') && e.endsWith('}')) e = e.slice(1, -1);
  const steps: Step[] = [];
  const re = /\.([^.[\]]+)|\[(\d+|\*)\]|\['([^']+)'\]/g;
  for (const m of e.matchAll(re)) {
    if (m[1] !== undefined) steps.push({ kind: 'field', name: m[1] });
    else if (m[2] === '*') steps.push({ kind: 'all' });
    else if (m[2] !== undefined) steps.push({ kind: 'index', i: Number(m[2]) });
    else if (m[3] !== undefined) steps.push({ kind: 'field', name: m[3] });
  }
  return steps;
}

function evaluate(obj: unknown, steps: Step[]): unknown[] {
  let cur: unknown[] = [obj];
  for (const st of steps) {
    const next: unknown[] = [];
    for (const x of cur) {
      if (st.kind === 'field' && isPlainObject(x) && x[st.name] !== undefined) next.push(x[st.name]);
      else if (st.kind === 'index' && Array.isArray(x) && st.i < x.length) next.push(x[st.i]);
      else if (st.kind === 'all' && Array.isArray(x)) next.push(...(x as unknown[]));
    }
    cur = next;
  }
  return cur.filter((x) => x !== undefined && x !== null);
}

export function valueAt(obj: unknown, path: string[]): unknown {
  let cur = obj;
  for (const p of path) {
    if (!isPlainObject(cur)) return undefined;
    cur = cur[p];
  }
  return cur;
}

// ----------------------------------------------------------------------------- openapi

/** `stable.example.com` → `com.example.stable` (upstream's definition-name prefix for CRDs) */
function reversedGroup(group: string): string {
  return group.split('.').reverse().join('.');
}

/**
 * The kind and list definitions upstream publishes for a CRD version: the schema with apiVersion,
 * kind and metadata (ObjectMeta) filled in, tagged with its group-version-kind.
 */
function openapiDefinitions(group: string, version: string, kind: string, listKind: string, schema: JSONSchemaProps): Record<string, Record<string, unknown>> {
  const prefix = `${reversedGroup(group)}.${version}`;
  const gvk = (k: string): { group: string; version: string; kind: string }[] => [{ group, version, kind: k }];
  const apiVersion = { description: 'APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values.', type: 'string' };
  const kindProp = { description: 'Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to.', type: 'string' };
  const props = { ...(schema.properties ?? {}) } as Record<string, unknown>;
  props.apiVersion = apiVersion;
  props.kind = kindProp;
  props.metadata = { $ref: '#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta', description: "Standard object's metadata." };
  const obj: Record<string, unknown> = { ...stripForOpenapi(schema), properties: props, 'x-kubernetes-group-version-kind': gvk(kind) };
  const list: Record<string, unknown> = {
    description: `${listKind} is a list of ${kind}`,
    type: 'object',
    required: ['items'],
    properties: {
      apiVersion,
      items: { description: `List of ${kind.toLowerCase()}s.`, type: 'array', items: { $ref: `#/definitions/${prefix}.${kind}` } },
      kind: kindProp,
      metadata: { $ref: '#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta', description: 'Standard list metadata.' },
    },
    'x-kubernetes-group-version-kind': gvk(listKind),
  };
  return { [`${prefix}.${kind}`]: obj, [`${prefix}.${listKind}`]: list };
}

/** Drop what OpenAPI v2 cannot say (nullable; defaults stay as documentation). */
function stripForOpenapi(s: JSONSchemaProps): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s)) {
    if (k === 'nullable') continue;
    if (k === 'properties' && isPlainObject(v)) {
      const p: Record<string, unknown> = {};
      for (const [n, x] of Object.entries(v)) p[n] = stripForOpenapi(x as JSONSchemaProps);
      out[k] = p;
    } else if ((k === 'items' || k === 'additionalProperties' || k === 'not') && isPlainObject(v)) out[k] = stripForOpenapi(v as JSONSchemaProps);
    else if ((k === 'allOf' || k === 'anyOf' || k === 'oneOf') && Array.isArray(v)) out[k] = v.map((x) => stripForOpenapi(x as JSONSchemaProps));
    else out[k] = v;
  }
  return out;
}
