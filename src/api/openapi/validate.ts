import type { FieldCause } from '../../lib/errors.ts';
import { isPlainObject } from '../object.ts';
import { refTarget, type Definitions, type SchemaObject } from './definitions.ts';

export interface SchemaValidationResult {
  /**
   * Paths of fields the schema does not know, formatted like upstream strict decoding
   * (`spec.containers[0].imagePullPolic`); the apiserver reports each as
   * `unknown field "<path>"`.
   */
  unknownFields: string[];
  /** values of the wrong JSON type (FieldValueTypeInvalid), e.g. a string where an integer goes */
  typeErrors: FieldCause[];
}

/**
 * Walk `obj` against definition `definitionName`. Mirrors what kube-apiserver's decoder
 * notices: unknown fields (for fieldValidation=Strict/Warn) and values that would not decode
 * into the Go type. It does not check required fields or formats: that is validation proper.
 */
export function validateAgainstSchema(definitions: Definitions, definitionName: string, obj: unknown): SchemaValidationResult {
  const result: SchemaValidationResult = { unknownFields: [], typeErrors: [] };
  const root = definitions[definitionName];
  if (!root) throw new Error(`no OpenAPI definition named ${definitionName}`);
  walk(definitions, root, obj, undefined, result);
  return result;
}

/**
 * Where a value is, as a chain of steps up to the root: the walk visits every field of the body,
 * and only a field it reports needs its path written out.
 */
interface Path {
  readonly up: Path | undefined;
  /** a field name, or an index of a list */
  readonly step: string | number;
}

/** `spec.containers[0].image` */
function pathText(p: Path | undefined): string {
  if (p === undefined) return '';
  const up = pathText(p.up);
  if (typeof p.step === 'number') return `${up}[${p.step}]`;
  return up ? `${up}.${p.step}` : p.step;
}

function jsonType(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (v === null) return 'null';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function typeError(result: SchemaValidationResult, at: Path | undefined, value: unknown, expected: string): void {
  const path = pathText(at);
  const shown = isPlainObject(value) || Array.isArray(value) ? jsonType(value) : JSON.stringify(value);
  result.typeErrors.push({
    field: path || '<root>',
    reason: 'FieldValueTypeInvalid',
    message: `Invalid value: ${shown}: ${path || 'body'} in body must be of type ${expected}: "${jsonType(value)}"`,
  });
}

function resolve(definitions: Definitions, schema: SchemaObject): SchemaObject {
  let s = schema;
  // a $ref may carry only a description beside it; the referenced schema is the type
  for (let depth = 0; s.$ref && depth < 8; depth++) {
    const target = definitions[refTarget(s.$ref)];
    if (!target) return {};
    s = target;
  }
  return s;
}

function walk(definitions: Definitions, schemaIn: SchemaObject, value: unknown, path: Path | undefined, result: SchemaValidationResult): void {
  // null decodes to the zero value of any Go field
  if (value === null || value === undefined) return;
  const schema = resolve(definitions, schemaIn);
  if (schema['x-kubernetes-int-or-string']) {
    if (typeof value !== 'string' && typeof value !== 'number') typeError(result, path, value, 'string');
    else if (schema.format === 'int-or-string' && typeof value === 'number' && !Number.isInteger(value)) {
      typeError(result, path, value, 'integer');
    }
    return;
  }
  switch (schema.type) {
    case 'string':
      if (typeof value !== 'string') typeError(result, path, value, 'string');
      return;
    case 'boolean':
      if (typeof value !== 'boolean') typeError(result, path, value, 'boolean');
      return;
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value)) typeError(result, path, value, 'integer');
      return;
    case 'number':
      if (typeof value !== 'number') typeError(result, path, value, 'number');
      return;
    case 'array': {
      if (!Array.isArray(value)) {
        typeError(result, path, value, 'array');
        return;
      }
      if (schema.items) {
        const items = resolve(definitions, schema.items);
        // a null element of a list of structs would reach defaulting and validation as null: refuse it here
        const structs = items.type === 'object' || (items.type === undefined && !!items.properties);
        for (let i = 0; i < value.length; i++) {
          if (value[i] === null && structs) typeError(result, { up: path, step: i }, value[i], 'object');
          else walk(definitions, schema.items, value[i], { up: path, step: i }, result);
        }
      }
      return;
    }
    case 'object':
    case undefined:
      break;
    default:
      return;
  }
  if (schema.type === undefined && !schema.properties && !schema.additionalProperties) return;
  if (!isPlainObject(value)) {
    typeError(result, path, value, 'object');
    return;
  }
  const { properties, additionalProperties } = schema;
  if (properties) {
    for (const key of Object.keys(value)) {
      const prop = properties[key];
      if (prop) walk(definitions, prop, value[key], { up: path, step: key }, result);
      else if (!schema['x-kubernetes-preserve-unknown-fields']) result.unknownFields.push(pathText({ up: path, step: key }));
    }
    return;
  }
  if (additionalProperties && typeof additionalProperties === 'object') {
    for (const key of Object.keys(value)) walk(definitions, additionalProperties, value[key], { up: path, step: key }, result);
  }
  // an object schema with neither properties nor additionalProperties is free-form (RawExtension, FieldsV1)
}
