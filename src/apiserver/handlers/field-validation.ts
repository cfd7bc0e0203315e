import { definitionNameFor, loadDefinitions, validateAgainstSchema, type Definitions } from '../../api/openapi/index.ts';
import { isPlainObject, type KubeObject } from '../../api/object.ts';
import type { ResourceDef } from '../../api/resources/types.ts';
import { HedgeError } from '../../lib/errors.ts';

export type FieldValidationMode = 'Strict' | 'Warn' | 'Ignore';

export interface FieldChecker {
  /**
   * Check a decoded body against the type's schema. Wrong JSON types are always a 400 (the
   * object could not be decoded); unknown fields are a 400 in Strict mode and warnings in Warn.
   * Returns the warnings to send.
   */
  check(def: ResourceDef, obj: unknown, mode: FieldValidationMode): string[];
}

export function parseFieldValidation(v: string | null): FieldValidationMode {
  if (v === null || v === '') return 'Warn';
  if (v === 'Strict' || v === 'Warn' || v === 'Ignore') return v;
  throw new HedgeError('BadRequest', `fieldValidation must be one of "Ignore", "Warn", or "Strict", got: ${v}`);
}

/**
 * FieldChecker backed by `given` or the generated upstream OpenAPI definitions, parsed on the
 * first check (see createPatchEngine).
 */
export function schemaFieldChecker(given?: Definitions): FieldChecker {
  // types that bring their own definitions (CRDs) are checked against base + theirs
  const merged = new WeakMap<ResourceDef, Definitions>();
  const definitionsFor = (def: ResourceDef): Definitions => {
    const base = given ?? loadDefinitions();
    if (!def.openapiDefinitions) return base;
    let d = merged.get(def);
    if (!d) {
      d = { ...base, ...(def.openapiDefinitions as Definitions) };
      merged.set(def, d);
    }
    return d;
  };
  return {
    check(def, obj, mode) {
      if (def.custom) {
        // custom resources: wrong types are 422s from the schema; unknown fields are what pruning drops
        if (mode === 'Ignore' || !isPlainObject(obj)) return [];
        return unknownFieldOutcome(def, def.custom.unknownFields(obj as KubeObject), mode);
      }
      const definitions = definitionsFor(def);
      const apiVersion = def.group ? `${def.group}/${def.version}` : def.version;
      const name = definitionNameFor(apiVersion, def.kind, definitions);
      if (!name) return [];
      const result = validateAgainstSchema(definitions, name, obj);
      if (result.typeErrors.length > 0) {
        const detail = result.typeErrors.map((c) => `${c.field}: ${c.message}`).join(', ');
        throw new HedgeError('BadRequest', `${def.kind} in version "${def.version}" cannot be handled as a ${def.kind}: ${detail}`, {
          details: { causes: result.typeErrors },
        });
      }
      if (mode === 'Ignore') return [];
      return unknownFieldOutcome(def, result.unknownFields, mode);
    },
  };
}

function unknownFieldOutcome(def: ResourceDef, unknownFields: string[], mode: 'Strict' | 'Warn'): string[] {
  if (unknownFields.length === 0) return [];
  const msgs = unknownFields.map((f) => `unknown field "${f}"`);
  if (mode === 'Strict') {
    throw new HedgeError(
      'BadRequest',
      `${def.kind} in version "${def.version}" cannot be handled as a ${def.kind}: strict decoding error: ${msgs.join(', ')}`,
    );
  }
  return msgs;
}
