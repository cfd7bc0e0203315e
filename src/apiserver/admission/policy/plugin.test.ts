import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { builtinResources } from '../../../api/builtin/index.ts';
import { statusFromError } from '../../../api/meta/status.ts';
import type { KubeObject } from '../../../api/object.ts';
import type { ResourceDef } from '../../../api/resources/types.ts';
import {
  defaultValidatingAdmissionPolicy,
  defaultValidatingAdmissionPolicyBinding,
  validateValidatingAdmissionPolicy,
  validateValidatingAdmissionPolicyBinding,
} from '../../../api/validation/admission-policy.ts';
import { isHedgeError } from '../../../lib/errors.ts';
import { silentLogger, type Logger } from '../../../lib/log.ts';
import type { AdmissionRequest } from '../types.ts';
import { AdmissionPolicies } from './policies.ts';
import { validatingAdmissionPolicyPlugin, type PolicyPluginOptions } from './plugin.ts';

const defs = builtinResources();
const defOf = (group: string, plural: string): ResourceDef => defs.find((d) => d.group === group && d.plural === plural)!;
const deployments = defOf('apps', 'deployments');
const configMaps = defOf('', 'configmaps');

let uid = 0;
function policy(name: string, spec: Record<string, unknown>, generation = 1): KubeObject {
  const obj = { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicy', metadata: { name, uid: `u-${++uid}`, generation }, spec } as unknown as KubeObject;
  defaultValidatingAdmissionPolicy(obj);
  assert.deepEqual(validateValidatingAdmissionPolicy(obj), [], 'the test policy is valid');
  return obj;
}
function binding(name: string, spec: Record<string, unknown>): KubeObject {
  const obj = { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicyBinding', metadata: { name }, spec: { validationActions: ['Deny'], ...spec } } as unknown as KubeObject;
  defaultValidatingAdmissionPolicyBinding(obj);
  assert.deepEqual(validateValidatingAdmissionPolicyBinding(obj), [], 'the test binding is valid');
  return obj;
}
const deploymentRules = { resourceRules: [{ apiGroups: ['apps'], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['deployments'] }] };
const replicas = (spec: Record<string, unknown> = {}) => ({ matchConstraints: deploymentRules, validations: [{ expression: 'object.spec.replicas <= 5' }], ...spec });

function deployment(n: number, labels: Record<string, string> = {}): KubeObject {
  return { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'default', labels }, spec: { replicas: n } } as unknown as KubeObject;
}
function request(obj: KubeObject, over: Partial<AdmissionRequest> = {}): AdmissionRequest {
  return { operation: 'CREATE', def: deployments, subresource: '', namespace: 'default', name: obj.metadata.name ?? '', object: obj, user: { username: 'alice', groups: ['devs'] }, dryRun: false, signal: new AbortController().signal, warnings: [], ...over };
}

interface Setup {
  policies: KubeObject[];
  bindings: KubeObject[];
  stored?: KubeObject[];
  namespaces?: Record<string, Record<string, string>>;
  logger?: Logger;
}
function plugin(s: Setup): { validate: (req: AdmissionRequest) => Promise<unknown>; set: AdmissionPolicies } {
  const set = new AdmissionPolicies({ policies: () => s.policies, bindings: () => s.bindings });
  const stored = s.stored ?? [];
  const opts: PolicyPluginOptions = {
    hooks: () => set.hooks(),
    namespaceLabels: async (n) => s.namespaces?.[n] ?? {},
    equivalentDefs: () => [],
    getNamespace: async (n) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: n, labels: s.namespaces?.[n] ?? {}, managedFields: [] } }) as unknown as KubeObject,
    params: {
      resolve: (apiVersion, kind) => defs.find((d) => (d.group ? `${d.group}/${d.version}` : d.version) === apiVersion && d.kind === kind),
      get: async (def, ns, name) => stored.find((o) => o.kind === def.kind && (o.metadata.namespace ?? '') === ns && o.metadata.name === name),
      list: async (def, ns) => stored.filter((o) => o.kind === def.kind && (o.metadata.namespace ?? '') === ns),
    },
    logger: s.logger ?? silentLogger(),
  };
  const p = validatingAdmissionPolicyPlugin(opts);
  return {
    set,
    validate: async (req) => {
      try {
        await p.validate!(req);
        return undefined;
      } catch (err) {
        return err;
      }
    },
  };
}

