import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateCrd } from './crd-validation.ts';
import { customResourceDefs } from './custom-resource.ts';
import { applyDefaults, prune, validateStructuralSchema, validateValue, type JSONSchemaProps } from './schema.ts';
import type { CrdObject } from './types.ts';

const spec: JSONSchemaProps = {
  type: 'object',
  required: ['cronSpec'],
  properties: {
    cronSpec: { type: 'string', pattern: '^[0-9*/ ]+$' },
    replicas: { type: 'integer', minimum: 1, maximum: 10, default: 1 },
    size: { type: 'string', enum: ['small', 'large'] },
    ratio: { type: 'number', exclusiveMaximum: true, maximum: 1 },
    name: { type: 'string', minLength: 2, maxLength: 4 },
    note: { type: 'string', nullable: true },
    port: { 'x-kubernetes-int-or-string': true },
    tags: { type: 'array', items: { type: 'string' }, maxItems: 2 },
    labels: { type: 'object', additionalProperties: { type: 'string' } },
    free: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
    nested: { type: 'object', properties: { deep: { type: 'string', default: 'x' } } },
    embedded: { type: 'object', 'x-kubernetes-embedded-resource': true, properties: { spec: { type: 'object', properties: { a: { type: 'string' } } } } },
  },
};
const root: JSONSchemaProps = { type: 'object', properties: { spec } };

const fields = (v: unknown): string[] => validateValue(root, v, '').map((c) => `${c.field}: ${c.message}`);

describe('CRD schema validation', () => {
  it('accepts a valid object', () => {
    assert.deepEqual(fields({ spec: { cronSpec: '* * *', replicas: 3, size: 'small', port: 'http', tags: ['a'], labels: { a: 'b' }, note: null } }), []);
  });
  it('reports each rule with upstream wording and the field path', () => {
    assert.deepEqual(fields({ spec: { cronSpec: 'x', replicas: 15 } }), [
      "spec.cronSpec: Invalid value: \"x\": spec.cronSpec in body should match '^[0-9*/ ]+$'",
      'spec.replicas: Invalid value: 15: spec.replicas in body should be less than or equal to 10',
    ]);
    assert.deepEqual(fields({ spec: {} }), ['spec.cronSpec: Required value']);
    assert.deepEqual(fields({ spec: { cronSpec: '1', replicas: 'three' } }), ['spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"']);
    assert.deepEqual(fields({ spec: { cronSpec: '1', size: 'medium' } }), ['spec.size: Unsupported value: "medium": supported values: "small", "large"']);
    assert.deepEqual(fields({ spec: { cronSpec: '1', ratio: 1 } }), ['spec.ratio: Invalid value: 1: spec.ratio in body should be less than 1']);
    assert.deepEqual(fields({ spec: { cronSpec: '1', name: 'a' } }), ['spec.name: Invalid value: "a": spec.name in body should be at least 2 chars long']);
    assert.deepEqual(fields({ spec: { cronSpec: '1', name: 'abcde' } }), ['spec.name: Too long: may not be more than 4 bytes']);
    assert.deepEqual(fields({ spec: { cronSpec: '1', port: true } }), ['spec.port: Invalid value: true: spec.port in body must be of type integer or string: "boolean"']);
    assert.deepEqual(fields({ spec: { cronSpec: '1', tags: ['a', 2, 'c'] } }), [
      'spec.tags: Too many: 3: must have at most 2 items',
      'spec.tags[1]: Invalid value: "integer": spec.tags[1] in body must be of type string: "integer"',
    ]);
    assert.deepEqual(fields({ spec: { cronSpec: '1', labels: { a: 1 } } }), ['spec.labels[a]: Invalid value: "integer": spec.labels[a] in body must be of type string: "integer"']);
    assert.deepEqual(fields({ spec: { cronSpec: '1', replicas: null } }), ['spec.replicas: Invalid value: "null": spec.replicas in body must be of type integer: "null"']);
    assert.deepEqual(fields({ spec: { cronSpec: '1', embedded: { spec: {} } } }), ['spec.embedded.apiVersion: Required value: must not be empty', 'spec.embedded.kind: Required value: must not be empty']);
  });
});

describe('pruning and defaulting', () => {
  it('drops unspecified fields, keeps preserved ones and root/embedded metadata, and reports what it dropped', () => {
    const obj = {
      apiVersion: 'x/v1', kind: 'K', metadata: { name: 'a' }, extra: 1,
      spec: { cronSpec: '1', color: 'blue', free: { any: { thing: 1 } }, labels: { k: 'v' }, embedded: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { a: 'b', junk: 1 } } },
    };
    assert.deepEqual(prune(root, obj), ['extra', 'spec.color', 'spec.embedded.spec.junk']);
    assert.deepEqual(obj, {
      apiVersion: 'x/v1', kind: 'K', metadata: { name: 'a' },
      spec: { cronSpec: '1', free: { any: { thing: 1 } }, labels: { k: 'v' }, embedded: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { a: 'b' } } },
    });
  });
  it('fills defaults of absent fields only, nested too', () => {
    const obj: Record<string, unknown> = { spec: { cronSpec: '1', nested: {} } };
    applyDefaults(root, obj);
    assert.deepEqual(obj, { spec: { cronSpec: '1', replicas: 1, nested: { deep: 'x' } } });
    const set = { spec: { cronSpec: '1', replicas: 4 } };
    applyDefaults(root, set);
    assert.equal(set.spec.replicas, 4);
  });
});

