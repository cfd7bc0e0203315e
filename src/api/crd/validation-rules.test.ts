import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubeObject } from '../object.ts';
import { CelBudget } from '../cel/index.ts';
import { validateCrd } from './crd-validation.ts';
import { customResourceDefs } from './custom-resource.ts';
import type { JSONSchemaProps } from './schema.ts';
import type { CrdObject } from './types.ts';
import { compileRuleTree, escapeProperty, evaluateRuleTree, normalizeFieldPath } from './validation-rules.ts';

const SP = 'spec.versions[0].schema.openAPIV3Schema';

function crd(schema: JSONSchemaProps): CrdObject {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'widgets.example.com' },
    spec: {
      group: 'example.com',
      scope: 'Namespaced',
      names: { plural: 'widgets', kind: 'Widget', singular: 'widget', listKind: 'WidgetList' },
      versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: schema }, subresources: { status: {} } }],
    },
  } as CrdObject;
}

const withSpec = (spec: JSONSchemaProps, extra: Partial<JSONSchemaProps> = {}): JSONSchemaProps => ({ type: 'object', properties: { spec, status: { type: 'object', properties: { phase: { type: 'string' } } } }, ...extra });

function widget(spec: unknown, name = 'w'): KubeObject {
  return { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name, namespace: 'default' }, spec } as KubeObject;
}

function validator(schema: JSONSchemaProps): (obj: KubeObject, old?: KubeObject) => string[] {
  const def = customResourceDefs(crd(schema))[0];
  return (obj, old) => (def.validate?.(obj, old) ?? []).map((c) => `${c.reason} ${c.field}: ${c.message}`);
}

describe('x-kubernetes-validations at CRD write time', () => {
  it('refuses a rule that does not compile, at the rule field with the position', () => {
    const errs = validateCrd(crd(withSpec({ type: 'object', 'x-kubernetes-validations': [{ rule: 'self.a ==' }, { rule: 'self.a == nope' }] })));
    assert.equal(errs.length, 2);
    assert.equal(errs[0].field, `${SP}.properties[spec].x-kubernetes-validations[0].rule`);
    assert.match(errs[0].message, /compilation failed: ERROR: <input>:1:10: /);
    assert.equal(errs[1].field, `${SP}.properties[spec].x-kubernetes-validations[1].rule`);
    assert.match(errs[1].message, /Unknown variable: nope/);
  });

  it('refuses a rule whose constant regex is not RE2 (a backreference), as upstream at CRD creation', () => {
    const errs = validateCrd(crd(withSpec({ type: 'object', 'x-kubernetes-validations': [{ rule: String.raw`self.a.matches("^(a)\\1$")` }] })));
    assert.equal(errs.length, 1);
    assert.equal(errs[0].field, `${SP}.properties[spec].x-kubernetes-validations[0].rule`);
    assert.match(errs[0].message, /compilation failed: ERROR: <input>:1:16: error parsing regexp: invalid escape sequence: `\\1`/);
  });

  it('checks reason, fieldPath, messageExpression, message and optionalOldSelf', () => {
    const spec: JSONSchemaProps = {
      type: 'object',
      properties: { a: { type: 'string' }, items: { type: 'array', items: { type: 'object', 'x-kubernetes-validations': [{ rule: 'self == oldSelf' }] } } },
      'x-kubernetes-validations': [
        { rule: 'true', reason: 'FieldValueWrong' },
        { rule: 'true', fieldPath: '.nope' },
        { rule: 'true', messageExpression: 'self.a +' },
        { rule: 'true', message: 'two\nlines' },
        { rule: 'self.a == "x"', optionalOldSelf: true },
        { rule: 'true', fieldPath: ".a", reason: 'FieldValueForbidden', messageExpression: '"a is " + self.a' },
      ],
    };
    const p = `${SP}.properties[spec]`;
    const got = validateCrd(crd(withSpec(spec))).map((c) => `${c.reason} ${c.field}`);
    assert.deepEqual(got, [
      `FieldValueNotSupported ${p}.x-kubernetes-validations[0].reason`,
      `FieldValueInvalid ${p}.x-kubernetes-validations[1].fieldPath`,
      `FieldValueInvalid ${p}.x-kubernetes-validations[2].messageExpression`,
      `FieldValueInvalid ${p}.x-kubernetes-validations[3].message`,
      `FieldValueInvalid ${p}.x-kubernetes-validations[4].optionalOldSelf`,
      `FieldValueInvalid ${p}.properties[items].items.x-kubernetes-validations[0].rule`,
    ]);
    const uncorrelatable = validateCrd(crd(withSpec(spec))).find((c) => c.field.includes('properties[items]'));
    assert.match(uncorrelatable?.message ?? '', /oldSelf cannot be used on the uncorrelatable portion of the schema within .*properties\[items\]/);
  });

  it('accepts valid rules', () => {
    const spec: JSONSchemaProps = { type: 'object', properties: { min: { type: 'integer' }, max: { type: 'integer' } }, 'x-kubernetes-validations': [{ rule: 'self.min <= self.max', message: 'min must not exceed max' }] };
    assert.deepEqual(validateCrd(crd(withSpec(spec))), []);
  });
});

