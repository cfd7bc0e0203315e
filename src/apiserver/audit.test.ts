import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { until } from '../controllers/testing/objects.ts';
import { fileSink, openAuditLog, parseAuditPolicy, RotatingFile } from './audit/index.ts';
import { nodeAt, podOn, startFakeKubelet, type FakeKubelet } from './testing/fake-kubelet.ts';
import { startTestServer, testToken, type TestServer } from './testing/test-server.ts';

/** Audit events of real HTTP requests against the in-process server, read back from the log file. */

const POLICY = `
apiVersion: audit.k8s.io/v1
kind: Policy
rules:
- level: None
  nonResourceURLs: [/healthz*, /metrics]
- level: RequestResponse
  namespaces: [audited]
  resources: [{group: "", resources: [pods]}]
- level: RequestResponse
  namespaces: [trimmed]
  omitManagedFields: true
  resources: [{group: "", resources: [pods]}]
- level: Request
  resources: [{group: "", resources: [secrets]}]
- level: Request
  resources: [{group: "apps", resources: [deployments/scale]}]
- level: Metadata
  omitStages: [RequestReceived]
  resources: [{group: "", resources: [configmaps]}]
- level: Metadata
  resources: [{group: "", resources: [pods/log, pods/exec]}]
- level: Metadata
  verbs: [watch]
- level: Metadata
  users: [carol, "system:serviceaccount:quiet:default", "system:anonymous"]
- level: Metadata
  omitStages: [RequestReceived]
  resources: [{group: "", resources: [serviceaccounts/token]}]
- level: Metadata
  nonResourceURLs: [/version]
`;

interface Event {
  kind: string;
  apiVersion: string;
  level: string;
  auditID: string;
  stage: string;
  requestURI: string;
  verb: string;
  user: { username?: string; groups?: string[]; extra?: Record<string, string[]> };
  impersonatedUser?: { username: string; groups?: string[]; extra?: Record<string, string[]> };
  sourceIPs: string[];
  userAgent?: string;
  objectRef?: Record<string, string>;
  responseStatus?: { code: number; status?: string; reason?: string; message?: string };
  requestObject?: { metadata?: { name?: string; managedFields?: unknown }; data?: Record<string, string> } & Record<string, unknown>;
  responseObject?: { metadata?: { name?: string; uid?: string; managedFields?: unknown }; kind?: string } & Record<string, unknown>;
  requestReceivedTimestamp: string;
  stageTimestamp: string;
  annotations?: Record<string, string>;
}

const JSON_CT = { 'content-type': 'application/json' };
const MICRO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

