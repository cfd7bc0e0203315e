import { test } from 'node:test';
import assert from 'node:assert/strict';
import { builtinResources } from '../builtin/index.ts';
import { ResourceRegistry, subresourceInfo } from './registry.ts';

const reg = new ResourceRegistry(builtinResources());

test('lookup by group/version/plural', () => {
  const pods = reg.lookup('', 'v1', 'pods');
  assert.equal(pods?.kind, 'Pod');
  assert.equal(pods?.namespaced, true);
  assert.deepEqual(pods?.shortNames, ['po']);
  assert.deepEqual(pods?.categories, ['all']);
  assert.equal(reg.lookup('', 'v1', 'nope'), undefined);
  assert.equal(reg.lookup('apps', 'v1', 'pods'), undefined);
  assert.equal(reg.lookup('coordination.k8s.io', 'v1', 'leases')?.kind, 'Lease');
});

test('lookup by apiVersion/kind', () => {
  assert.equal(reg.byKind('v1', 'Node')?.plural, 'nodes');
  assert.equal(reg.byKind('node.k8s.io/v1', 'RuntimeClass')?.plural, 'runtimeclasses');
  assert.equal(reg.byKind('v1', 'RuntimeClass'), undefined);
  assert.equal(reg.byKind('coordination.k8s.io/v1', 'Pod'), undefined);
});

test('discovery facts match upstream', () => {
  const ns = reg.lookup('', 'v1', 'namespaces');
  assert.equal(ns?.namespaced, false);
  assert.ok(!ns?.verbs.includes('deletecollection'));
  assert.equal(reg.lookup('', 'v1', 'nodes')?.namespaced, false);
  assert.equal(reg.lookup('node.k8s.io', 'v1', 'runtimeclasses')?.namespaced, false);
  assert.equal(reg.lookup('', 'v1', 'endpoints')?.singular, 'endpoints');
  assert.equal(reg.lookup('', 'v1', 'configmaps')?.listKind, 'ConfigMapList');
  const short = reg.all().flatMap((d) => d.shortNames).sort();
  assert.deepEqual(short, ['cj', 'cm', 'crd', 'crds', 'deploy', 'ds', 'ep', 'ev', 'hpa', 'hpa', 'ing', 'limits', 'net-attach-def', 'netpol', 'no', 'ns', 'pc', 'pdb', 'po', 'pv', 'pvc', 'quota', 'rs', 'sa', 'sc', 'sts', 'svc']);
  const inAll = reg.all().filter((d) => d.categories.includes('all')).map((d) => d.plural).sort();
  assert.deepEqual(inAll, ['cronjobs', 'daemonsets', 'deployments', 'horizontalpodautoscalers', 'horizontalpodautoscalers', 'jobs', 'pods', 'replicasets', 'services', 'statefulsets']);
});

test('byGroupVersion and groups', () => {
  assert.equal(reg.byGroupVersion('', 'v1').length, 13);
  assert.deepEqual(reg.groups(), [
    { group: '', versions: ['v1'], preferredVersion: 'v1' },
    { group: 'coordination.k8s.io', versions: ['v1'], preferredVersion: 'v1' },
    { group: 'node.k8s.io', versions: ['v1'], preferredVersion: 'v1' },
    { group: 'scheduling.k8s.io', versions: ['v1'], preferredVersion: 'v1' },
    { group: 'storage.k8s.io', versions: ['v1'], preferredVersion: 'v1' },
    { group: 'rbac.authorization.k8s.io', versions: ['v1'], preferredVersion: 'v1' },
    { group: 'apps', versions: ['v1'], preferredVersion: 'v1' },
    { group: 'batch', versions: ['v1'], preferredVersion: 'v1' },
    { group: 'autoscaling', versions: ['v2', 'v1'], preferredVersion: 'v2' },
    { group: 'policy', versions: ['v1'], preferredVersion: 'v1' },
    { group: 'networking.k8s.io', versions: ['v1'], preferredVersion: 'v1' },
    { group: 'k8s.cni.cncf.io', versions: ['v1'], preferredVersion: 'v1' },
    { group: 'discovery.k8s.io', versions: ['v1'], preferredVersion: 'v1' },
    { group: 'apiextensions.k8s.io', versions: ['v1'], preferredVersion: 'v1' },
    { group: 'admissionregistration.k8s.io', versions: ['v1'], preferredVersion: 'v1' },
    { group: 'flowcontrol.apiserver.k8s.io', versions: ['v1'], preferredVersion: 'v1' },
  ]);
});

test('defs added and removed at run time (CRDs) are served, and the revision moves', () => {
  const r = new ResourceRegistry(builtinResources());
  const before = r.all();
  const rev = r.revision;
  const base = r.lookup('', 'v1', 'configmaps');
  assert.ok(base);
  const custom = { ...base, group: 'stable.example.com', kind: 'CronTab', listKind: 'CronTabList', plural: 'crontabs', singular: 'crontab', shortNames: ['ct'] };
  r.add([custom, { ...custom, version: 'v2' }]);
  assert.equal(r.lookup('stable.example.com', 'v2', 'crontabs')?.kind, 'CronTab');
  assert.equal(r.byKind('stable.example.com/v1', 'CronTab'), custom);
  assert.deepEqual(r.groups().at(-1), { group: 'stable.example.com', versions: ['v1', 'v2'], preferredVersion: 'v1' });
  assert.notEqual(r.all(), before, 'a new array for a new revision');
  assert.equal(r.all(), r.all(), 'one array per revision');
  assert.ok(r.revision > rev);
  r.remove((d) => d.group === 'stable.example.com');
  assert.equal(r.lookup('stable.example.com', 'v1', 'crontabs'), undefined);
  assert.equal(r.byKind('stable.example.com/v1', 'CronTab'), undefined);
  assert.equal(r.all().length, before.length);
});

test('duplicate resources are rejected', () => {
  const defs = builtinResources();
  assert.throws(() => new ResourceRegistry([...defs, defs[0]]), /duplicate resource/);
});

test('subresource discovery info', () => {
  const pods = reg.lookup('', 'v1', 'pods');
  assert.ok(pods);
  assert.deepEqual(subresourceInfo(pods, 'status'), { kind: 'Pod', verbs: ['get', 'patch', 'update'] });
  assert.deepEqual(subresourceInfo(pods, 'eviction'), { kind: 'Eviction', verbs: ['create'], group: 'policy', version: 'v1' });
  assert.equal(subresourceInfo(pods, 'exec').kind, 'PodExecOptions');
  assert.deepEqual(subresourceInfo(pods, 'log').verbs, ['get']);
  const deployments = reg.lookup('apps', 'v1', 'deployments');
  assert.ok(deployments);
  assert.deepEqual(subresourceInfo(deployments, 'scale'), { kind: 'Scale', verbs: ['get', 'patch', 'update'], group: 'autoscaling', version: 'v1' });
});

test('builtinResources returns fresh objects', () => {
  const a = builtinResources();
  a[0].shortNames.push('x');
  assert.ok(!builtinResources()[0].shortNames.includes('x'));
});
