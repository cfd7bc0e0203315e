/**
 * Type information that strategic merge patch and server-side apply need, independent of
 * where it comes from (OpenAPI v2 definitions, a hand-written table in tests, nothing).
 */
export interface FieldPatchInfo {
  /** x-kubernetes-patch-strategy */
  strategy?: 'merge' | 'replace' | 'retainKeys' | 'merge,retainKeys';
  /** x-kubernetes-patch-merge-key */
  mergeKey?: string;
  /** x-kubernetes-list-type */
  listType?: 'atomic' | 'set' | 'map';
  /** x-kubernetes-list-map-keys (listType map) */
  listMapKeys?: string[];
  /** x-kubernetes-map-type */
  mapType?: 'atomic' | 'granular';
}

export interface FieldLookup {
  info: FieldPatchInfo;
  /** Meta of the field's value; for a list, of its elements. */
  child: PatchMeta | undefined;
}

export interface PatchMeta {
  field(name: string): FieldLookup;
}

/** An unknown type: maps merge, every list is atomic (replaced). */
export const emptyPatchMeta: PatchMeta = {
  field: () => ({ info: {}, child: emptyPatchMeta }),
};

/** Child meta, falling back to emptyPatchMeta so callers never special-case undefined. */
export function childMeta(meta: PatchMeta, name: string): { info: FieldPatchInfo; child: PatchMeta } {
  const f = meta.field(name);
  return { info: f.info, child: f.child ?? emptyPatchMeta };
}

export function isMergeStrategy(info: FieldPatchInfo): boolean {
  return info.strategy === 'merge' || info.strategy === 'merge,retainKeys';
}

/** Subset of an OpenAPI v2 schema object that patching reads. */
export interface OpenAPIV2Schema {
  type?: string | string[];
  format?: string;
  description?: string;
  properties?: Record<string, OpenAPIV2Schema>;
  items?: OpenAPIV2Schema;
  additionalProperties?: OpenAPIV2Schema | boolean;
  allOf?: OpenAPIV2Schema[];
  $ref?: string;
  required?: string[];
  'x-kubernetes-patch-strategy'?: string;
  'x-kubernetes-patch-merge-key'?: string;
  'x-kubernetes-list-type'?: string;
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-map-type'?: string;
  [extension: string]: unknown;
}

const REF_PREFIX = '#/definitions/';

/**
 * PatchMeta over OpenAPI v2 definitions (as served at /openapi/v2), starting at
 * `rootDefinition` (e.g. "io.k8s.api.core.v1.Pod"). Resolution is lazy, so recursive
 * definitions (JSONSchemaProps) are fine.
 */
export function patchMetaFromOpenAPI(definitions: Record<string, OpenAPIV2Schema>, rootDefinition: string): PatchMeta {
  const cache = new Map<string, PatchMeta>();

  const resolve = (schema: OpenAPIV2Schema | undefined, depth = 0): OpenAPIV2Schema | undefined => {
    if (!schema || depth > 32) return schema;
    if (schema.$ref) {
      const name = schema.$ref.startsWith(REF_PREFIX) ? schema.$ref.slice(REF_PREFIX.length) : schema.$ref;
      return resolve(definitions[name], depth + 1);
    }
    // Generators wrap a $ref in allOf to attach a description or extensions to it.
    if (schema.allOf && schema.allOf.length === 1 && !schema.properties && !schema.items) {
      return resolve(schema.allOf[0], depth + 1);
    }
    return schema;
  };

  const metaFor = (schema: OpenAPIV2Schema | undefined): PatchMeta | undefined => {
    if (!schema) return undefined;
    if (schema.$ref) {
      const cached = cache.get(schema.$ref);
      if (cached) return cached;
      const meta = schemaMeta(() => resolve(schema));
      cache.set(schema.$ref, meta);
      return meta;
    }
    return schemaMeta(() => resolve(schema));
  };

  const lookup = (prop: OpenAPIV2Schema): FieldLookup => {
    const info = infoOf(prop);
    const resolved = resolve(prop);
    if (resolved && isArrayType(resolved)) {
      Object.assign(info, { ...infoOf(resolved), ...info });
      return { info, child: metaFor(resolved.items) };
    }
    if (resolved && resolved !== prop) Object.assign(info, { ...infoOf(resolved), ...info });
    return { info, child: metaFor(prop) };
  };

  // Lookups are kept per schema: a field's (bounded by the schema's properties) and the one
  // every additional property shares; callers only read them.
  const schemaMeta = (get: () => OpenAPIV2Schema | undefined): PatchMeta => {
    const known = new Map<string, FieldLookup>();
    let additional: FieldLookup | undefined;
    return {
      field(name: string): FieldLookup {
        const hit = known.get(name);
        if (hit) return hit;
        const s = get();
        if (!s) return { info: {}, child: undefined };
        const prop: OpenAPIV2Schema | undefined = s.properties && Object.hasOwn(s.properties, name) ? s.properties[name] : undefined;
        if (prop) {
          const f = lookup(prop);
          known.set(name, f);
          return f;
        }
        if (typeof s.additionalProperties === 'object') return (additional ??= lookup(s.additionalProperties));
        return { info: {}, child: undefined };
      },
    };
  };

  return metaFor({ $ref: REF_PREFIX + rootDefinition }) ?? emptyPatchMeta;
}

function isArrayType(s: OpenAPIV2Schema): boolean {
  return s.type === 'array' || (Array.isArray(s.type) && s.type.includes('array')) || (s.items !== undefined && !s.type);
}

function infoOf(s: OpenAPIV2Schema): FieldPatchInfo {
  const info: FieldPatchInfo = {};
  const strategy = s['x-kubernetes-patch-strategy'];
  if (strategy !== undefined) {
    // Upstream tags are comma lists in any order, e.g. "retainKeys,merge".
    const parts = new Set(strategy.split(',').map((p) => p.trim()));
    if (parts.has('merge') && parts.has('retainKeys')) info.strategy = 'merge,retainKeys';
    else if (parts.has('merge')) info.strategy = 'merge';
    else if (parts.has('retainKeys')) info.strategy = 'retainKeys';
    else if (parts.has('replace')) info.strategy = 'replace';
  }
  const mergeKey = s['x-kubernetes-patch-merge-key'];
  if (typeof mergeKey === 'string') info.mergeKey = mergeKey;
  const listType = s['x-kubernetes-list-type'];
  if (listType === 'atomic' || listType === 'set' || listType === 'map') info.listType = listType;
  const keys = s['x-kubernetes-list-map-keys'];
  if (Array.isArray(keys)) info.listMapKeys = [...keys];
  const mapType = s['x-kubernetes-map-type'];
  if (mapType === 'atomic' || mapType === 'granular') info.mapType = mapType;
  return info;
}