describe('structural schemas', () => {
  const causes = (s: unknown): string[] => validateStructuralSchema(s, 's').map((c) => `${c.field}: ${c.message}`);
  it('accepts the CronTab schema', () => assert.deepEqual(causes(root), []));
  it('refuses what upstream refuses', () => {
    assert.deepEqual(causes({ type: 'object', properties: { a: {} } }), ['s.properties[a].type: Required value: must not be empty for specified object fields']);
    assert.deepEqual(causes({ type: 'object', properties: { a: { type: 'array' } } }), ['s.properties[a].items: Required value: must be specified']);
    assert.deepEqual(causes({ type: 'object', properties: { a: { type: 'string', 'x-kubernetes-int-or-string': true } } }), ['s.properties[a].type: Forbidden: must be empty for x-kubernetes-int-or-string']);
    assert.deepEqual(causes({ type: 'object', properties: { a: { $ref: '#/x' } } }), ['s.properties[a].$ref: Forbidden: $ref is not supported', 's.properties[a].type: Required value: must not be empty for specified object fields']);
    assert.deepEqual(causes({ type: 'string' }), ['s.type: Invalid value: "string": must be object at the root']);
    assert.deepEqual(causes({ type: 'object', properties: { a: { type: 'integer', maximum: 2, default: 5 } } }), ['s.properties[a].default: Invalid value: 5: s.properties[a].default in body should be less than or equal to 2']);
    assert.deepEqual(causes({ type: 'object', properties: { a: { type: 'string', 'x-kubernetes-embedded-resource': true } } }), ['s.properties[a].type: Required value: must be object if x-kubernetes-embedded-resource is true']);
  });
});

function crd(over: Partial<CrdObject['spec']> = {}, name = 'crontabs.stable.example.com'): CrdObject {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name },
    spec: {
      group: 'stable.example.com',
      scope: 'Namespaced',
      names: { plural: 'crontabs', singular: 'crontab', kind: 'CronTab', shortNames: ['ct'] },
      versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: root } }],
      ...over,
    },
  };
}

describe('CustomResourceDefinition validation', () => {
  const causes = (o: CrdObject, old?: CrdObject): string[] => validateCrd(o, old).map((c) => `${c.field}: ${c.message}`);
  it('accepts the CronTab CRD', () => assert.deepEqual(causes(crd()), []));
  it('checks the name, group, scope and versions', () => {
    assert.deepEqual(causes(crd({}, 'wrong.stable.example.com')), ['metadata.name: Invalid value: "wrong.stable.example.com": must be spec.names.plural+"."+spec.group']);
    assert.ok(causes(crd({ group: 'nodots' }, 'crontabs.nodots')).includes('spec.group: Invalid value: "nodots": should be a domain with at least one dot'));
    assert.deepEqual(causes(crd({ scope: 'Global' })), ['spec.scope: Unsupported value: "Global": supported values: "Cluster", "Namespaced"']);
    const two = crd({ versions: [
      { name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: root } },
      { name: 'v2', served: true, storage: true, schema: { openAPIV3Schema: root } },
    ] });
    assert.deepEqual(causes(two), ['spec.versions: Invalid value: []string{"v1", "v2"}: must have exactly one version marked as storage version']);
    assert.deepEqual(causes(crd({ versions: [{ name: 'v1', served: true, storage: true }] })), ['spec.versions[0].schema.openAPIV3Schema: Required value: schemas are required']);
    assert.deepEqual(causes(crd({ scope: 'Cluster' }), crd()), ['spec.scope: Invalid value: "Cluster": field is immutable']);
  });
});

describe('custom resource ResourceDefs', () => {
  it('one per served version; printer columns in the table; generation ignores status with the status subresource', () => {
    const c = crd({
      versions: [
        {
          name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { ...root, properties: { ...root.properties, status: { type: 'object', properties: { n: { type: 'integer' } } } } } },
          subresources: { status: {} },
          additionalPrinterColumns: [{ name: 'Spec', type: 'string', jsonPath: '.spec.cronSpec' }, { name: 'Tags', type: 'string', jsonPath: '.spec.tags[*]' }],
        },
        { name: 'v0', served: false, storage: false, schema: { openAPIV3Schema: root } },
      ],
    });
    const defs = customResourceDefs(c);
    assert.deepEqual(defs.map((d) => d.version), ['v1']);
    const d = defs[0];
    assert.deepEqual(d.subresources, ['status']);
    assert.deepEqual(d.table?.columns.map((x) => x.name), ['Name', 'Spec', 'Tags']);
    const obj = { apiVersion: 'stable.example.com/v1', kind: 'CronTab', metadata: { name: 'a' }, spec: { cronSpec: '1', tags: ['x', 'y'] } };
    assert.deepEqual(d.table?.row(obj, new Date()), ['a', '1', 'x,y']);
    assert.equal(d.generationChanged?.(obj, { ...obj, status: { n: 1 } }), false);
    assert.equal(d.generationChanged?.(obj, { ...obj, spec: { cronSpec: '2' } }), true);
    assert.deepEqual(d.custom?.unknownFields({ ...obj, spec: { cronSpec: '1', what: 1 } }), ['spec.what']);
    assert.ok(d.openapiDefinitions?.['com.example.stable.v1.CronTab']);
  });
});
