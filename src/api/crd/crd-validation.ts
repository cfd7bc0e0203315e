import type { FieldCause } from '../../lib/errors.ts';
import { child, duplicate, forbidden, index, invalid, notSupported, required } from '../meta/field-errors.ts';
import { isDNS1035Label, isDNS1123Subdomain } from '../meta/name-formats.ts';
import { isPlainObject, type KubeObject } from '../object.ts';
import { validateStructuralSchema, type JSONSchemaProps } from './schema.ts';
import type { CrdObject } from './types.ts';
import { compileRuleTree } from './validation-rules.ts';

const COLUMN_TYPES = ['integer', 'number', 'string', 'boolean', 'date'];

/**
 * ValidateCustomResourceDefinition (apiextensions-apiserver/pkg/apis/apiextensions/validation),
 * the parts hedge serves: names, group, scope, versions (exactly one storage version), structural
 * schemas, subresources, printer columns and selectable fields; on update, the immutable fields.
 */
export function validateCrd(obj: KubeObject, old?: KubeObject): FieldCause[] {
  const errs: FieldCause[] = [];
  const spec = obj.spec;
  if (!isPlainObject(spec)) return [required('spec')];
  const crd = obj as CrdObject;
  const s = crd.spec;
  const group = typeof s.group === 'string' ? s.group : '';
  if (!group) errs.push(required('spec.group'));
  else {
    for (const m of isDNS1123Subdomain(group)) errs.push(invalid('spec.group', group, m));
    if (!group.includes('.')) errs.push(invalid('spec.group', group, 'should be a domain with at least one dot'));
  }
  if (s.scope !== 'Namespaced' && s.scope !== 'Cluster') errs.push(notSupported('spec.scope', s.scope ?? '', ['Cluster', 'Namespaced']));
  errs.push(...validateNames(s.names, 'spec.names'));
  const plural = isPlainObject(s.names) && typeof s.names.plural === 'string' ? s.names.plural : '';
  if (obj.metadata.name !== `${plural}.${group}`) {
    errs.push(invalid('metadata.name', obj.metadata.name ?? '', 'must be spec.names.plural+"."+spec.group'));
  }
  if (s.conversion !== undefined) {
    const strategy = isPlainObject(s.conversion) ? s.conversion.strategy : undefined;
    if (strategy !== 'None') errs.push(notSupported('spec.conversion.strategy', strategy ?? '', ['None']));
  }
  if (s.preserveUnknownFields === true) errs.push(invalid('spec.preserveUnknownFields', true, 'must be false in v1'));
  errs.push(...validateVersions(crd));
  if (old) {
    const o = (old as CrdObject).spec;
    if (o.group !== s.group) errs.push(invalid('spec.group', s.group, 'field is immutable'));
    if (o.scope !== s.scope) errs.push(invalid('spec.scope', s.scope, 'field is immutable'));
    if (o.names?.plural !== s.names?.plural) errs.push(invalid('spec.names.plural', s.names?.plural, 'field is immutable'));
    if (o.names?.kind !== s.names?.kind) errs.push(invalid('spec.names.kind', s.names?.kind, 'field is immutable'));
  }
  return errs;
}

function validateNames(names: unknown, path: string): FieldCause[] {
  const errs: FieldCause[] = [];
  if (!isPlainObject(names)) return [required(path)];
  const label = (field: string, v: unknown, req: boolean): void => {
    const p = child(path, field);
    if (v === undefined || v === '') {
      if (req) errs.push(required(p));
      return;
    }
    if (typeof v !== 'string') {
      errs.push(invalid(p, v, 'must be a string'));
      return;
    }
    for (const m of isDNS1035Label(v)) errs.push(invalid(p, v, m));
  };
  label('plural', names.plural, true);
  label('singular', names.singular, false);
  const kind = names.kind;
  if (typeof kind !== 'string' || kind === '') errs.push(required(child(path, 'kind')));
  else for (const m of isDNS1035Label(kind.toLowerCase())) errs.push(invalid(child(path, 'kind'), kind, m));
  if (names.listKind !== undefined) {
    if (typeof names.listKind !== 'string' || names.listKind === '') errs.push(invalid(child(path, 'listKind'), names.listKind, 'must not be empty'));
    else if (names.listKind === kind) errs.push(invalid(child(path, 'listKind'), names.listKind, 'kind and listKind may not be the same'));
  }
  for (const [field, list] of [['shortNames', names.shortNames], ['categories', names.categories]] as const) {
    if (list === undefined) continue;
    if (!Array.isArray(list)) {
      errs.push(invalid(child(path, field), list, 'must be a list'));
      continue;
    }
    list.forEach((v: unknown, i: number) => {
      const p = index(child(path, field), i);
      if (typeof v !== 'string') errs.push(invalid(p, v, 'must be a string'));
      else if (field === 'shortNames') for (const m of isDNS1035Label(v)) errs.push(invalid(p, v, m));
      if (list.indexOf(v) !== i) errs.push(duplicate(p, v));
    });
  }
  return errs;
}

