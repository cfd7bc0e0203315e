import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../object.ts';
import { builtinResources } from './builtin-resources.ts';
import { ResourceRegistry } from '../resources/registry.ts';

const reg = new ResourceRegistry(builtinResources());
const def = (plural: string, group = ''): NonNullable<ReturnType<ResourceRegistry['lookup']>> => {
  const d = reg.lookup(group, 'v1', plural);
  assert.ok(d, plural);
  return d;
};

test('every builtin resource validates its metadata', () => {
  for (const d of reg.all()) {
    assert.ok(d.validate, d.plural);
    const causes = d.validate({ metadata: {} });
    assert.ok(causes.some((c) => c.field === 'metadata.name'), `${d.plural} requires a name`);
    assert.equal(causes.some((c) => c.field === 'metadata.namespace'), d.namespaced, `${d.plural} namespace rule`);
  }
});

test('pods: defaults then validation, end to end', () => {
  const pods = def('pods');
  const pod: KubeObject = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'default' }, spec: { containers: [{ name: 'c', image: 'nginx' }] } };
  pods.defaults!(pod);
  assert.deepEqual(pods.validate!(pod), []);
  const next = structuredClone(pod);
  (next.spec as { nodeName: string }).nodeName = 'node-1';
  assert.deepEqual(pods.validate!(next, pod).map((c) => c.field), ['spec']);
  const renamed = structuredClone(pod);
  renamed.metadata.name = 'other';
  assert.deepEqual(pods.validate!(renamed, pod).map((c) => c.field), ['metadata.name']);
  const noImage: KubeObject = { metadata: { name: 'p', namespace: 'd' }, spec: { containers: [{ name: 'c' }] } };
  pods.defaults!(noImage);
  assert.deepEqual(pods.validate!(noImage).map((c) => `${c.field}: ${c.message}`), ['spec.containers[0].image: Required value']);
});

test('name rules differ per resource', () => {
  assert.deepEqual(def('namespaces').validate!({ metadata: { name: 'a.b' } }).map((c) => c.field), ['metadata.name']);
  assert.deepEqual(def('services').validate!({ metadata: { name: '1svc', namespace: 'd' }, spec: { clusterIP: 'None' } }).map((c) => c.field), ['metadata.name']);
  assert.deepEqual(def('configmaps').validate!({ metadata: { name: 'a.b', namespace: 'd' } }), []);
  assert.deepEqual(def('nodes').validate!({ metadata: { name: 'edge-1.example' } }), []);
});

test('namespace defaults and field selectors are wired', () => {
  const ns: KubeObject = { metadata: { name: 'team' } };
  def('namespaces').defaults!(ns);
  assert.equal(ns.metadata.labels?.['kubernetes.io/metadata.name'], 'team');
  assert.ok(def('pods').fieldSelectors?.['spec.nodeName']);
  assert.ok(def('events').fieldSelectors?.['involvedObject.name']);
  assert.equal(def('configmaps').fieldSelectors, undefined);
  assert.ok(def('runtimeclasses', 'node.k8s.io').validate!({ metadata: { name: 'gvisor' }, handler: 'runsc' }).length === 0);
});
