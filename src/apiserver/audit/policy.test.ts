import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseRequestInfo, type RequestInfo } from '../request-info.ts';
import { AuditPolicyError, parseAuditPolicy } from './policy.ts';

const alice = { username: 'alice', groups: ['devs', 'system:authenticated'] };
const bob = { username: 'bob', groups: ['ops', 'system:authenticated'] };
const info = (method: string, path: string, query = ''): RequestInfo => parseRequestInfo(method, path, new URLSearchParams(query));

function policy(rules: string, extra = ''): ReturnType<typeof parseAuditPolicy> {
  return parseAuditPolicy(`apiVersion: audit.k8s.io/v1\nkind: Policy\n${extra}rules:\n${rules}`);
}

describe('audit policy matching', () => {
  it('first matching rule wins; no match is None', () => {
    const p = policy(`
- level: RequestResponse
  users: [alice]
- level: Metadata
  verbs: [get]
`);
    assert.equal(p.evaluate(alice, info('GET', '/api/v1/namespaces/default/pods')).level, 'RequestResponse');
    assert.equal(p.evaluate(bob, info('GET', '/api/v1/namespaces/default/pods/x')).level, 'Metadata');
    assert.equal(p.evaluate(bob, info('POST', '/api/v1/namespaces/default/pods')).level, 'None');
  });

  it('users, userGroups (any of the groups), and no user at all (failed authentication)', () => {
    const p = policy(`
- level: Request
  userGroups: [ops]
- level: Metadata
  users: [alice]
`);
    const i = info('GET', '/api/v1/pods');
    assert.equal(p.evaluate(bob, i).level, 'Request');
    assert.equal(p.evaluate(alice, i).level, 'Metadata');
    assert.equal(p.evaluate({ username: 'carol', groups: [] }, i).level, 'None');
    assert.equal(p.evaluate(undefined, i).level, 'None');
  });

  it('verbs are the request verbs (list, watch, create, deletecollection; lower-case methods for non-resource paths)', () => {
    const p = policy(`
- level: Metadata
  verbs: [watch, deletecollection, post]
`);
    assert.equal(p.evaluate(alice, info('GET', '/api/v1/pods', 'watch=true')).level, 'Metadata');
    assert.equal(p.evaluate(alice, info('GET', '/api/v1/pods')).level, 'None', 'list');
    assert.equal(p.evaluate(alice, info('DELETE', '/api/v1/namespaces/a/pods')).level, 'Metadata');
    assert.equal(p.evaluate(alice, info('POST', '/logs')).level, 'Metadata');
  });

  it('resources: group, plain resources, subresources, */sub, res/*, *, resourceNames', () => {
    const p = policy(`
- level: None
  resources:
  - group: ""
    resources: [secrets]
    resourceNames: [public]
- level: RequestResponse
  resources:
  - group: ""
    resources: [secrets, pods/log]
- level: Request
  resources:
  - group: apps
    resources: [deployments/*]
- level: Metadata
  resources:
  - group: ""
    resources: ["*/status"]
- level: Request
  resources:
  - group: rbac.authorization.k8s.io
`);
    const ev = (method: string, path: string) => p.evaluate(alice, info(method, path)).level;
    assert.equal(ev('GET', '/api/v1/namespaces/a/secrets/public'), 'None', 'resourceNames narrow the first rule');
    assert.equal(ev('GET', '/api/v1/namespaces/a/secrets/private'), 'RequestResponse');
    assert.equal(ev('GET', '/api/v1/namespaces/a/pods/x/log'), 'RequestResponse');
    assert.equal(ev('GET', '/api/v1/namespaces/a/pods/x'), 'None', 'pods/log does not match pods');
    assert.equal(ev('GET', '/api/v1/namespaces/a/pods/x/exec'), 'None');
    assert.equal(ev('GET', '/apis/apps/v1/namespaces/a/deployments/d'), 'Request', 'deployments/* matches the resource');
    assert.equal(ev('PUT', '/apis/apps/v1/namespaces/a/deployments/d/scale'), 'Request', '... and its subresources');
    assert.equal(ev('GET', '/apis/apps/v1/namespaces/a/replicasets/r'), 'None');
    assert.equal(ev('PUT', '/api/v1/namespaces/a/pods/x/status'), 'Metadata', '*/status');
    assert.equal(ev('PUT', '/api/v1/nodes/n/status'), 'Metadata');
    assert.equal(ev('PUT', '/apis/apps/v1/namespaces/a/statefulsets/s/status'), 'None', 'the group still has to match');
    assert.equal(ev('GET', '/apis/rbac.authorization.k8s.io/v1/clusterroles'), 'Request', 'a group without resources matches all of them');
    assert.equal(ev('GET', '/api'), 'None', 'resource rules never match non-resource requests');
  });

  it('"*" matches any resource and subresource of the group', () => {
    const p = policy(`
- level: Metadata
  resources:
  - group: ""
    resources: ["*"]
`);
    assert.equal(p.evaluate(alice, info('GET', '/api/v1/namespaces/a/pods/x/log')).level, 'Metadata');
    assert.equal(p.evaluate(alice, info('GET', '/apis/apps/v1/deployments')).level, 'None');
  });

  it('namespaces ("" = cluster-scoped)', () => {
    const p = policy(`
- level: Request
  namespaces: [kube-system]
- level: Metadata
  namespaces: [""]
`);
    assert.equal(p.evaluate(alice, info('GET', '/api/v1/namespaces/kube-system/configmaps')).level, 'Request');
    assert.equal(p.evaluate(alice, info('GET', '/api/v1/nodes')).level, 'Metadata');
    assert.equal(p.evaluate(alice, info('GET', '/api/v1/namespaces/default/configmaps')).level, 'None');
    assert.equal(p.evaluate(alice, info('GET', '/healthz')).level, 'None');
  });

  it('nonResourceURLs: exact, prefix wildcard, *; never resource requests', () => {
    const p = policy(`
- level: None
  nonResourceURLs: [/healthz*, /version]
- level: Metadata
  nonResourceURLs: ["/apis*"]
- level: Request
  nonResourceURLs: ["*"]
`);
    const ev = (path: string) => p.evaluate(alice, info('GET', path)).level;
    assert.equal(ev('/healthz'), 'None');
    assert.equal(ev('/healthz/etcd'), 'None');
    assert.equal(ev('/version'), 'None');
    assert.equal(ev('/versions'), 'Request', 'an exact URL is exact');
    assert.equal(ev('/apis'), 'Metadata');
    assert.equal(ev('/apis/apps'), 'Metadata', 'discovery of a group is a non-resource request');
    assert.equal(ev('/openapi/v2'), 'Request');
    assert.equal(ev('/api/v1/pods'), 'None', 'a resource request does not match non-resource rules');
  });

  it('omitStages join the policy\'s and the rule\'s; omitManagedFields: the rule\'s setting wins, else the policy\'s', () => {
    const p = policy(
      `
- level: Metadata
  users: [alice]
  omitStages: [ResponseStarted]
  omitManagedFields: false
- level: Request
`,
      'omitStages: [RequestReceived]\nomitManagedFields: true\n',
    );
    const a = p.evaluate(alice, info('GET', '/api/v1/pods'));
    assert.deepEqual([...a.omitStages].sort(), ['RequestReceived', 'ResponseStarted']);
    assert.equal(a.omitManagedFields, false);
    const b = p.evaluate(bob, info('GET', '/api/v1/pods'));
    assert.deepEqual([...b.omitStages], ['RequestReceived']);
    assert.equal(b.omitManagedFields, true);
  });
});