describe('x-kubernetes-validations on custom resources', () => {
  it('evaluates self at the node, with the default message at its path', () => {
    const v = validator(withSpec({ type: 'object', properties: { min: { type: 'integer' }, max: { type: 'integer' } }, 'x-kubernetes-validations': [{ rule: 'self.min <= self.max' }] }));
    assert.deepEqual(v(widget({ min: 1, max: 2 })), []);
    assert.deepEqual(v(widget({ min: 3, max: 2 })), ['FieldValueInvalid spec: Invalid value: failed rule: self.min <= self.max']);
  });

  it('prints scalars as the bad value and uses message', () => {
    const v = validator(withSpec({ type: 'object', properties: { name: { type: 'string', 'x-kubernetes-validations': [{ rule: 'self.startsWith("w-")', message: 'must start with w-' }] } } }));
    assert.deepEqual(v(widget({ name: 'x' })), ['FieldValueInvalid spec.name: Invalid value: "x": must start with w-']);
    assert.deepEqual(v(widget({ name: 'w-1' })), []);
  });

  it('root rules see apiVersion, kind and metadata.name', () => {
    const v = validator(withSpec({ type: 'object' }, { 'x-kubernetes-validations': [{ rule: 'self.metadata.name.startsWith(self.kind.lowerAscii())' }, { rule: '!has(self.metadata.namespace)' }] }));
    assert.deepEqual(v(widget({}, 'widget-1')), []);
    assert.deepEqual(v(widget({}, 'other')), ['FieldValueInvalid <nil>: Invalid value: failed rule: self.metadata.name.startsWith(self.kind.lowerAscii())']);
  });

  it('transition rules run only on update, with oldSelf', () => {
    const v = validator(withSpec({ type: 'object', properties: { mode: { type: 'string', 'x-kubernetes-validations': [{ rule: 'self == oldSelf', message: 'mode is immutable' }] } } }));
    assert.deepEqual(v(widget({ mode: 'a' })), []);
    assert.deepEqual(v(widget({ mode: 'b' }), widget({ mode: 'a' })), ['FieldValueInvalid spec.mode: Invalid value: "b": mode is immutable']);
    assert.deepEqual(v(widget({ mode: 'a' }), widget({ mode: 'a' })), []);
    // a value newly set on update has no old value: the transition rule does not run
    assert.deepEqual(v(widget({ mode: 'b' }), widget({})), []);
  });

  it('optionalOldSelf runs on create too, with oldSelf an optional', () => {
    const v = validator(withSpec({ type: 'object', properties: { n: { type: 'integer' } }, 'x-kubernetes-validations': [{ rule: 'oldSelf.hasValue() ? self.n >= oldSelf.value().n : self.n == 0', optionalOldSelf: true, message: 'n starts at 0 and only grows' }] }));
    assert.deepEqual(v(widget({ n: 0 })), []);
    assert.deepEqual(v(widget({ n: 1 })), ['FieldValueInvalid spec: Invalid value: n starts at 0 and only grows']);
    assert.deepEqual(v(widget({ n: 5 }), widget({ n: 4 })), []);
    assert.deepEqual(v(widget({ n: 3 }), widget({ n: 4 })), ['FieldValueInvalid spec: Invalid value: n starts at 0 and only grows']);
  });

  it('messageExpression, fieldPath and reason shape the error', () => {
    const v = validator(withSpec({
      type: 'object',
      properties: { replicas: { type: 'integer' }, max: { type: 'integer' } },
      'x-kubernetes-validations': [
        { rule: 'self.replicas <= self.max', messageExpression: '"replicas " + string(self.replicas) + " exceeds " + string(self.max)', fieldPath: '.replicas', reason: 'FieldValueForbidden' },
        { rule: 'has(self.max)', reason: 'FieldValueRequired', fieldPath: '.max', message: 'max is required' },
      ],
    }));
    assert.deepEqual(v(widget({ replicas: 5, max: 3 })), ['FieldValueForbidden spec.replicas: Forbidden: replicas 5 exceeds 3']);
    assert.deepEqual(v(widget({ replicas: 5 })), [
      'FieldValueInvalid spec: Invalid value: "object": No such key: max evaluating rule: self.replicas <= self.max',
      'FieldValueRequired spec.max: Required value: max is required',
    ]);
  });

  it('lists of objects: rules at items run per item, with the item path; map-lists correlate oldSelf by key', () => {
    const v = validator(withSpec({
      type: 'object',
      properties: {
        ports: {
          type: 'array',
          'x-kubernetes-list-type': 'map',
          'x-kubernetes-list-map-keys': ['name'],
          'x-kubernetes-validations': [{ rule: 'self.all(p, self.exists_one(q, q.port == p.port))', message: 'ports must be unique', reason: 'FieldValueDuplicate' }],
          items: {
            type: 'object',
            properties: { name: { type: 'string' }, port: { type: 'integer' } },
            'x-kubernetes-validations': [{ rule: 'self.port > 0 && self.port < 65536', message: 'port out of range' }, { rule: 'self.port == oldSelf.port', message: 'port is immutable' }],
          },
        },
      },
    }));
    assert.deepEqual(v(widget({ ports: [{ name: 'a', port: 80 }, { name: 'b', port: 0 }] })), ['FieldValueInvalid spec.ports[1]: Invalid value: port out of range']);
    assert.deepEqual(v(widget({ ports: [{ name: 'a', port: 80 }, { name: 'b', port: 80 }] })), ['FieldValueDuplicate spec.ports: Duplicate value']);
    // reordered: item b is correlated with old b by its key, so its unchanged port passes
    assert.deepEqual(v(widget({ ports: [{ name: 'b', port: 81 }, { name: 'a', port: 80 }] }), widget({ ports: [{ name: 'a', port: 80 }, { name: 'b', port: 81 }] })), []);
    assert.deepEqual(v(widget({ ports: [{ name: 'a', port: 8080 }] }), widget({ ports: [{ name: 'a', port: 80 }] })), ['FieldValueInvalid spec.ports[0]: Invalid value: port is immutable']);
  });

  it('skips the rules when the schema already refused the object', () => {
    const v = validator(withSpec({ type: 'object', properties: { n: { type: 'integer', maximum: 3 } }, 'x-kubernetes-validations': [{ rule: 'self.n > 100' }] }));
    assert.deepEqual(v(widget({ n: 5 })), [
      'FieldValueInvalid spec.n: Invalid value: 5: spec.n in body should be less than or equal to 3',
      'FieldValueInvalid <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation',
    ]);
  });

  it('reports evaluation errors as Invalid, never throws', () => {
    const v = validator(withSpec({ type: 'object', properties: { a: { type: 'integer' }, s: { 'x-kubernetes-int-or-string': true } }, 'x-kubernetes-validations': [{ rule: 'self.a / 0 == 1' }, { rule: 'self.s.startsWith("x")' }] }));
    const got = v(widget({ a: 1, s: 5 }));
    assert.equal(got.length, 2);
    assert.match(got[0], /^FieldValueInvalid spec: Invalid value: "object": division by zero evaluating rule: self.a \/ 0 == 1$/);
    assert.match(got[1], /call arguments did not match a supported operator, function or macro signature for rule: self.s.startsWith/);
  });

  it('status updates are validated too', () => {
    const v = validator(withSpec({ type: 'object' }, {}));
    const schema = withSpec({ type: 'object' });
    (schema.properties as Record<string, JSONSchemaProps>).status['x-kubernetes-validations'] = [{ rule: 'self.phase in ["Ready", "Pending"]' }];
    const vs = validator(schema);
    const obj = { ...widget({}), status: { phase: 'Broken' } } as KubeObject;
    assert.deepEqual(v(obj), []);
    assert.deepEqual(vs(obj, widget({})), ['FieldValueInvalid status: Invalid value: failed rule: self.phase in ["Ready", "Pending"]']);
  });

  it('escapes property names as upstream', () => {
    assert.equal(escapeProperty('x-y'), 'x__dash__y');
    assert.equal(escapeProperty('a.b/c'), 'a__dot__b__slash__c');
    assert.equal(escapeProperty('namespace'), '__namespace__');
    assert.equal(escapeProperty('a__b'), 'a__underscores__b');
    assert.equal(escapeProperty('1x'), undefined);
    const v = validator(withSpec({ type: 'object', properties: { 'max-size': { type: 'integer' } }, 'x-kubernetes-validations': [{ rule: 'self.max__dash__size < 10' }] }));
    assert.deepEqual(v(widget({ 'max-size': 3 })), []);
    assert.equal(v(widget({ 'max-size': 30 })).length, 1);
  });

  it('normalizes fieldPath against the schema', () => {
    const s: JSONSchemaProps = { type: 'object', properties: { a: { type: 'object', properties: { 'b.c': { type: 'string' } } }, m: { type: 'object', additionalProperties: { type: 'string' } } } };
    assert.equal(normalizeFieldPath(".a['b.c']", s), 'a.b.c');
    assert.equal(normalizeFieldPath('.m.k', s), 'm[k]');
    assert.deepEqual(normalizeFieldPath('.x', s), { error: 'does not refer to a valid field' });
  });

  it('stops with upstream\'s message when the cost budget runs out', () => {
    const schema = withSpec({ type: 'object', properties: { l: { type: 'array', items: { type: 'integer' } } }, 'x-kubernetes-validations': [{ rule: 'self.l.all(x, self.l.all(y, self.l.all(z, x + y + z >= 0)))' }, { rule: 'false' }] });
    const { tree } = compileRuleTree(schema, '');
    assert.ok(tree);
    const started = performance.now();
    const errs = evaluateRuleTree(tree, widget({ l: Array.from({ length: 500 }, (_, i) => i) }), undefined, { budget: new CelBudget({ limit: 10_000_000, timeoutMs: 1_000 }) });
    assert.ok(performance.now() - started < 5_000);
    assert.equal(errs.length, 1, 'the second rule is not run');
    assert.match(errs[0].message, /^Invalid value: "object": 'operation cancelled: actual cost limit exceeded': no further validation rules will be run due to call cost exceeds limit for rule: /);
  });
});
