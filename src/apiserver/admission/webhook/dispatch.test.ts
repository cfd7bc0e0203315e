import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { builtinResources } from '../../../api/builtin/index.ts';
import type { KubeObject } from '../../../api/object.ts';
import type { ResourceDef } from '../../../api/resources/types.ts';
import { HedgeError, isHedgeError } from '../../../lib/errors.ts';
import { silentLogger } from '../../../lib/log.ts';
import { statusFromError } from '../../../api/meta/status.ts';
import { AdmissionChain } from '../chain.ts';
import type { AdmissionPlugin, AdmissionRequest } from '../types.ts';
import { compileConfiguration, mutatingWebhookPlugin, validatingWebhookPlugin, type WebhookDispatchOptions } from './dispatch.ts';
import { namespaceSelectorMatches, objectSelectorMatches, parseWebhookSelector, ruleMatches, type RuleTarget } from './matching.ts';
import { WebhookCallError } from './review.ts';
import type { WebhookPost, WebhookTransport } from './transport.ts';

const defs = builtinResources();
const defOf = (group: string, plural: string): ResourceDef => defs.find((d) => d.group === group && d.plural === plural)!;
const target = (over: Partial<RuleTarget> = {}): RuleTarget => ({ operation: 'CREATE', group: '', version: 'v1', resource: 'pods', subresource: '', namespace: 'default', ...over });
const rule = (resources: string[], over: Record<string, unknown> = {}) => ({ operations: ['*'], apiGroups: ['*'], apiVersions: ['*'], resources, ...over });

describe('webhook rule matching (upstream rules.Matcher)', () => {
  it('matches resources, subresources and their wildcards', () => {
    assert.ok(ruleMatches(rule(['pods']), target()));
    assert.ok(!ruleMatches(rule(['pods']), target({ subresource: 'status' })), 'pods does not match pods/status');
    assert.ok(ruleMatches(rule(['pods/status']), target({ subresource: 'status' })));
    assert.ok(ruleMatches(rule(['pods/*']), target({ subresource: 'status' })));
    assert.ok(ruleMatches(rule(['pods/*']), target()), 'pods/* also matches pods itself (upstream: sub "*" matches "")');
    assert.ok(ruleMatches(rule(['*/status']), target({ resource: 'deployments', group: 'apps', subresource: 'status' })));
    assert.ok(ruleMatches(rule(['*']), target()));
    assert.ok(!ruleMatches(rule(['*']), target({ subresource: 'exec' })), '* is main resources only');
    assert.ok(ruleMatches(rule(['*/*']), target({ subresource: 'exec' })));
    assert.ok(!ruleMatches(rule(['pods'], { operations: ['UPDATE'] }), target()));
    assert.ok(!ruleMatches(rule(['pods'], { apiGroups: ['apps'] }), target()));
    assert.ok(!ruleMatches(rule(['pods'], { apiVersions: ['v2'] }), target()));
  });

  it('scope: Namespaced and Cluster, a Namespace being cluster-scoped', () => {
    const ns = target({ resource: 'namespaces', namespace: '' });
    assert.ok(ruleMatches(rule(['*'], { scope: 'Namespaced' }), target()));
    assert.ok(!ruleMatches(rule(['*'], { scope: 'Namespaced' }), ns));
    assert.ok(ruleMatches(rule(['*'], { scope: 'Cluster' }), ns));
    assert.ok(ruleMatches(rule(['*'], { scope: 'Cluster' }), target({ resource: 'nodes', namespace: '' })));
    assert.ok(!ruleMatches(rule(['*'], { scope: 'Cluster' }), target()));
    assert.ok(ruleMatches(rule(['*'], { scope: '*' }), target()));
  });

  it('namespaceSelector: the namespace\'s labels; a Namespace its own; other cluster-scoped objects always', async () => {
    const sel = parseWebhookSelector({ matchLabels: { env: 'prod' } });
    const labels = async (n: string): Promise<Record<string, string>> => (n === 'prod' ? { env: 'prod' } : {});
    const none = { name: 'x' };
    assert.ok(await namespaceSelectorMatches(sel, target({ namespace: 'prod' }), none, labels));
    assert.ok(!(await namespaceSelectorMatches(sel, target({ namespace: 'dev' }), none, labels)));
    assert.ok(await namespaceSelectorMatches(sel, target({ resource: 'nodes', namespace: '' }), none, labels));
    const nsObj = { metadata: { name: 'new', labels: { env: 'prod' } } } as KubeObject;
    assert.ok(await namespaceSelectorMatches(sel, target({ resource: 'namespaces', namespace: '' }), { object: nsObj, name: 'new' }, labels));
    assert.ok(!(await namespaceSelectorMatches(sel, target({ resource: 'namespaces', namespace: '' }), { object: { metadata: { name: 'new' } } as KubeObject, name: 'new' }, labels)));
    assert.ok(await namespaceSelectorMatches(parseWebhookSelector({}), target({ namespace: 'dev' }), none, async () => assert.fail('not read for an empty selector')));
  });

  it('objectSelector: the new or the old object', () => {
    const sel = parseWebhookSelector({ matchExpressions: [{ key: 'app', operator: 'In', values: ['web'] }] });
    const o = (labels?: Record<string, string>) => ({ metadata: { name: 'a', labels } }) as KubeObject;
    assert.ok(objectSelectorMatches(sel, o({ app: 'web' }), undefined));
    assert.ok(objectSelectorMatches(sel, o({}), o({ app: 'web' })), 'an update removing the label still matches');
    assert.ok(!objectSelectorMatches(sel, o({ app: 'db' }), undefined));
    assert.ok(!objectSelectorMatches(sel, undefined, undefined));
    assert.ok(objectSelectorMatches(parseWebhookSelector(undefined), undefined, undefined));
  });
});

