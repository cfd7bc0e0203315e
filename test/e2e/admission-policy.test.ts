/**
 * ValidatingAdmissionPolicy with the real kubectl against `hedge server`: the upstream example
 * (https://kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy/) denying
 * Deployments with more than 5 replicas in namespaces labelled environment=test, a Warn binding,
 * a binding whose limit comes from a ConfigMap (paramRef), a policy on deployments/scale that
 * `kubectl scale` meets (and one on deployments that it does not), and a policy that does not compile.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { findKubectl, startHedgeServer, type HedgeServer } from './harness.ts';

const kubectlPath = findKubectl();

const demoPolicy = `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: "demo-policy.example.com"
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - apiGroups:   ["apps"]
      apiVersions: ["v1"]
      operations:  ["CREATE", "UPDATE"]
      resources:   ["deployments"]
  validations:
    - expression: "object.spec.replicas <= 5"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: "demo-binding-test.example.com"
spec:
  policyName: "demo-policy.example.com"
  validationActions: [Deny]
  matchResources:
    namespaceSelector:
      matchLabels:
        environment: test
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: "demo-binding-staging.example.com"
spec:
  policyName: "demo-policy.example.com"
  validationActions: [Warn]
  matchResources:
    namespaceSelector:
      matchLabels:
        environment: staging
`;

const paramPolicy = `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: replicalimit-policy.example.com
spec:
  failurePolicy: Fail
  paramKind:
    apiVersion: v1
    kind: ConfigMap
  matchConstraints:
    resourceRules:
    - apiGroups:   ["apps"]
      apiVersions: ["v1"]
      operations:  ["CREATE", "UPDATE"]
      resources:   ["deployments"]
  variables:
    - name: limit
      expression: "int(params.data.maxReplicas)"
  validations:
    - expression: "object.spec.replicas <= variables.limit"
      messageExpression: "'replicas must be no greater than ' + string(variables.limit)"
      reason: Forbidden
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: replicalimit-binding.example.com
spec:
  policyName: replicalimit-policy.example.com
  validationActions: [Deny]
  paramRef:
    name: replica-limit
    namespace: policy-params
    parameterNotFoundAction: Deny
  matchResources:
    namespaceSelector:
      matchLabels:
        environment: limited
`;

// a policy on the scale subresource (upstream's Scale: object and oldObject are autoscaling/v1 Scales)
const scalePolicy = `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: scale-limit.example.com
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - apiGroups:   ["apps"]
      apiVersions: ["v1"]
      operations:  ["UPDATE"]
      resources:   ["deployments/scale"]
  validations:
    - expression: "request.kind.kind == 'Scale' && object.spec.replicas <= 5"
      messageExpression: "'Scale ' + object.metadata.name + ' from ' + string(oldObject.spec.replicas) + ' to ' + string(object.spec.replicas) + ': at most 5 replicas'"
      reason: Forbidden
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: scale-limit-binding.example.com
spec:
  policyName: scale-limit.example.com
  validationActions: [Deny]
  matchResources:
    namespaceSelector:
      matchLabels:
        environment: scaling
`;

const deployment = (name: string, ns: string, replicas: number): string => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  namespace: ${ns}
spec:
  replicas: ${replicas}
  selector:
    matchLabels: {app: ${name}}
  template:
    metadata:
      labels: {app: ${name}}
    spec:
      containers:
      - name: web
        image: nginx
`;

describe('ValidatingAdmissionPolicy with the real kubectl', { skip: kubectlPath ? false : 'kubectl not installed', timeout: 180_000 }, () => {
  let server: HedgeServer;

  const kubectl = async (args: string[], input?: string): Promise<{ stdout: string; stderr: string }> => {
    const r = await server.kubectl(args, { input, timeoutMs: 60_000 });
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}\n${server.output().slice(-3000)}`);
    return r;
  };
  /** the policies reach the admission plugin through a cache: retry until the refusal shows */
  const refused = async (args: string[], input: string): Promise<string> => {
    for (let i = 0; ; i++) {
      const r = await server.kubectl(args, { input, timeoutMs: 60_000 });
      if (r.code !== 0) return r.stderr;
      assert.ok(i < 50, `kubectl ${args.join(' ')} kept succeeding`);
      await server.kubectl(['delete', '-f', '-', '--wait=false'], { input });
      await new Promise((res) => setTimeout(res, 100));
    }
  };

  before(async () => {
    server = await startHedgeServer();
  });
  after(async () => {
    await server?.stop();
    await server?.cleanup();
  });

  it('kubectl applies the upstream example; get shows the policy columns; observedGeneration is recorded', async () => {
    for (const [ns, env] of [['test', 'test'], ['staging', 'staging'], ['limited', 'limited']]) {
      await kubectl(['create', 'namespace', ns!]);
      await kubectl(['label', 'namespace', ns!, `environment=${env}`]);
    }
    await kubectl(['apply', '-f', '-'], demoPolicy);
    const table = (await kubectl(['get', 'validatingadmissionpolicies'])).stdout;
    assert.match(table, /^NAME\s+VALIDATIONS\s+PARAMKIND\s+AGE\n/);
    assert.match(table, /demo-policy\.example\.com\s+1\s+<unset>\s+\d+s/);
    const bindings = (await kubectl(['get', 'validatingadmissionpolicybindings'])).stdout;
    assert.match(bindings, /demo-binding-test\.example\.com\s+demo-policy\.example\.com\s+<unset>/);
    const res = (await kubectl(['api-resources', '--api-group=admissionregistration.k8s.io'])).stdout;
    assert.match(res, /validatingadmissionpolicies\s+admissionregistration\.k8s\.io\/v1\s+false\s+ValidatingAdmissionPolicy/);
    for (let i = 0; ; i++) {
      const g = (await kubectl(['get', 'validatingadmissionpolicy', 'demo-policy.example.com', '-o', 'jsonpath={.metadata.generation}/{.status.observedGeneration}'])).stdout;
      if (g === '1/1') break;
      assert.ok(i < 100, `observedGeneration not recorded: ${g}`);
      await new Promise((res) => setTimeout(res, 50));
    }
  });

  it('Deny: a Deployment with 6 replicas in a test namespace is refused with upstream\'s message; 5 passes, other namespaces pass', async () => {
    const err = await refused(['apply', '-f', '-'], deployment('big', 'test', 6));
    assert.match(err, /ValidatingAdmissionPolicy 'demo-policy\.example\.com' with binding 'demo-binding-test\.example\.com' denied request: failed expression: object\.spec\.replicas <= 5/);
    assert.match(err, /is invalid|Invalid/);
    await kubectl(['apply', '-f', '-'], deployment('small', 'test', 5));
    await kubectl(['apply', '-f', '-'], deployment('big', 'default', 6));
    // an update past the limit is refused too; kubectl prints upstream's `is invalid: : ...`
    const update = await server.kubectl(['apply', '-f', '-'], { input: deployment('small', 'test', 8), timeoutMs: 60_000 });
    assert.equal(update.code, 1);
    assert.match(update.stderr, /The deployments "small" is invalid: : ValidatingAdmissionPolicy 'demo-policy\.example\.com' with binding 'demo-binding-test\.example\.com' denied request: failed expression: object\.spec\.replicas <= 5/);
  });

  it('Warn: the request passes and kubectl prints the warning', async () => {
    const r = await kubectl(['apply', '-f', '-'], deployment('big', 'staging', 6));
    assert.match(r.stderr, /Warning: Validation failed for ValidatingAdmissionPolicy 'demo-policy\.example\.com' with binding 'demo-binding-staging\.example\.com': failed expression: object\.spec\.replicas <= 5/);
  });

  it('params from a ConfigMap (paramRef by name): the limit is read per request; a missing param is refused (Deny)', async () => {
    await kubectl(['apply', '-f', '-'], paramPolicy);
    const missing = await refused(['apply', '-f', '-'], deployment('p1', 'limited', 1));
    assert.match(missing, /failed to configure binding: no params found for policy binding with `Deny` parameterNotFoundAction/);
    await kubectl(['create', 'namespace', 'policy-params']);
    await kubectl(['create', 'configmap', 'replica-limit', '-n', 'policy-params', '--from-literal=maxReplicas=3']);
    await kubectl(['apply', '-f', '-'], deployment('p1', 'limited', 3));
    const over = await server.kubectl(['apply', '-f', '-'], { input: deployment('p2', 'limited', 4), timeoutMs: 60_000 });
    assert.notEqual(over.code, 0);
    assert.match(over.stderr, /\(Forbidden\).*ValidatingAdmissionPolicy 'replicalimit-policy\.example\.com' with binding 'replicalimit-binding\.example\.com' denied request: replicas must be no greater than 3/);
    await kubectl(['patch', 'configmap', 'replica-limit', '-n', 'policy-params', '--type=merge', '-p', '{"data":{"maxReplicas":"4"}}']);
    await kubectl(['apply', '-f', '-'], deployment('p2', 'limited', 4));
  });

  it('a policy on deployments/scale refuses `kubectl scale` past 5 replicas (it sees the Scale and the old one); one on deployments does not see scale requests', async () => {
    await kubectl(['create', 'namespace', 'scaling']);
    await kubectl(['label', 'namespace', 'scaling', 'environment=scaling']);
    await kubectl(['apply', '-f', '-'], deployment('web', 'scaling', 2));
    await kubectl(['apply', '-f', '-'], scalePolicy);
    // the policy reaches the plugin through a cache: scale to a new count until it refuses
    const scaleUntilRefused = async (): Promise<string> => {
      for (let i = 0; ; i++) {
        const r = await server.kubectl(['scale', 'deployment', 'web', '-n', 'scaling', `--replicas=${7 + i}`], { timeoutMs: 60_000 });
        if (r.code !== 0) return r.stderr;
        assert.ok(i < 50, 'kubectl scale kept succeeding');
        await new Promise((res) => setTimeout(res, 100));
      }
    };
    const err = await scaleUntilRefused();
    assert.match(err, /ValidatingAdmissionPolicy 'scale-limit\.example\.com' with binding 'scale-limit-binding\.example\.com' denied request: Scale web from \d+ to \d+: at most 5 replicas/);
    // within the limit it passes, and the Deployment has what was asked
    await kubectl(['scale', 'deployment', 'web', '-n', 'scaling', '--replicas=4']);
    assert.equal((await kubectl(['get', 'deployment', 'web', '-n', 'scaling', '-o', 'jsonpath={.spec.replicas}'])).stdout, '4');
    const refusedScale = await server.kubectl(['scale', 'deployment', 'web', '-n', 'scaling', '--replicas=6'], { timeoutMs: 60_000 });
    assert.equal(refusedScale.code, 1);
    assert.match(refusedScale.stderr, /Scale web from 4 to 6: at most 5 replicas/);
    assert.equal((await kubectl(['get', 'deployment', 'web', '-n', 'scaling', '-o', 'jsonpath={.spec.replicas}'])).stdout, '4');
    // demo-policy matches `deployments`, not `deployments/scale` (as upstream): scaling past 5 in
    // its namespace passes, while an apply of the same count is refused
    await kubectl(['scale', 'deployment', 'small', '-n', 'test', '--replicas=8']);
    assert.equal((await kubectl(['get', 'deployment', 'small', '-n', 'test', '-o', 'jsonpath={.spec.replicas}'])).stdout, '8');
  });

  it('a policy whose validation does not compile is refused at spec.validations[0].expression', async () => {
    const bad = demoPolicy.split('---')[0]!.replace('demo-policy.example.com', 'bad.example.com').replace('"object.spec.replicas <= 5"', '"object.spec.replicas <="');
    const r = await server.kubectl(['apply', '-f', '-'], { input: bad, timeoutMs: 60_000 });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /spec\.validations\[0\]\.expression: Invalid value: "object\.spec\.replicas <=": compilation failed: ERROR: <input>:1:/);
  });
});