describe('ValidatingAdmissionPolicy: validations and validationActions', () => {
  it('Deny: refused with upstream\'s message; the reason picks the code (Invalid 422 by default)', async () => {
    const { validate } = plugin({ policies: [policy('max-replicas', replicas())], bindings: [binding('b', { policyName: 'max-replicas' })] });
    assert.equal(await validate(request(deployment(3))), undefined);
    const err = await validate(request(deployment(6)));
    assert.ok(isHedgeError(err, 'Invalid'), String(err));
    const st = statusFromError(err);
    assert.equal(st.code, 422);
    assert.equal(st.message, 'deployments.apps "web" is forbidden: ValidatingAdmissionPolicy \'max-replicas\' with binding \'b\' denied request: failed expression: object.spec.replicas <= 5');
    for (const [reason, code] of [['Forbidden', 403], ['Unauthorized', 401], ['RequestEntityTooLarge', 413], ['Invalid', 422]] as const) {
      const { validate: v } = plugin({ policies: [policy('p', replicas({ validations: [{ expression: 'object.spec.replicas <= 5', reason, message: 'too many' }] }))], bindings: [binding('b', { policyName: 'p' })] });
      const e = await v(request(deployment(6)));
      assert.equal(statusFromError(e).code, code, reason);
      assert.match(statusFromError(e).message ?? '', /denied request: too many$/);
    }
  });

  it('messageExpression, then message, then the expression: the first that gives a usable text', async () => {
    const spec = replicas({ validations: [{ expression: 'object.spec.replicas <= 5', message: 'static', messageExpression: "'replicas ' + string(object.spec.replicas) + ' > 5'" }] });
    const { validate } = plugin({ policies: [policy('p', spec)], bindings: [binding('b', { policyName: 'p' })] });
    assert.match(String(await validate(request(deployment(7)))), /denied request: replicas 7 > 5$/);
    const bad = replicas({ validations: [{ expression: 'object.spec.replicas <= 5', message: 'static', messageExpression: 'object.nothing' }] });
    const { validate: v2 } = plugin({ policies: [policy('p', bad)], bindings: [binding('b', { policyName: 'p' })] });
    assert.match(String(await v2(request(deployment(7)))), /denied request: static$/);
  });

  it('Warn: a warning, the request passes; Audit: the audit event\'s annotation; [Warn, Audit] both', async () => {
    const { validate } = plugin({ policies: [policy('p', replicas())], bindings: [binding('b', { policyName: 'p', validationActions: ['Warn', 'Audit'] })] });
    const req = request(deployment(9), { auditAnnotations: {} });
    assert.equal(await validate(req), undefined);
    assert.deepEqual(req.warnings, ["Validation failed for ValidatingAdmissionPolicy 'p' with binding 'b': failed expression: object.spec.replicas <= 5"]);
    const value = req.auditAnnotations?.['validation.policy.admission.k8s.io/validation_failure'];
    assert.deepEqual(JSON.parse(value ?? 'null'), [{ message: 'failed expression: object.spec.replicas <= 5', policy: 'p', binding: 'b', expressionIndex: 0, validationActions: ['Warn', 'Audit'] }]);
  });

  it('variables are evaluated lazily (one that would fail but is not read does no harm); matchConditions false skips the policy', async () => {
    const spec = replicas({
      variables: [{ name: 'limit', expression: "has(object.metadata.labels) && 'big' in object.metadata.labels ? 10 : 5" }, { name: 'n', expression: 'object.spec.replicas' }, { name: 'boom', expression: 'object.nothing.here' }],
      matchConditions: [{ name: 'not-system', expression: "request.userInfo.username != 'system:admin'" }],
      validations: [{ expression: 'variables.n <= variables.limit', messageExpression: "'at most ' + string(variables.limit)" }],
    });
    const { validate } = plugin({ policies: [policy('p', spec)], bindings: [binding('b', { policyName: 'p' })] });
    assert.match(String(await validate(request(deployment(6)))), /denied request: at most 5$/);
    assert.equal(await validate(request(deployment(6, { big: 'yes' }))), undefined);
    assert.equal(await validate(request(deployment(60), { user: { username: 'system:admin', groups: [] } })), undefined);
    // a variable that fails, once read, is the expression's error
    const reads = replicas({ variables: [{ name: 'boom', expression: 'object.nothing.here' }], validations: [{ expression: 'variables.boom == 1' }] });
    const { validate: v2 } = plugin({ policies: [policy('p', reads)], bindings: [binding('b', { policyName: 'p' })] });
    assert.match(String(await v2(request(deployment(1)))), /resulted in error: composited variable "boom" fails to evaluate: No such key: nothing/);
  });

  it('failurePolicy: an evaluation error refuses under Fail (Invalid), is ignored under Ignore', async () => {
    const spec = (failurePolicy: string) => replicas({ failurePolicy, validations: [{ expression: 'object.spec.template.spec.hostNetwork == false' }] });
    const { validate } = plugin({ policies: [policy('p', spec('Fail'))], bindings: [binding('b', { policyName: 'p' })] });
    const err = await validate(request(deployment(1)));
    assert.equal(statusFromError(err).code, 422);
    assert.match(statusFromError(err).message ?? '', /denied request: expression 'object\.spec\.template\.spec\.hostNetwork == false' resulted in error: No such key: template/);
    const { validate: v2 } = plugin({ policies: [policy('p', spec('Ignore'))], bindings: [binding('b', { policyName: 'p' })] });
    assert.equal(await v2(request(deployment(1))), undefined);
  });
});