/** the error a plugin call threw, undefined when it passed */
async function settle(run: () => void | Promise<void>): Promise<unknown> {
  try {
    await run();
    return undefined;
  } catch (err) {
    return err;
  }
}

type Answer = (review: { uid: string; object: KubeObject | null }, p: WebhookPost, hook: string) => unknown | Promise<unknown>;

/** a transport whose webhook servers are functions keyed by url */
function fakeTransport(answers: Record<string, Answer>, calls: string[]): WebhookTransport {
  return {
    async post(p) {
      const url = p.clientConfig.url ?? '';
      calls.push(url);
      const review = (JSON.parse(p.body) as { request: { uid: string; object: KubeObject | null } }).request;
      const a = answers[url];
      if (!a) throw new WebhookCallError(`failed to call webhook: Post "${url}": connection refused`);
      return a(review, p, url);
    },
    close: () => undefined,
  };
}
const allow = (extra: Record<string, unknown> = {}): Answer => (r) => ({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: r.uid, allowed: true, ...extra } });
const patchOf = (ops: unknown[]) => ({ patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(ops)).toString('base64') });

function hook(name: string, url: string, over: Record<string, unknown> = {}) {
  return { name, clientConfig: { url }, rules: [rule(['configmaps'], { apiGroups: [''], apiVersions: ['v1'] })], sideEffects: 'None', admissionReviewVersions: ['v1'], failurePolicy: 'Fail', timeoutSeconds: 10, ...over };
}
function options(hooks: Record<string, unknown>[], transport: WebhookTransport, over: Partial<WebhookDispatchOptions> = {}): WebhookDispatchOptions {
  const compiled = compileConfiguration({ metadata: { name: 'cfg' }, webhooks: hooks } as unknown as KubeObject);
  return { webhooks: () => compiled, transport, namespaceLabels: async () => ({}), equivalentDefs: () => [], logger: silentLogger(), ...over };
}
function request(over: Partial<AdmissionRequest> = {}): AdmissionRequest {
  return {
    operation: 'CREATE',
    def: defOf('', 'configmaps'),
    subresource: '',
    namespace: 'default',
    name: 'cm',
    object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm', namespace: 'default' } },
    user: { username: 'alice', groups: ['devs'] },
    dryRun: false,
    signal: new AbortController().signal,
    warnings: [],
    ...over,
  };
}