describe('audit log of the apiserver', () => {
  let t: TestServer;
  let kubelet: FakeKubelet;
  let dir: string;
  let path: string;

  const events = async (): Promise<Event[]> =>
    (await readFile(path, 'utf8'))
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Event);
  /** the events of one request, once its last expected stage is in the file */
  const eventsOf = async (auditId: string, last = 'ResponseComplete'): Promise<Event[]> => {
    let found: Event[] = [];
    await until(async () => {
      found = (await events()).filter((e) => e.auditID === auditId);
      return found.some((e) => e.stage === last);
    }, `${last} of ${auditId}`, 20_000);
    return found;
  };
  const podIn = (ns: string, name: string) => {
    const p = podOn(name, 'edge-1') as { metadata: Record<string, unknown> };
    return { ...p, metadata: { ...p.metadata, namespace: ns } };
  };
  const post = (p: string, body: unknown, headers: Record<string, string> = {}) =>
    t.json<Record<string, unknown>>(p, { method: 'POST', headers: { ...JSON_CT, ...headers }, body: JSON.stringify(body) });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hedge-audit-'));
    path = join(dir, 'logs', 'audit.log');
    kubelet = await startFakeKubelet();
    t = await startTestServer({
      kubeletClient: { scheme: 'http' },
      audit: { policy: parseAuditPolicy(POLICY), sink: await openAuditLog({ path, maxAgeDays: 0, maxBackups: 0, maxSizeMb: 0 }) },
    });
    // pods in `audited` are checked against restricted for the audit annotation only
    const labels: Record<string, Record<string, string>> = { audited: { 'pod-security.kubernetes.io/audit': 'restricted' } };
    for (const ns of ['audited', 'trimmed', 'quiet']) assert.equal((await post('/api/v1/namespaces', { metadata: { name: ns, labels: labels[ns] } })).status, 201);
    assert.equal((await post('/api/v1/nodes', nodeAt('edge-1', kubelet.port))).status, 201);
  });
  after(async () => {
    await t?.close();
    await kubelet?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('a create at RequestResponse: RequestReceived and ResponseComplete with both objects, the Audit-Id header is the auditID', async () => {
    const r = await post('/api/v1/namespaces/audited/pods', podIn('audited', 'web'), { 'user-agent': 'audit-test/1.0', 'x-forwarded-for': '10.1.2.3' });
    assert.equal(r.status, 201);
    const id = r.headers.get('audit-id') ?? '';
    assert.match(id, /^[0-9a-f-]{36}$/);
    const evs = await eventsOf(id);
    assert.deepEqual(evs.map((e) => e.stage), ['RequestReceived', 'ResponseComplete']);
    const [received, done] = evs as [Event, Event];
    for (const e of evs) {
      assert.equal(e.kind, 'Event');
      assert.equal(e.apiVersion, 'audit.k8s.io/v1');
      assert.equal(e.level, 'RequestResponse');
      assert.equal(e.verb, 'create');
      assert.equal(e.requestURI, '/api/v1/namespaces/audited/pods');
      assert.deepEqual(e.user, { username: 'admin', groups: ['system:masters'] });
      assert.deepEqual(e.sourceIPs, ['10.1.2.3', '127.0.0.1']);
      assert.equal(e.userAgent, 'audit-test/1.0');
      assert.match(e.requestReceivedTimestamp, MICRO_TIME);
      assert.match(e.stageTimestamp, MICRO_TIME);
    }
    assert.equal(received.responseStatus, undefined);
    assert.equal(received.requestObject, undefined);
    assert.equal(received.stageTimestamp, received.requestReceivedTimestamp);
    assert.ok(done.stageTimestamp >= done.requestReceivedTimestamp);
    // objectRef takes the name from the body (the path has none)
    assert.deepEqual(done.objectRef, { resource: 'pods', namespace: 'audited', name: 'web', apiVersion: 'v1' });
    assert.deepEqual(done.responseStatus, { metadata: {}, code: 201 });
    assert.equal(done.requestObject?.metadata?.name, 'web');
    assert.equal(done.requestObject?.metadata?.managedFields, undefined);
    assert.equal(done.responseObject?.kind, 'Pod');
    assert.equal(done.responseObject?.metadata?.uid, (r.body.metadata as { uid: string }).uid);
    assert.ok(done.responseObject?.metadata?.managedFields, 'managedFields kept without omitManagedFields');
    assert.equal(done.annotations?.['authorization.k8s.io/decision'], 'allow');
    assert.equal(typeof done.annotations?.['authorization.k8s.io/reason'], 'string');
    assert.equal(done.annotations?.['pod-security.kubernetes.io/enforce-policy'], 'privileged:latest');
    assert.match(done.annotations?.['pod-security.kubernetes.io/audit-violations'] ?? '', /^would violate PodSecurity "restricted:latest": /);
  });

  it('omitManagedFields drops managedFields from the logged objects', async () => {
    const r = await post('/api/v1/namespaces/trimmed/pods', podIn('trimmed', 'web'));
    assert.equal(r.status, 201);
    const done = (await eventsOf(r.headers.get('audit-id') ?? '')).find((e) => e.stage === 'ResponseComplete');
    assert.equal(done?.responseObject?.metadata?.name, 'web');
    assert.equal(done?.responseObject?.metadata?.managedFields, undefined);
  });

  it('a get refused with 403 (Metadata: no objects), the decision and reason annotated', async () => {
    // pods in `quiet` have no rule of their own: carol's rule applies
    const r = await t.json('/api/v1/namespaces/quiet/pods/web', { headers: { authorization: 'Bearer user-carol' } });
    assert.equal(r.status, 403);
    const evs = await eventsOf(r.headers.get('audit-id') ?? '');
    const done = evs.find((e) => e.stage === 'ResponseComplete');
    assert.ok(done);
    assert.equal(done.level, 'Metadata');
    assert.equal(done.verb, 'get');
    assert.deepEqual(done.user, { username: 'carol', groups: ['system:authenticated'] });
    assert.deepEqual(done.objectRef, { resource: 'pods', namespace: 'quiet', name: 'web', apiVersion: 'v1' });
    assert.equal(done.responseStatus?.code, 403);
    assert.equal(done.responseStatus?.status, 'Failure');
    assert.equal(done.responseStatus?.reason, 'Forbidden');
    assert.match(done.responseStatus?.message ?? '', /User "carol" cannot get resource "pods"/);
    assert.equal(done.annotations?.['authorization.k8s.io/decision'], 'forbid');
    assert.equal(done.requestObject, undefined);
    assert.equal(done.responseObject, undefined);
  });

  it('a watch: RequestReceived, ResponseStarted when the stream starts, ResponseComplete when it ends', async () => {
    const r = await t.request('/api/v1/namespaces/quiet/configmaps?watch=true&timeoutSeconds=1');
    assert.equal(r.status, 200);
    const id = r.headers.get('audit-id') ?? '';
    const started = await eventsOf(id, 'ResponseStarted');
    // configmaps omit RequestReceived by their rule
    assert.deepEqual(started.map((e) => e.stage), ['ResponseStarted']);
    assert.equal(started[0]?.verb, 'watch');
    assert.deepEqual(started[0]?.responseStatus, { metadata: {}, code: 200 });
    await r.text(); // the server ends it after timeoutSeconds
    const evs = await eventsOf(id);
    assert.deepEqual(evs.map((e) => e.stage), ['ResponseStarted', 'ResponseComplete']);
    assert.ok(evs[1]!.stageTimestamp > evs[0]!.stageTimestamp);
  });

  it('honours an Audit-ID the request brings; impersonation is shown as impersonatedUser with extras', async () => {
    const r = await t.json('/api/v1/namespaces/quiet/secrets', {
      method: 'POST',
      headers: { ...JSON_CT, 'audit-id': 'from-the-proxy-42', 'impersonate-user': 'dave', 'impersonate-group': 'system:masters', 'impersonate-extra-scopes': 'a' },
      body: JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's1' }, data: { k: 'dg==' } }),
    });
    assert.equal(r.headers.get('audit-id'), 'from-the-proxy-42');
    assert.equal(r.status, 201);
    const done = (await eventsOf('from-the-proxy-42')).find((e) => e.stage === 'ResponseComplete');
    assert.ok(done);
    assert.equal(done.level, 'Request');
    assert.deepEqual(done.user, { username: 'admin', groups: ['system:masters'] });
    assert.deepEqual(done.impersonatedUser, { username: 'dave', groups: ['system:masters', 'system:authenticated'], extra: { scopes: ['a'] } });
    assert.deepEqual(done.objectRef, { resource: 'secrets', namespace: 'quiet', name: 's1', apiVersion: 'v1' });
    // at Request level the body is logged, Secrets too (leaving them out is the policy's job)
    assert.deepEqual(done.requestObject?.data, { k: 'dg==' });
    assert.equal(done.responseObject, undefined);
  });

  it('a patch at Request level logs the patch body; level None and unmatched requests log nothing', async () => {
    assert.equal((await post('/api/v1/namespaces/quiet/secrets', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's2' } })).status, 201);
    const p = await t.json('/api/v1/namespaces/quiet/secrets/s2', { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, body: '{"stringData":{"x":"y"}}' });
    assert.equal(p.status, 200);
    const done = (await eventsOf(p.headers.get('audit-id') ?? '')).find((e) => e.stage === 'ResponseComplete');
    assert.equal(done?.verb, 'patch');
    assert.deepEqual(done?.requestObject, { stringData: { x: 'y' } });
    const quiet = await t.json('/api/v1/namespaces/quiet/services');
    const health = await t.request('/healthz');
    await health.text();
    const version = await t.json('/version');
    await eventsOf(version.headers.get('audit-id') ?? '');
    const all = await events();
    assert.equal(all.filter((e) => e.auditID === quiet.headers.get('audit-id')).length, 0, 'no rule matches a list of services');
    assert.equal(all.filter((e) => e.auditID === health.headers.get('audit-id')).length, 0, 'level None');
    const v = all.find((e) => e.auditID === version.headers.get('audit-id') && e.stage === 'ResponseComplete');
    assert.equal(v?.verb, 'get');
    assert.equal(v?.objectRef, undefined);
  });

  it('a scale is audited as deployments/scale (objectRef.subresource), its Scale patch as the requestObject', async () => {
    const d = {
      metadata: { name: 'web' },
      spec: { replicas: 1, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'x' }] } } },
    };
    assert.equal((await post('/apis/apps/v1/namespaces/quiet/deployments', d)).status, 201);
    const p = await t.json('/apis/apps/v1/namespaces/quiet/deployments/web/scale', { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, body: '{"spec":{"replicas":3}}' });
    assert.equal(p.status, 200);
    const done = (await eventsOf(p.headers.get('audit-id') ?? '')).find((e) => e.stage === 'ResponseComplete');
    assert.equal(done?.verb, 'patch');
    assert.deepEqual(done?.objectRef, { resource: 'deployments', namespace: 'quiet', name: 'web', apiGroup: 'apps', apiVersion: 'v1', subresource: 'scale' });
    assert.deepEqual(done?.requestObject, { spec: { replicas: 3 } });
  });

  it('a request failing authentication: one ResponseStarted event with the 401 and no user', async () => {
    // /version too: a credential not accepted is never the anonymous
    const r = await t.request('/version', { headers: { authorization: 'Bearer wrong' } });
    assert.equal(r.status, 401);
    await r.text();
    const denied = await t.request('/api/v1/namespaces/quiet/configmaps?watch=1', { headers: { authorization: 'Bearer wrong' } });
    assert.equal(denied.status, 401);
    await denied.text();
    const evs = await eventsOf(denied.headers.get('audit-id') ?? '', 'ResponseStarted');
    assert.equal(evs.length, 1);
    assert.deepEqual(evs[0]?.user, {});
    assert.deepEqual(evs[0]?.responseStatus, { metadata: {}, message: 'Authentication failed, attempted: token', code: 401 });
  });

  it('the anonymous is audited as system:anonymous: /version allowed, /readyz/ping forbidden', async () => {
    const version = await fetch(`${t.url}/version`);
    assert.equal(version.status, 200);
    await version.text();
    const check = await fetch(`${t.url}/readyz/ping`);
    assert.equal(check.status, 403);
    await check.text();
    const v = (await eventsOf(version.headers.get('audit-id') ?? '')).find((e) => e.stage === 'ResponseComplete');
    assert.deepEqual(v?.user, { username: 'system:anonymous', groups: ['system:unauthenticated'] });
    assert.equal(v?.annotations?.['authorization.k8s.io/decision'], 'allow');
    const c = (await eventsOf(check.headers.get('audit-id') ?? '')).find((e) => e.stage === 'ResponseComplete');
    assert.deepEqual([c?.user?.username, c?.requestURI, c?.responseStatus?.code], ['system:anonymous', '/readyz/ping', 403]);
    assert.equal(c?.annotations?.['authorization.k8s.io/decision'], 'forbid');
  });

  it('pods/log and pods/exec are long-running: ResponseStarted and ResponseComplete', async () => {
    const log = await t.request('/api/v1/namespaces/audited/pods/web/log');
    assert.equal(log.status, 200);
    await log.text();
    const logEvs = await eventsOf(log.headers.get('audit-id') ?? '');
    assert.deepEqual(logEvs.map((e) => e.stage), ['RequestReceived', 'ResponseStarted', 'ResponseComplete']);
    assert.deepEqual(logEvs[2]?.objectRef, { resource: 'pods', namespace: 'audited', name: 'web', apiVersion: 'v1', subresource: 'log' });

    const url = `${t.url.replace('http', 'ws')}/api/v1/namespaces/audited/pods/web/exec?command=echo&command=hi&stdout=true`;
    const ws = new WebSocket(url, ['v5.channel.k8s.io'], { headers: { authorization: `Bearer ${testToken}`, 'audit-id': 'exec-1' } });
    await new Promise<void>((resolve, reject) => {
      ws.on('close', () => resolve());
      ws.on('error', reject);
    });
    const execEvs = await eventsOf('exec-1');
    assert.deepEqual(execEvs.map((e) => e.stage), ['RequestReceived', 'ResponseStarted', 'ResponseComplete']);
    assert.equal(execEvs[1]?.responseStatus?.code, 101);
    assert.equal(execEvs[2]?.responseStatus?.code, 101);
    assert.equal(execEvs[2]?.verb, 'get');
    assert.equal(execEvs[2]?.objectRef?.subresource, 'exec');
  });

  it('counts events on /metrics', async () => {
    const m = await (await t.request('/metrics')).text();
    const n = Number(/^apiserver_audit_event_total (\d+)/m.exec(m)?.[1]);
    assert.ok(n >= 10, m);
    assert.match(m, /^apiserver_audit_level_total\{level="RequestResponse"\} \d+/m);
    assert.doesNotMatch(m, /^apiserver_audit_error_total\{plugin="log"\} [1-9]/m);
  });

  it('a ValidatingAdmissionPolicy with the Audit action: its failure and audit annotations are on the event, the request passes', async () => {
    const vap = '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies';
    assert.equal((await post(vap, {
      apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicy', metadata: { name: 'small-maps' },
      spec: {
        matchConstraints: { resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['configmaps'] }] },
        validations: [{ expression: '!has(object.data) || size(object.data) < 2', message: 'too many keys' }],
        auditAnnotations: [{ key: 'keys', valueExpression: 'has(object.data) ? string(size(object.data)) : "0"' }],
      },
    })).status, 201);
    assert.equal((await post("/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings", {
      apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicyBinding', metadata: { name: 'small-maps-audit' },
      spec: { policyName: 'small-maps', validationActions: ['Audit'] },
    })).status, 201);
    // the policy plugin follows the store: try until a create is judged by it
    let n = 0;
    let annotations: Record<string, string> | undefined;
    await until(async () => {
      const r = await post('/api/v1/namespaces/quiet/configmaps', { metadata: { name: `big-${n++}` }, data: { a: '1', b: '2', c: '3' } });
      assert.equal(r.status, 201, 'Audit does not refuse');
      annotations = (await eventsOf(r.headers.get('audit-id') ?? '')).find((e) => e.stage === 'ResponseComplete')?.annotations;
      return annotations?.['validation.policy.admission.k8s.io/validation_failure'] !== undefined;
    }, 'the policy judging a create', 20_000);
    assert.deepEqual(JSON.parse(annotations!['validation.policy.admission.k8s.io/validation_failure']!), [
      { message: 'too many keys', policy: 'small-maps', binding: 'small-maps-audit', expressionIndex: 0, validationActions: ['Audit'] },
    ]);
    assert.equal(annotations!['small-maps/keys'], '3');
  });

  it("a TokenRequest's event names the credential it issued; requests with that token carry it in the user's extra", async () => {
    await until(async () => (await t.request('/api/v1/namespaces/quiet/serviceaccounts/default')).status === 200, 'the default account of quiet');
    const r = await post('/api/v1/namespaces/quiet/serviceaccounts/default/token', { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: {} });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const token = (r.body.status as { token: string }).token;
    const jti = (JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as { jti: string }).jti;
    const [issued] = await eventsOf(r.headers.get('audit-id') ?? '');
    assert.equal(issued?.annotations?.['authentication.kubernetes.io/issued-credential-id'], `JTI=${jti}`);
    const used = await t.request('/api/v1/namespaces/quiet/configmaps', { headers: { authorization: `Bearer ${token}` } });
    assert.equal(used.status, 403);
    const evs = await eventsOf(used.headers.get('audit-id') ?? '');
    assert.deepEqual(evs[0]?.user.extra, { 'authentication.kubernetes.io/credential-id': [`JTI=${jti}`] });
  });
});

