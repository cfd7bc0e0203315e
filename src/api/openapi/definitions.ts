import { readFileSync } from 'node:fs';

/** One OpenAPI v2 schema object as found in definitions.json (JSON, read-only by convention). */
export interface SchemaObject {
  type?: string;
  format?: string;
  description?: string;
  $ref?: string;
  items?: SchemaObject;
  properties?: Record<string, SchemaObject>;
  additionalProperties?: SchemaObject | boolean;
  required?: string[];
  'x-kubernetes-group-version-kind'?: GroupVersionKind[];
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-patch-strategy'?: string;
  'x-kubernetes-patch-merge-key'?: string;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-map-type'?: 'atomic' | 'granular';
}

export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

export type Definitions = Readonly<Record<string, SchemaObject>>;

export const DEFINITION_REF_PREFIX = '#/definitions/';

let cached: Definitions | undefined;

/**
 * The generated upstream definitions (scripts/gen-openapi.ts). Parsed on first use and shared:
 * the data is immutable, and parsing ~1 MB of JSON per caller would be waste.
 */
export function loadDefinitions(): Definitions {
  cached ??= JSON.parse(readFileSync(new URL('./generated/definitions.json', import.meta.url), 'utf8')) as Definitions;
  return cached;
}

/** Definition name of a `$ref` like `#/definitions/io.k8s.api.core.v1.PodSpec`. */
export function refTarget(ref: string): string {
  return ref.startsWith(DEFINITION_REF_PREFIX) ? ref.slice(DEFINITION_REF_PREFIX.length) : ref.replace(/^.*\//, '');
}

/** Index of x-kubernetes-group-version-kind → definition name, built once per definitions object. */
const gvkIndexes = new WeakMap<Definitions, Map<string, string>>();

export function definitionNameFor(apiVersion: string, kind: string, definitions: Definitions = loadDefinitions()): string | undefined {
  let index = gvkIndexes.get(definitions);
  if (!index) {
    index = new Map();
    for (const [name, schema] of Object.entries(definitions)) {
      for (const gvk of schema['x-kubernetes-group-version-kind'] ?? []) {
        const key = `${gvk.group ? `${gvk.group}/${gvk.version}` : gvk.version}|${gvk.kind}`;
        if (!index.has(key)) index.set(key, name);
      }
    }
    gvkIndexes.set(definitions, index);
  }
  return index.get(`${apiVersion}|${kind}`);
}
