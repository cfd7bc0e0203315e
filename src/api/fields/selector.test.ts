import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isHedgeError } from '../../lib/errors.ts';
import type { KubeObject } from '../object.ts';
import { podFields } from './field-maps.ts';
import {
  checkFieldsSupported,
  compileFieldSelector,
  exactMatch,
  fieldSelectorToString,
  fieldSet,
  matchesFields,
  parseFieldSelector,
} from './selector.ts';

const podDef = { namespaced: true, fieldSelectors: podFields };
const pod = (name: string, node: string, phase: string): KubeObject => ({
  metadata: { name, namespace: 'default' },
  spec: { nodeName: node, containers: [] },
  status: { phase },
});

test('parses =, == and != terms', () => {
  const sel = parseFieldSelector('metadata.name=x, spec.nodeName!=y,status.phase==Running');
  assert.deepEqual(sel.requirements, [
    { field: 'metadata.name', operator: '=', value: 'x' },
    { field: 'spec.nodeName', operator: '!=', value: 'y' },
    { field: 'status.phase', operator: '==', value: 'Running' },
  ]);
  assert.deepEqual(parseFieldSelector('').requirements, []);
  assert.deepEqual(parseFieldSelector('a=').requirements, [{ field: 'a', operator: '=', value: '' }]);
});

test('escapes round-trip', () => {
  const sel = parseFieldSelector('metadata.name=a\\,b\\=c');
  assert.equal(sel.requirements[0].value, 'a,b=c');
  assert.equal(fieldSelectorToString(sel), 'metadata.name=a\\,b\\=c');
});

test('syntax errors are BadRequest', () => {
  assert.throws(
    () => parseFieldSelector('metadata.name'),
    (e) => isHedgeError(e, 'BadRequest') && e.message === "invalid selector: 'metadata.name'; can't understand 'metadata.name'",
  );
  assert.throws(() => parseFieldSelector('a=b\\q'), /invalid escape sequence/);
});

test('unsupported field is rejected with upstream wording', () => {
  assert.throws(
    () => checkFieldsSupported(parseFieldSelector('foo=bar'), podDef),
    (e) => isHedgeError(e, 'BadRequest') && e.message === 'field label not supported: foo',
  );
  assert.throws(() => compileFieldSelector('spec.unschedulable=true', podDef), /field label not supported: spec.unschedulable/);
  checkFieldsSupported(parseFieldSelector('metadata.name=a,metadata.namespace=b,spec.nodeName=n'), podDef);
});

test('matching against the field set', () => {
  const a = pod('a', 'n1', 'Running');
  const b = pod('b', '', 'Pending');
  assert.equal(fieldSet(podDef, a)['spec.hostNetwork'], 'false');
  const m = (s: string, o: KubeObject): boolean => compileFieldSelector(s, podDef).matches(o);
  assert.ok(m('spec.nodeName=n1', a));
  assert.ok(!m('spec.nodeName=n1', b));
  assert.ok(m('spec.nodeName=', b), 'unscheduled pods have an empty nodeName');
  assert.ok(m('spec.nodeName!=n1', b));
  assert.ok(m('metadata.name=a,status.phase=Running', a));
  assert.ok(!m('metadata.name=a,status.phase!=Running', a));
  assert.ok(m('metadata.namespace=default', a));
  assert.ok(m('', a));
  assert.ok(matchesFields(parseFieldSelector('x=1'), { x: '1' }));
});

test('cluster-scoped resources do not expose metadata.namespace values', () => {
  const set = fieldSet({ namespaced: false }, { metadata: { name: 'n' } });
  assert.deepEqual(set, { 'metadata.name': 'n' });
});

test('exactMatch finds the pinned value', () => {
  const sel = parseFieldSelector('spec.nodeName=n1,status.phase!=Failed');
  assert.equal(exactMatch(sel, 'spec.nodeName'), 'n1');
  assert.equal(exactMatch(sel, 'status.phase'), undefined);
});