function validateVersions(crd: CrdObject): FieldCause[] {
  const errs: FieldCause[] = [];
  const versions: unknown = crd.spec.versions;
  if (!Array.isArray(versions) || versions.length === 0) return [required('spec.versions', 'must have exactly one version marked as storage version')];
  let storage = 0;
  let served = 0;
  const seen = new Set<string>();
  versions.forEach((v: unknown, i: number) => {
    const p = index('spec.versions', i);
    if (!isPlainObject(v)) {
      errs.push(invalid(p, v, 'must be an object'));
      return;
    }
    if (typeof v.name !== 'string' || v.name === '') errs.push(required(child(p, 'name')));
    else {
      for (const m of isDNS1035Label(v.name)) errs.push(invalid(child(p, 'name'), v.name, m));
      if (seen.has(v.name)) errs.push(duplicate(child(p, 'name'), v.name));
      seen.add(v.name);
    }
    if (typeof v.served !== 'boolean') errs.push(required(child(p, 'served')));
    if (typeof v.storage !== 'boolean') errs.push(required(child(p, 'storage')));
    if (v.storage === true) storage++;
    if (v.served === true) served++;
    const schema = isPlainObject(v.schema) ? v.schema.openAPIV3Schema : undefined;
    const sp = child(child(p, 'schema'), 'openAPIV3Schema');
    if (schema === undefined) errs.push(required(sp, 'schemas are required'));
    else {
      const structural = validateStructuralSchema(schema, sp);
      errs.push(...structural);
      // rules are compiled against a structural schema only, as upstream does
      if (structural.length === 0) errs.push(...compileRuleTree(schema as JSONSchemaProps, sp).errors);
    }
    errs.push(...validateSubresources(v.subresources, child(p, 'subresources')));
    errs.push(...validateColumns(v.additionalPrinterColumns, child(p, 'additionalPrinterColumns')));
    errs.push(...validateSelectableFields(v.selectableFields, child(p, 'selectableFields')));
  });
  if (storage !== 1) errs.push(invalid('spec.versions', versions.map((v: unknown) => (isPlainObject(v) ? v.name : v)), 'must have exactly one version marked as storage version'));
  if (served === 0) errs.push(invalid('spec.versions', versions.map((v: unknown) => (isPlainObject(v) ? v.name : v)), 'must have at least one version marked as served'));
  return errs;
}

/** a simple JSON path without array notation, as upstream requires for scale and selectable fields */
function simplePath(p: unknown): boolean {
  return typeof p === 'string' && /^(\.[A-Za-z0-9_-]+)+$/.test(p);
}

function validateSubresources(sub: unknown, path: string): FieldCause[] {
  if (sub === undefined) return [];
  if (!isPlainObject(sub)) return [invalid(path, sub, 'must be an object')];
  const errs: FieldCause[] = [];
  for (const k of Object.keys(sub)) if (k !== 'status' && k !== 'scale') errs.push(forbidden(child(path, k), 'unknown subresource'));
  if (sub.scale !== undefined) {
    const sc = sub.scale;
    const p = child(path, 'scale');
    if (!isPlainObject(sc)) return [...errs, invalid(p, sc, 'must be an object')];
    if (sc.specReplicasPath === undefined) errs.push(required(child(p, 'specReplicasPath')));
    else if (!simplePath(sc.specReplicasPath) || !String(sc.specReplicasPath).startsWith('.spec.')) {
      errs.push(invalid(child(p, 'specReplicasPath'), sc.specReplicasPath, 'should be a json path under .spec'));
    }
    if (sc.statusReplicasPath === undefined) errs.push(required(child(p, 'statusReplicasPath')));
    else if (!simplePath(sc.statusReplicasPath) || !String(sc.statusReplicasPath).startsWith('.status.')) {
      errs.push(invalid(child(p, 'statusReplicasPath'), sc.statusReplicasPath, 'should be a json path under .status'));
    }
    if (sc.labelSelectorPath !== undefined && (!simplePath(sc.labelSelectorPath) || !/^\.(spec|status)\./.test(String(sc.labelSelectorPath)))) {
      errs.push(invalid(child(p, 'labelSelectorPath'), sc.labelSelectorPath, 'should be a json path under either .spec or .status'));
    }
  }
  return errs;
}

function validateColumns(cols: unknown, path: string): FieldCause[] {
  if (cols === undefined) return [];
  if (!Array.isArray(cols)) return [invalid(path, cols, 'must be a list')];
  const errs: FieldCause[] = [];
  cols.forEach((c: unknown, i: number) => {
    const p = index(path, i);
    if (!isPlainObject(c)) {
      errs.push(invalid(p, c, 'must be an object'));
      return;
    }
    if (typeof c.name !== 'string' || c.name === '') errs.push(required(child(p, 'name')));
    if (!COLUMN_TYPES.includes(c.type as string)) errs.push(notSupported(child(p, 'type'), c.type ?? '', COLUMN_TYPES));
    if (typeof c.jsonPath !== 'string' || c.jsonPath === '') errs.push(required(child(p, 'jsonPath')));
    else if (!c.jsonPath.startsWith('.')) errs.push(invalid(child(p, 'jsonPath'), c.jsonPath, 'must be a simple json path starting with .'));
    if (c.priority !== undefined && (typeof c.priority !== 'number' || c.priority < 0)) errs.push(invalid(child(p, 'priority'), c.priority, 'must be a non-negative integer'));
  });
  return errs;
}

function validateSelectableFields(fields: unknown, path: string): FieldCause[] {
  if (fields === undefined) return [];
  if (!Array.isArray(fields)) return [invalid(path, fields, 'must be a list')];
  const errs: FieldCause[] = [];
  fields.forEach((f: unknown, i: number) => {
    const p = child(index(path, i), 'jsonPath');
    const jp = isPlainObject(f) ? f.jsonPath : undefined;
    if (!simplePath(jp)) errs.push(invalid(p, jp ?? '', 'must be a simple json path without array notation'));
    else if (jp === '.metadata.name' || jp === '.metadata.namespace') errs.push(forbidden(p, 'metadata.name and metadata.namespace are always selectable'));
  });
  return errs;
}
