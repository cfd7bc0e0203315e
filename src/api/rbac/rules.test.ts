import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PolicyRule } from 'kubernetes-types/rbac/v1.js';
import { ruleAllows, type RuleRequest } from './rules.ts';
import { covers } from './covers.ts';
import { aggregatedRules } from './aggregate.ts';
import { subjectsApply, subjectKey } from './subjects.ts';
import { bootstrapClusterRoles } from './bootstrap-policy.ts';

const res = (verb: string, resource: string, extra: Partial<Extract<RuleRequest, { kind: 'resource' }>> = {}): RuleRequest => ({
  kind: 'resource',
  verb,
  group: '',
  resource,
  subresource: '',
  name: '',
  namespace: 'default',
  ...extra,
});
const url = (verb: string, path: string): RuleRequest => ({ kind: 'nonResource', verb, path });

describe('RBAC rule matching', () => {
  it('matches verbs, groups and resources exactly or by wildcard', () => {
    const r: PolicyRule = { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] };
    assert.equal(ruleAllows(res('get', 'pods'), r), true);
    assert.equal(ruleAllows(res('list', 'pods'), r), true);
    assert.equal(ruleAllows(res('delete', 'pods'), r), false);
    assert.equal(ruleAllows(res('get', 'secrets'), r), false);
    assert.equal(ruleAllows(res('get', 'pods', { group: 'apps' }), r), false);
    const all: PolicyRule = { apiGroups: ['*'], resources: ['*'], verbs: ['*'] };
    assert.equal(ruleAllows(res('escalate', 'roles', { group: 'rbac.authorization.k8s.io' }), all), true);
    assert.equal(ruleAllows(res('get', 'pods', { subresource: 'log' }), all), true, '* covers subresources');
  });

  it('keeps subresources apart from their resource', () => {
    const pods: PolicyRule = { apiGroups: [''], resources: ['pods'], verbs: ['get', 'create'] };
    assert.equal(ruleAllows(res('get', 'pods', { subresource: 'log' }), pods), false);
    assert.equal(ruleAllows(res('create', 'pods', { subresource: 'exec' }), pods), false);
    const log: PolicyRule = { apiGroups: [''], resources: ['pods/log'], verbs: ['get'] };
    assert.equal(ruleAllows(res('get', 'pods', { subresource: 'log' }), log), true);
    assert.equal(ruleAllows(res('get', 'pods'), log), false);
    const anyScale: PolicyRule = { apiGroups: ['*'], resources: ['*/scale'], verbs: ['update'] };
    assert.equal(ruleAllows(res('update', 'deployments', { group: 'apps', subresource: 'scale' }), anyScale), true);
    assert.equal(ruleAllows(res('update', 'deployments', { group: 'apps' }), anyScale), false);
  });

  it('limits by resourceNames: a named get matches, a list or create (no name) does not', () => {
    const r: PolicyRule = { apiGroups: [''], resources: ['configmaps'], resourceNames: ['app-config'], verbs: ['get', 'list', 'update'] };
    assert.equal(ruleAllows(res('get', 'configmaps', { name: 'app-config' }), r), true);
    assert.equal(ruleAllows(res('get', 'configmaps', { name: 'other' }), r), false);
    assert.equal(ruleAllows(res('list', 'configmaps'), r), false);
  });

  it('matches non-resource URLs exactly or by a trailing star, never resource requests', () => {
    const r: PolicyRule = { nonResourceURLs: ['/healthz', '/apis/*'], verbs: ['get'] };
    assert.equal(ruleAllows(url('get', '/healthz'), r), true);
    assert.equal(ruleAllows(url('get', '/healthz/etcd'), r), false);
    assert.equal(ruleAllows(url('get', '/apis/apps/v1'), r), true);
    assert.equal(ruleAllows(url('post', '/healthz'), r), false);
    assert.equal(ruleAllows(url('get', '/api'), r), false);
    assert.equal(ruleAllows(res('get', 'healthz'), r), false);
    assert.equal(ruleAllows(url('get', '/anything'), { nonResourceURLs: ['*'], verbs: ['*'] }), true);
    assert.equal(ruleAllows(url('get', '/api'), { apiGroups: ['*'], resources: ['*'], verbs: ['*'] }), false, 'resource rules never grant URLs');
  });
});