describe('audit with a failing log', () => {
  it('a full disk: requests still succeed, apiserver_audit_error_total{plugin="log"} grows', async () => {
    const t = await startTestServer({
      audit: { policy: parseAuditPolicy('apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: RequestResponse\n'), sink: fileSink(new RotatingFile({ path: '/dev/full', maxAgeDays: 0, maxBackups: 0, maxSizeMb: 0 })) },
    });
    try {
      for (let i = 0; i < 5; i++) {
        const r = await t.json(`/api/v1/namespaces/default/configmaps`, { method: 'POST', headers: JSON_CT, body: JSON.stringify({ metadata: { name: `c${i}` } }) });
        assert.equal(r.status, 201);
      }
      let errorsCounted = 0;
      await until(async () => {
        const m = await (await t.request('/metrics')).text();
        errorsCounted = Number(/^apiserver_audit_error_total\{plugin="log"\} (\d+)/m.exec(m)?.[1] ?? 0);
        return errorsCounted >= 10;
      }, 'write errors counted', 20_000);
      assert.ok(errorsCounted >= 10);
    } finally {
      await t.close();
    }
  });
});

describe('audit flush on shutdown', () => {
  it('what is buffered at close is written before close resolves', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hedge-audit-close-'));
    try {
      const path = join(dir, 'audit.log');
      const t = await startTestServer({
        audit: { policy: parseAuditPolicy('apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n'), sink: await openAuditLog({ path, maxAgeDays: 0, maxBackups: 0, maxSizeMb: 0 }) },
      });
      const ids: string[] = [];
      await Promise.all(
        Array.from({ length: 50 }, async (_, i) => {
          const r = await t.json(`/api/v1/namespaces/default/configmaps`, { method: 'POST', headers: JSON_CT, body: JSON.stringify({ metadata: { name: `c${i}` } }) });
          ids.push(r.headers.get('audit-id') ?? '');
        }),
      );
      await t.close();
      const lines = (await readFile(path, 'utf8')).split('\n').filter((l) => l !== '');
      const complete = new Set(lines.map((l) => JSON.parse(l) as Event).filter((e) => e.stage === 'ResponseComplete').map((e) => e.auditID));
      for (const id of ids) assert.ok(complete.has(id), id);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