describe('webhook dispatch', () => {
  it('mutating webhooks run in order, each seeing the last patch; IfNeeded ones are called again after a later change', async () => {
    const calls: string[] = [];
    const seen: Record<string, unknown>[] = [];
    const t = fakeTransport(
      {
        a: (r) => (seen.push({ ...r.object!.metadata.labels }), allow(r.object!.metadata.labels?.b ? {} : patchOf([{ op: 'add', path: '/metadata/labels', value: { a: '1' } }]))(r, {} as WebhookPost, 'a')),
        b: (r) => allow(patchOf([{ op: 'add', path: '/metadata/labels/b', value: '2' }]))(r, {} as WebhookPost, 'b'),
      },
      calls,
    );
    const req = request();
    await mutatingWebhookPlugin(options([hook('a.hedge.test', 'a', { reinvocationPolicy: 'IfNeeded' }), hook('b.hedge.test', 'b', { reinvocationPolicy: 'Never' })], t)).mutate!(req);
    assert.deepEqual(calls, ['a', 'b', 'a']);
    assert.deepEqual(req.object!.metadata.labels, { a: '1', b: '2' });
    assert.deepEqual(seen, [{}, { a: '1', b: '2' }]);
  });

  it('in a chain, a webhook change re-runs the built-in mutating plugins; their change reinvokes every IfNeeded webhook', async () => {
    // a built-in plugin whose output depends on the object: the number of labels, as an annotation
    let builtinRuns = 0;
    const counter: AdmissionPlugin = {
      name: 'LabelCounter',
      mutate(req) {
        builtinRuns++;
        const meta = req.object!.metadata;
        meta.annotations = { ...meta.annotations, labels: String(Object.keys(meta.labels ?? {}).length) };
      },
    };
    const addLabel = (k: string): Answer => (r, p, u) => allow(patchOf([{ op: 'add', path: '/metadata/labels', value: { ...r.object!.metadata.labels, [k]: '1' } }]))(r, p, u);
    const seenByA: (string | undefined)[] = [];
    const quietA: Answer = (r, p, u) => (seenByA.push(r.object!.metadata.annotations?.labels), allow()(r, p, u));
    // b (Never) changes the object after nothing IfNeeded; a (IfNeeded) comes after it: only the
    // built-in plugin's second run changes the object after a saw it, and that reinvokes a
    const calls: string[] = [];
    const t = fakeTransport({ a: quietA, b: addLabel('b') }, calls);
    const chain = new AdmissionChain([counter, mutatingWebhookPlugin(options([hook('b.hedge.test', 'b'), hook('a.hedge.test', 'a', { reinvocationPolicy: 'IfNeeded' })], t))]);
    const req = request();
    await chain.mutate(req);
    assert.equal(builtinRuns, 2, 'the built-in plugin ran again');
    assert.deepEqual(calls, ['b', 'a', 'a']);
    assert.deepEqual(seenByA, ['0', '1'], 'a saw the object the built-in plugin changed');
    assert.equal(req.object!.metadata.annotations?.labels, '1');
    assert.equal(req.reinvocation, undefined);

    // nothing changed by a webhook: one pass only
    builtinRuns = 0;
    calls.length = 0;
    const quiet = new AdmissionChain([counter, mutatingWebhookPlugin(options([hook('a.hedge.test', 'a', { reinvocationPolicy: 'IfNeeded' })], t))]);
    await quiet.mutate(request());
    assert.equal(builtinRuns, 1);
    assert.deepEqual(calls, ['a']);

    // an IfNeeded webhook before a change is reinvoked even though the built-in plugin's rerun changes nothing
    builtinRuns = 0;
    calls.length = 0;
    const idem: AdmissionPlugin = { name: 'Idempotent', mutate: () => void builtinRuns++ };
    const t2 = fakeTransport({ a: quietA, c: addLabel('c'), n: allow() }, calls);
    const after = new AdmissionChain([idem, mutatingWebhookPlugin(options([hook('n.hedge.test', 'n', { reinvocationPolicy: 'IfNeeded' }), hook('a.hedge.test', 'a', { reinvocationPolicy: 'IfNeeded' }), hook('c.hedge.test', 'c')], t2))]);
    await after.mutate(request());
    assert.equal(builtinRuns, 2);
    assert.deepEqual(calls, ['n', 'a', 'c', 'n', 'a']);
  });

  it('a patch that cannot apply is an internal error, whatever the failurePolicy', async () => {
    const t = fakeTransport({ a: allow(patchOf([{ op: 'replace', path: '/spec/nothing', value: 1 }])) }, []);
    const patchErr = await settle(() => mutatingWebhookPlugin(options([hook('a.hedge.test', 'a', { failurePolicy: 'Ignore' })], t)).mutate!(request()));
    assert.ok(isHedgeError(patchErr, 'Internal') && /failed to apply the patch of admission webhook "a\.hedge\.test"/.test(patchErr.message));
  });

  it('validating webhooks run in parallel; the first refusal in webhook order wins; warnings are kept', async () => {
    let inFlight = 0;
    let most = 0;
    const slow = (allowed: boolean, message: string): Answer => async (r) => {
      most = Math.max(most, ++inFlight);
      await new Promise((res) => setTimeout(res, 20));
      inFlight--;
      return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: r.uid, allowed, status: { message, code: 409 }, warnings: [`from ${message}`] } };
    };
    const req = request();
    const plugin = validatingWebhookPlugin(options([hook('ok.hedge.test', 'ok'), hook('one.hedge.test', 'one'), hook('two.hedge.test', 'two')], fakeTransport({ ok: slow(true, 'ok'), one: slow(false, 'first'), two: slow(false, 'second') }, [])));
    const err = await settle(() => plugin.validate!(req));
    assert.equal(most, 3);
    assert.ok(err instanceof HedgeError);
    const status = statusFromError(err);
    assert.equal(status.code, 409);
    assert.equal(status.message, 'admission webhook "one.hedge.test" denied the request: first');
    assert.deepEqual([...req.warnings!].sort(), ['from first', 'from ok', 'from second']);
  });

  it('a refusal without code or message is a 400 "without explanation"', async () => {
    const t = fakeTransport({ a: (r) => ({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: r.uid, allowed: false } }) }, []);
    const err = await settle(() => validatingWebhookPlugin(options([hook('a.hedge.test', 'a')], t)).validate!(request()));
    const s = statusFromError(err);
    assert.equal(s.code, 400);
    assert.equal(s.message, 'admission webhook "a.hedge.test" denied the request without explanation');
  });

  it('failurePolicy: Fail is a 500 "failed calling webhook", Ignore lets the request through; a timeout is a failure', { timeout: 5000 }, async () => {
    const hang: Answer = (_r, p) => new Promise((_res, rej) => p.signal.addEventListener('abort', () => rej(new WebhookCallError('failed to call webhook: Post "hang?timeout=1s": context deadline exceeded'))));
    const t = fakeTransport({ hang }, []);
    const started = Date.now();
    const err = await settle(() => validatingWebhookPlugin(options([hook('hang.hedge.test', 'hang', { timeoutSeconds: 1 })], t)).validate!(request()));
    assert.ok(Date.now() - started >= 950);
    assert.equal(statusFromError(err).code, 500);
    assert.match((err as Error).message, /^Internal error occurred: failed calling webhook "hang\.hedge\.test": .*context deadline exceeded/);
    await validatingWebhookPlugin(options([hook('gone.hedge.test', 'gone', { failurePolicy: 'Ignore' })], t)).validate!(request());
    const bad = fakeTransport({ v: allow(patchOf([])) }, []);
    const e2 = await settle(() => validatingWebhookPlugin(options([hook('v.hedge.test', 'v')], bad)).validate!(request()));
    assert.match((e2 as Error).message, /validating webhooks may not return response\.patchType/);
  });

  it('dry run: refused for webhooks with side effects, sent dryRun: true otherwise', async () => {
    const calls: string[] = [];
    const t = fakeTransport({ a: allow() }, calls);
    const err = await settle(() => validatingWebhookPlugin(options([hook('some.hedge.test', 'a', { sideEffects: 'Some', failurePolicy: 'Ignore' })], t)).validate!(request({ dryRun: true })));
    assert.ok(isHedgeError(err, 'BadRequest'));
    assert.equal((err as Error).message, 'admission webhook "some.hedge.test" does not support dry run');
    assert.deepEqual(calls, []);
    await validatingWebhookPlugin(options([hook('ok.hedge.test', 'a', { sideEffects: 'NoneOnDryRun' })], t)).validate!(request({ dryRun: true }));
    assert.deepEqual(calls, ['a']);
  });

  it('skips the webhook configurations themselves and requests outside the rules or selectors', async () => {
    const calls: string[] = [];
    const t = fakeTransport({ a: allow() }, calls);
    const everything = hook('all.hedge.test', 'a', { rules: [rule(['*/*'])], objectSelector: { matchLabels: { watched: 'yes' } } });
    const plugin = validatingWebhookPlugin(options([everything], t));
    await plugin.validate!(request({ def: defOf('admissionregistration.k8s.io', 'validatingwebhookconfigurations'), namespace: '', object: { metadata: { name: 'x', labels: { watched: 'yes' } } } }));
    await plugin.validate!(request());
    assert.deepEqual(calls, []);
    await plugin.validate!(request({ object: { metadata: { name: 'cm', labels: { watched: 'yes' } } } }));
    assert.deepEqual(calls, ['a']);
  });

  it('matchPolicy Equivalent sends a request for another served version of the resource in the rule\'s version', async () => {
    const v2 = { ...defOf('', 'configmaps'), version: 'v2' };
    const bodies: string[] = [];
    const t: WebhookTransport = { post: async (p) => (bodies.push(p.body), allow()({ uid: (JSON.parse(p.body) as { request: { uid: string } }).request.uid, object: null }, p, '')), close: () => undefined };
    const rules = [rule(['configmaps'], { apiGroups: [''], apiVersions: ['v2'] })];
    await validatingWebhookPlugin(options([hook('exact.hedge.test', 'x', { rules, matchPolicy: 'Exact' })], t, { equivalentDefs: () => [v2] })).validate!(request());
    assert.equal(bodies.length, 0);
    await validatingWebhookPlugin(options([hook('eq.hedge.test', 'x', { rules })], t, { equivalentDefs: () => [v2] })).validate!(request());
    const sent = (JSON.parse(bodies[0]!) as { request: { kind: { version: string }; requestKind: { version: string }; object: { apiVersion: string } } }).request;
    assert.equal(sent.kind.version, 'v2');
    assert.equal(sent.requestKind.version, 'v1');
    assert.equal(sent.object.apiVersion, 'v2');
  });
});