describe('RBAC subjects', () => {
  const sa = { username: 'system:serviceaccount:team:builder', groups: ['system:serviceaccounts', 'system:serviceaccounts:team', 'system:authenticated'] };
  it('matches users, groups and service accounts (namespace defaulting to the binding)', () => {
    assert.equal(subjectsApply(sa, [{ kind: 'ServiceAccount', name: 'builder' }], 'team'), true);
    assert.equal(subjectsApply(sa, [{ kind: 'ServiceAccount', name: 'builder' }], 'other'), false);
    assert.equal(subjectsApply(sa, [{ kind: 'ServiceAccount', name: 'builder', namespace: 'team' }], 'other'), true);
    assert.equal(subjectsApply(sa, [{ kind: 'Group', name: 'system:serviceaccounts:team', apiGroup: 'rbac.authorization.k8s.io' }], 'x'), true);
    assert.equal(subjectsApply(sa, [{ kind: 'User', name: 'system:serviceaccount:team:builder', apiGroup: 'rbac.authorization.k8s.io' }], 'x'), true);
    assert.equal(subjectsApply({ username: 'alice', groups: [] }, [{ kind: 'Group', name: 'alice' }], 'x'), false, 'a user is not a group of its name');
    assert.equal(subjectKey({ kind: 'ServiceAccount', name: 'x' }, ''), undefined, 'a cluster binding SA needs a namespace');
  });
});

describe('RBAC escalation (covers)', () => {
  it('lets a holder grant a subset and reports what it does not hold', () => {
    const owner: PolicyRule[] = [{ apiGroups: [''], resources: ['pods', 'configmaps'], verbs: ['get', 'list'] }];
    assert.equal(covers(owner, [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }]).covered, true);
    const { covered, missing } = covers(owner, [{ apiGroups: [''], resources: ['pods', 'secrets'], verbs: ['get', 'delete'] }]);
    assert.equal(covered, false);
    assert.deepEqual(missing, [
      { apiGroups: [''], resources: ['pods'], verbs: ['delete'] },
      { apiGroups: [''], resources: ['secrets'], verbs: ['get'] },
      { apiGroups: [''], resources: ['secrets'], verbs: ['delete'] },
    ]);
  });

  it('treats wildcards and names as upstream does', () => {
    const admin: PolicyRule[] = [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }];
    assert.equal(covers(admin, [{ apiGroups: ['apps'], resources: ['deployments/scale'], verbs: ['update'] }]).covered, true);
    assert.equal(covers(admin, [{ nonResourceURLs: ['/metrics'], verbs: ['get'] }]).covered, false, 'resource rules do not cover URLs');
    const named: PolicyRule[] = [{ apiGroups: [''], resources: ['secrets'], resourceNames: ['a'], verbs: ['get'] }];
    assert.equal(covers(named, [{ apiGroups: [''], resources: ['secrets'], resourceNames: ['a'], verbs: ['get'] }]).covered, true);
    assert.equal(covers(named, [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }]).covered, false, 'a named grant does not cover all names');
    const getStar: PolicyRule[] = [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }];
    assert.equal(covers(getStar, [{ apiGroups: [''], resources: ['pods'], verbs: ['*'] }]).covered, false, 'a * verb needs a * verb');
    assert.equal(covers([{ apiGroups: ['*'], resources: ['*/scale'], verbs: ['update'] }], [{ apiGroups: ['apps'], resources: ['statefulsets/scale'], verbs: ['update'] }]).covered, true);
    assert.equal(covers([{ nonResourceURLs: ['/apis/*'], verbs: ['get'] }], [{ nonResourceURLs: ['/apis/apps'], verbs: ['get'] }]).covered, true);
  });
});

describe('ClusterRole aggregation', () => {
  it('collects the rules of selected roles in name order without duplicates, never its own', () => {
    const mk = (name: string, labels: Record<string, string>, rules: PolicyRule[]) => ({ metadata: { name, labels }, rules });
    const agg = { metadata: { name: 'monitoring', labels: { pick: 'true' } }, aggregationRule: { clusterRoleSelectors: [{ matchLabels: { pick: 'true' } }] }, rules: [{ apiGroups: ['x'], resources: ['stale'], verbs: ['get'] }] };
    const b = mk('b', { pick: 'true' }, [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }]);
    const a = mk('a', { pick: 'true' }, [{ apiGroups: [''], resources: ['services'], verbs: ['get'] }, { apiGroups: [''], resources: ['pods'], verbs: ['get'] }]);
    const c = mk('c', { other: 'true' }, [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }]);
    assert.deepEqual(aggregatedRules(agg, [agg, b, a, c]), [
      { apiGroups: [''], resources: ['services'], verbs: ['get'] },
      { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
    ]);
    assert.equal(aggregatedRules(c, [c]), undefined);
  });

  it('seeds admin ⊇ edit ⊇ view', () => {
    const roles = bootstrapClusterRoles();
    const rules = (n: string) => roles.find((r) => r.metadata?.name === n)?.rules ?? [];
    assert.equal(covers(rules('admin'), rules('edit')).covered, true);
    assert.equal(covers(rules('edit'), rules('view')).covered, true);
    assert.equal(covers(rules('view'), [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }]).covered, false, 'view cannot read secrets');
    assert.equal(covers(rules('edit'), [{ apiGroups: ['rbac.authorization.k8s.io'], resources: ['rolebindings'], verbs: ['create'] }]).covered, false, 'edit cannot bind');
    assert.equal(covers(rules('admin'), [{ apiGroups: ['rbac.authorization.k8s.io'], resources: ['rolebindings'], verbs: ['create'] }]).covered, true);
  });
});