describe('ValidatingAdmissionPolicy: matching', () => {
  it('matchConstraints: resource rules, operations, excludeResourceRules, resourceNames; bindings narrow with matchResources', async () => {
    const spec = replicas({ matchConstraints: { ...deploymentRules, excludeResourceRules: [{ apiGroups: ['apps'], apiVersions: ['v1'], operations: ['*'], resources: ['deployments'], resourceNames: ['exempt'] }] } });
    const { validate } = plugin({
      policies: [policy('p', spec)],
      bindings: [binding('b', { policyName: 'p', matchResources: { namespaceSelector: { matchLabels: { env: 'prod' } } } })],
      namespaces: { prod: { env: 'prod' }, dev: { env: 'dev' } },
    });
    const inNs = (ns: string, name = 'web') => {
      const d = deployment(9);
      d.metadata.namespace = ns;
      d.metadata.name = name;
      return request(d, { namespace: ns, name });
    };
    assert.ok(await validate(inNs('prod')), 'prod is matched by the binding');
    assert.equal(await validate(inNs('dev')), undefined, 'dev is not');
    assert.equal(await validate(inNs('prod', 'exempt')), undefined, 'excluded by name');
    assert.equal(await validate({ ...inNs('prod'), operation: 'DELETE', object: undefined, oldObject: deployment(9) }), undefined, 'DELETE is not in the rule');
    assert.equal(await validate(request({ metadata: { name: 'cm', namespace: 'prod' } } as KubeObject, { def: configMaps, namespace: 'prod' })), undefined, 'another resource');
  });

  it('objectSelector; a policy without a binding does nothing; policies themselves are exempt', async () => {
    const spec = replicas({ matchConstraints: { ...deploymentRules, objectSelector: { matchLabels: { checked: 'yes' } } } });
    const { validate } = plugin({ policies: [policy('p', spec), policy('unbound', replicas())], bindings: [binding('b', { policyName: 'p' })] });
    assert.equal(await validate(request(deployment(9))), undefined);
    assert.ok(await validate(request(deployment(9, { checked: 'yes' }))));
  });

  it('compiled once per generation: a binding change does not recompile, a new generation does', () => {
    const bindings = [binding('b', { policyName: 'p' })];
    const policies = [policy('p', replicas())];
    const set = new AdmissionPolicies({ policies: () => policies, bindings: () => bindings });
    set.hooks();
    bindings.push(binding('c', { policyName: 'p' }));
    set.changed();
    assert.equal(set.hooks()[0]!.bindings.length, 2);
    assert.equal(set.compilations, 1);
    policies[0] = { ...policies[0]!, metadata: { ...policies[0]!.metadata, generation: 2 } };
    set.changed();
    set.hooks();
    assert.equal(set.compilations, 2);
  });
});