describe('webhook matchConditions (upstream matchconditions.Matcher)', () => {
  const cond = (name: string, expression: string) => ({ name, expression });

  it('all true: called; one false: skipped, even when another errs; they see object, oldObject and request', async () => {
    const calls: string[] = [];
    const t = fakeTransport({ a: allow() }, calls);
    const conditions = [
      cond('labelled', "has(object.metadata.labels) && object.metadata.labels['watched'] == 'yes'"),
      cond('by-alice', "request.userInfo.username == 'alice' && 'devs' in request.userInfo.groups"),
      cond('create', "request.operation == 'CREATE' && oldObject == null && request.resource.resource == 'configmaps' && request.namespace == 'default'"),
    ];
    const plugin = validatingWebhookPlugin(options([hook('a.hedge.test', 'a', { matchConditions: conditions })], t));
    await plugin.validate!(request({ object: { metadata: { name: 'cm', labels: { watched: 'yes' } } } }));
    assert.deepEqual(calls, ['a']);
    await plugin.validate!(request({ object: { metadata: { name: 'cm', labels: { watched: 'no' } } } }));
    await plugin.validate!(request({ object: { metadata: { name: 'cm', labels: { watched: 'yes' } } }, user: { username: 'bob', groups: [] } }));
    assert.deepEqual(calls, ['a'], 'a false condition skips the webhook');
    // 'errs' fails (no such key) but 'never' is false: skipped whatever the failurePolicy
    const mixed = validatingWebhookPlugin(options([hook('m.hedge.test', 'a', { matchConditions: [cond('errs', 'object.spec.replicas > 1'), cond('never', 'false')] })], t));
    await mixed.validate!(request());
    assert.deepEqual(calls, ['a']);
  });

  it('ints are ints: a number in the object compares with an int literal', async () => {
    const calls: string[] = [];
    const t = fakeTransport({ a: allow() }, calls);
    const plugin = validatingWebhookPlugin(options([hook('a.hedge.test', 'a', { matchConditions: [cond('big', 'int(object.data.n) > 5 && object.spec.replicas > 5')] })], t));
    await plugin.validate!(request({ object: { metadata: { name: 'cm' }, data: { n: '7' }, spec: { replicas: 6 } } as KubeObject }));
    await plugin.validate!(request({ object: { metadata: { name: 'cm' }, data: { n: '7' }, spec: { replicas: 5 } } as KubeObject }));
    assert.deepEqual(calls, ['a']);
  });

  it('an evaluation error: failurePolicy Fail refuses the request as upstream (403 "... is forbidden: expression ... resulted in error"), Ignore skips', async () => {
    const calls: string[] = [];
    const t = fakeTransport({ a: allow() }, calls);
    const conditions = [cond('replicas', 'object.spec.replicas > 1')];
    const err = await settle(() => validatingWebhookPlugin(options([hook('a.hedge.test', 'a', { matchConditions: conditions })], t)).validate!(request()));
    assert.ok(isHedgeError(err, 'Forbidden'), String(err));
    assert.equal(statusFromError(err).code, 403);
    assert.match((err as Error).message, /^configmaps "cm" is forbidden: expression 'object\.spec\.replicas > 1' resulted in error: No such key: spec/);
    const deploy = await settle(() => mutatingWebhookPlugin(options([hook('a.hedge.test', 'a', { matchConditions: conditions, rules: [rule(['deployments'])] })], t)).mutate!(request({ def: defOf('apps', 'deployments'), name: '' })));
    assert.match((deploy as Error).message, /^deployments\.apps is forbidden: expression/);
    await validatingWebhookPlugin(options([hook('a.hedge.test', 'a', { matchConditions: conditions, failurePolicy: 'Ignore' })], t)).validate!(request());
    assert.deepEqual(calls, []);
    // two errors are joined as upstream's aggregate
    const two = await settle(() => validatingWebhookPlugin(options([hook('a.hedge.test', 'a', { matchConditions: [cond('x', 'object.x'), cond('y', 'object.y == 1')] })], t)).validate!(request()));
    assert.match((two as Error).message, /is forbidden: \[expression 'object\.x' resulted in error: .*, expression 'object\.y == 1' resulted in error: .*\]$/);
  });

  it('DELETE: object is null and oldObject the stored object', async () => {
    const calls: string[] = [];
    const t = fakeTransport({ a: allow() }, calls);
    const rules = [rule(['configmaps'], { operations: ['DELETE'] })];
    const plugin = validatingWebhookPlugin(options([hook('a.hedge.test', 'a', { rules, matchConditions: [cond('old', "object == null && oldObject.metadata.name == 'cm'")] })], t));
    await plugin.validate!(request({ operation: 'DELETE', object: undefined, oldObject: { metadata: { name: 'cm' } } }));
    assert.deepEqual(calls, ['a']);
  });

  it('compiled once per configuration: the compiled webhook carries the programs', () => {
    const [w] = compileConfiguration({ metadata: { name: 'c' }, webhooks: [hook('a.hedge.test', 'a', { matchConditions: [cond('one', 'true')] })] } as unknown as KubeObject);
    assert.equal(w!.matchConditions.length, 1);
    assert.equal(w!.matchConditions[0]!.program.source, 'true');
  });
});
