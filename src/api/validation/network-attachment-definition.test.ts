import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KubeObject } from '../object.ts';
import { parseCniConfig, validateNetworkAttachmentDefinition } from './network-attachment-definition.ts';

const nad = (spec: unknown): KubeObject => ({ apiVersion: 'k8s.cni.cncf.io/v1', kind: 'NetworkAttachmentDefinition', metadata: { name: 'n', namespace: 'default' }, spec }) as KubeObject;

test('a single plugin config becomes a one-entry list; name and cniVersion stay on the list', () => {
  const r = parseCniConfig('{"cniVersion":"0.3.1","name":"lan","type":"macvlan","master":"eth0","ipam":{"type":"host-local","subnet":"10.1.0.0/24"}}');
  assert.deepEqual(r, { ok: true, config: { cniVersion: '0.3.1', name: 'lan', plugins: [{ type: 'macvlan', master: 'eth0', ipam: { type: 'host-local', subnet: '10.1.0.0/24' } }] } });
});

test('a conflist keeps its plugins in order', () => {
  const r = parseCniConfig('{"cniVersion":"1.0.0","plugins":[{"type":"bridge","bridge":"br1"},{"type":"portmap","capabilities":{"portMappings":true}}]}');
  assert.ok(r.ok);
  assert.deepEqual(r.config.plugins.map((p) => p.type), ['bridge', 'portmap']);
  assert.equal(r.config.name, undefined);
});

test('bad configs say what is wrong', () => {
  const cases: [string, RegExp][] = [
    ['{nope', /must be a JSON CNI config/],
    ['[1]', /must be a JSON object/],
    ['{"master":"eth0"}', /no "type"/],
    ['{"plugins":{}}', /plugins must be a list/],
    ['{"plugins":[]}', /must not be empty/],
    ['{"plugins":[{"type":"bridge"},{"x":1}]}', /plugins\[1\] has no "type"/],
    ['{"type":"../../bin/sh"}', /not a plugin name/],
    ['{"type":"macvlan","ipam":"host-local"}', /ipam must be an object/],
    ['{"type":"macvlan","cniVersion":1}', /cniVersion must be a string/],
  ];
  for (const [text, re] of cases) {
    const r = parseCniConfig(text);
    assert.equal(r.ok, false, text);
    if (!r.ok) assert.match(r.message, re, text);
  }
});

test('validation names spec.config', () => {
  assert.deepEqual(validateNetworkAttachmentDefinition(nad({ config: '{"type":"bridge"}' })), []);
  for (const spec of [undefined, {}, { config: '' }]) {
    const causes = validateNetworkAttachmentDefinition(nad(spec));
    assert.equal(causes.length, 1);
    assert.equal(causes[0]?.field, 'spec.config');
    assert.equal(causes[0]?.reason, 'FieldValueRequired');
  }
  const [bad] = validateNetworkAttachmentDefinition(nad({ config: '{"type":' }));
  assert.equal(bad?.field, 'spec.config');
  assert.equal(bad?.reason, 'FieldValueInvalid');
  assert.match(bad?.message ?? '', /JSON CNI config/);
  assert.equal(validateNetworkAttachmentDefinition(nad({ config: { type: 'bridge' } }))[0]?.field, 'spec.config');
  assert.equal(validateNetworkAttachmentDefinition(nad('x'))[0]?.field, 'spec');
});