describe('ValidatingAdmissionPolicy: params', () => {
  const cm = (name: string, ns: string, data: Record<string, string>, labels: Record<string, string> = {}) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns, labels }, data }) as unknown as KubeObject;
  const withParams = () => replicas({ paramKind: { apiVersion: 'v1', kind: 'ConfigMap' }, validations: [{ expression: 'object.spec.replicas <= int(params.data.max)', messageExpression: "'max ' + params.data.max" }] });

  it('by name in the paramRef\'s namespace, else the request\'s', async () => {
    const stored = [cm('limits', 'policies', { max: '3' }), cm('limits', 'default', { max: '8' })];
    const { validate } = plugin({ policies: [policy('p', withParams())], bindings: [binding('b', { policyName: 'p', paramRef: { name: 'limits', namespace: 'policies' } })], stored });
    assert.match(String(await validate(request(deployment(4)))), /denied request: max 3$/);
    const { validate: own } = plugin({ policies: [policy('p', withParams())], bindings: [binding('b', { policyName: 'p', paramRef: { name: 'limits' } })], stored });
    assert.equal(await own(request(deployment(4))), undefined);
    assert.match(String(await own(request(deployment(9)))), /max 8$/);
  });

  it('by selector: every selected param is checked', async () => {
    const stored = [cm('a', 'default', { max: '10' }, { tier: 'x' }), cm('b', 'default', { max: '4' }, { tier: 'x' }), cm('c', 'default', { max: '1' })];
    const { validate } = plugin({ policies: [policy('p', withParams())], bindings: [binding('b', { policyName: 'p', paramRef: { selector: { matchLabels: { tier: 'x' } } } })], stored });
    assert.match(String(await validate(request(deployment(5)))), /denied request: max 4$/);
    assert.equal(await validate(request(deployment(4))), undefined);
  });

  it('not found: Deny refuses (under failurePolicy Fail), Allow skips; Ignore skips either way', async () => {
    const deny = plugin({ policies: [policy('p', withParams())], bindings: [binding('b', { policyName: 'p', paramRef: { name: 'missing', parameterNotFoundAction: 'Deny' } })] });
    const err = await deny.validate(request(deployment(1)));
    assert.equal(statusFromError(err).message, "deployments.apps \"web\" is forbidden: ValidatingAdmissionPolicy 'p' with binding 'b' denied request: failed to configure binding: no params found for policy binding with `Deny` parameterNotFoundAction");
    const allow = plugin({ policies: [policy('p', withParams())], bindings: [binding('b', { policyName: 'p', paramRef: { name: 'missing', parameterNotFoundAction: 'Allow' } })] });
    assert.equal(await allow.validate(request(deployment(100))), undefined);
    const ignore = plugin({ policies: [policy('p', { ...withParams(), failurePolicy: 'Ignore' })], bindings: [binding('b', { policyName: 'p', paramRef: { name: 'missing' } })] });
    assert.equal(await ignore.validate(request(deployment(100))), undefined);
  });

  it('namespaceObject is the request\'s namespace', async () => {
    const spec = replicas({ validations: [{ expression: "namespaceObject.metadata.name == 'default' && !has(namespaceObject.metadata.managedFields) && namespaceObject.metadata.labels.tier == 'gold'" }] });
    const { validate } = plugin({ policies: [policy('p', spec)], bindings: [binding('b', { policyName: 'p' })], namespaces: { default: { tier: 'gold' } } });
    assert.equal(await validate(request(deployment(1))), undefined);
  });
});

describe('ValidatingAdmissionPolicy validation', () => {
  it('refuses expressions that do not compile at their field, unknown variables, bad bindings', () => {
    const obj = { metadata: { name: 'p' }, spec: { matchConstraints: deploymentRules, variables: [{ name: 'a', expression: 'variables.b' }, { name: 'b', expression: '1' }], validations: [{ expression: 'object.spec.replicas <=' }, { expression: '1', reason: 'Teapot' }, { expression: 'true', messageExpression: '1' }] } } as unknown as KubeObject;
    defaultValidatingAdmissionPolicy(obj);
    const got = validateValidatingAdmissionPolicy(obj).map((c) => `${c.field}: ${c.message}`);
    assert.ok(got.includes("spec.variables[0].expression: Invalid value: \"variables.b\": compilation failed: ERROR: <input>: undefined field 'b'"), got.join('\n'));
    assert.ok(got.some((c) => c.startsWith('spec.validations[0].expression: Invalid value: "object.spec.replicas <=": compilation failed: ERROR: <input>:1:')), got.join('\n'));
    assert.ok(got.includes('spec.validations[1].expression: Invalid value: "1": must evaluate to bool'), got.join('\n'));
    assert.ok(got.some((c) => c.startsWith('spec.validations[1].reason: Unsupported value: "Teapot"')));
    assert.ok(got.includes('spec.validations[2].messageExpression: Invalid value: "1": must evaluate to string'), got.join('\n'));
    const empty = { metadata: { name: 'p' }, spec: {} } as unknown as KubeObject;
    defaultValidatingAdmissionPolicy(empty);
    const e2 = validateValidatingAdmissionPolicy(empty).map((c) => `${c.field}: ${c.message}`);
    assert.ok(e2.includes('spec.matchConstraints: Required value'));
    assert.ok(e2.includes('spec.validations: Required value: validations or auditAnnotations must contain at least one item'));
    const b = { metadata: { name: 'b' }, spec: { policyName: '', paramRef: { name: 'x', selector: {} }, validationActions: ['Deny', 'Warn', 'Deny', 'Log'] } } as unknown as KubeObject;
    defaultValidatingAdmissionPolicyBinding(b);
    const e3 = validateValidatingAdmissionPolicyBinding(b).map((c) => `${c.field}: ${c.message}`);
    for (const want of [
      'spec.policyName: Required value',
      'spec.paramRef.name: Forbidden: name and selector are mutually exclusive',
      'spec.validationActions[2]: Duplicate value: "Deny"',
      'spec.validationActions[3]: Unsupported value: "Log": supported values: "Deny", "Warn", "Audit"',
    ]) assert.ok(e3.includes(want), `${want}\n${e3.join('\n')}`);
    assert.ok(e3.some((c) => c.startsWith('spec.validationActions: Invalid value: ') && c.endsWith('must not contain both Deny and Warn (repeating the same validation failure information in the API response and headers serves no purpose)')));
  });
});