describe('audit policy validation', () => {
  const refused = (text: string, re: RegExp) => assert.throws(() => parseAuditPolicy(text), (err: Error) => err instanceof AuditPolicyError && re.test(err.message));
  const head = 'apiVersion: audit.k8s.io/v1\nkind: Policy\n';

  it('names the rule and field at fault, with upstream\'s wording', () => {
    refused(`${head}rules:\n- level: Metadata\n- level: Everything\n`, /^rules\[1\]\.level: Unsupported value: "Everything": supported values: "None", "Metadata", "Request", "RequestResponse"$/);
    refused(`${head}rules:\n- users: [a]\n`, /rules\[0\]\.level: Required value/);
    refused(`${head}rules:\n- level: None\n  nonResourceURLs: [healthz]\n`, /rules\[0\]\.nonResourceURLs\[0\]: Invalid value: "healthz": non-resource URL rules must begin with a '\/' character/);
    refused(`${head}rules:\n- level: None\n  nonResourceURLs: ["/a*/b"]\n`, /rules\[0\]\.nonResourceURLs\[0\]: .*wildcards '\*' must be the final character/);
    refused(`${head}rules:\n- level: None\n  nonResourceURLs: [/x]\n  namespaces: [a]\n`, /rules\[0\]\.nonResourceURLs: .*rules cannot apply to both regular resources and non-resource URLs/);
    refused(`${head}rules:\n- level: None\n  resources: [{group: Apps}]\n`, /rules\[0\]\.resources\[0\]\.group: Invalid value: "Apps": a lowercase RFC 1123 subdomain/);
    refused(`${head}rules:\n- level: None\n  resources: [{resourceNames: [x]}]\n`, /rules\[0\]\.resources\[0\]\.resourceNames: .*using resourceNames requires at least one resource/);
    refused(`${head}rules:\n- level: None\n  omitStages: [Done]\n`, /rules\[0\]\.omitStages\[0\]: Invalid value: "Done": allowed stages are RequestReceived,ResponseStarted,ResponseComplete,Panic/);
    refused(`${head}omitStages: [Later]\nrules:\n- level: None\n`, /^omitStages\[0\]: Invalid value: "Later"/);
    refused(`${head}rules:\n- level: None\n  verb: [get]\n`, /rules\[0\]\.verb: unknown field/);
    refused(`${head}rules:\n- level: None\n  users: alice\n`, /rules\[0\]\.users: Invalid value: "alice": must be a list of strings/);
  });

  it('refuses other kinds, versions, no rules and non-YAML', () => {
    refused('apiVersion: audit.k8s.io/v1beta1\nkind: Policy\nrules:\n- level: None\n', /^apiVersion: Unsupported value: "audit.k8s.io\/v1beta1"/);
    refused('apiVersion: audit.k8s.io/v1\nkind: Pod\nrules:\n- level: None\n', /^kind: Unsupported value: "Pod"/);
    refused(`${head}rules: []\n`, /at least one rule/);
    refused(`${head}`, /at least one rule/);
    refused('{ nope', /not YAML or JSON/);
  });

  it('accepts upstream\'s example policy (JSON works too)', () => {
    const p = parseAuditPolicy(`${head}omitStages: [RequestReceived]
rules:
  - level: RequestResponse
    resources:
    - group: ""
      resources: ["pods"]
  - level: Metadata
    resources:
    - group: ""
      resources: ["pods/log", "pods/status"]
  - level: None
    resources:
    - group: ""
      resources: ["configmaps"]
      resourceNames: ["controller-leader"]
  - level: None
    users: ["system:kube-proxy"]
    verbs: ["watch"]
    resources:
    - group: ""
      resources: ["endpoints", "services"]
  - level: None
    userGroups: ["system:authenticated"]
    nonResourceURLs:
    - "/api*"
    - "/version"
  - level: Request
    resources:
    - group: ""
      resources: ["configmaps"]
    namespaces: ["kube-system"]
  - level: Metadata
    resources:
    - group: ""
      resources: ["secrets", "configmaps"]
  - level: Request
    resources:
    - group: ""
    - group: "extensions"
  - level: Metadata
    omitStages:
      - "RequestReceived"
`);
    assert.equal(p.policy.rules.length, 9);
    assert.equal(p.evaluate(alice, info('GET', '/api/v1/namespaces/a/pods/p/log')).level, 'Metadata');
    assert.equal(p.evaluate(alice, info('GET', '/api/v1/namespaces/a/secrets/s')).level, 'Metadata');
    assert.equal(p.evaluate(alice, info('GET', '/apis/apps/v1/deployments')).level, 'Metadata');
    assert.equal(parseAuditPolicy(JSON.stringify({ apiVersion: 'audit.k8s.io/v1', kind: 'Policy', rules: [{ level: 'Metadata' }] })).evaluate(alice, info('GET', '/api')).level, 'Metadata');
  });
});
