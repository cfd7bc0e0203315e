import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { loadAuditWebhook } from '../cli/start-server.ts';
import { resolveServerSettings } from '../cli/server-config.ts';
import { isHedgeError } from '../lib/errors.ts';
import { parseAuditPolicy, type AuditWebhookOptions } from './audit/index.ts';
import { generateCa, generateClientCert, generateServingCert } from './auth/pki.ts';
import { startTestServer, type TestServer } from './testing/test-server.ts';
import { until } from './testing/until.ts';

/**
 * The audit webhook end to end: the in-process apiserver POSTs EventLists to a real HTTPS
 * receiver that requires a client certificate, configured by a kubeconfig file as
 * --audit-webhook-config-file reads it.
 */

const POLICY = parseAuditPolicy(`
apiVersion: audit.k8s.io/v1
kind: Policy
rules:
- level: None
  nonResourceURLs: [/healthz*, /metrics]
- level: Request
  resources: [{group: "", resources: [secrets]}]
- level: Metadata
  omitStages: [RequestReceived]
  resources: [{group: "", resources: [configmaps]}]
`);

interface Ev {
  kind: string;
  apiVersion: string;
  level: string;
  stage: string;
  auditID: string;
  verb: string;
  objectRef?: { resource?: string; name?: string };
  requestObject?: { metadata?: { name?: string } };
}

/** an HTTPS receiver that takes POSTed EventLists from clients with a certificate of `ca`; can go down and come back on its port */
async function startReceiver(serving: { cert: string; key: string }, clientCa: string) {
  const lists: { items: Ev[]; apiVersion: string; kind: string; clientCN: string; contentType: string | undefined }[] = [];
  let server: Server | undefined;
  let port = 0;
  const listen = async (): Promise<void> => {
    if (server) return;
    const s = createServer({ cert: serving.cert, key: serving.key, ca: clientCa, requestCert: true, rejectUnauthorized: true }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const list = JSON.parse(Buffer.concat(chunks).toString()) as { items: Ev[]; apiVersion: string; kind: string };
        const cn = (req.socket as TLSSocket).getPeerCertificate().subject?.CN;
        lists.push({ ...list, clientCN: String(cn), contentType: req.headers['content-type'] });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => s.listen(port, '127.0.0.1', r));
    port = (s.address() as AddressInfo).port;
    server = s;
  };
  await listen();
  return {
    lists,
    get port() {
      return port;
    },
    events: () => lists.flatMap((l) => l.items),
    up: listen,
    async down() {
      const s = server;
      server = undefined;
      s?.closeAllConnections();
      await new Promise((r) => s?.close(r));
    },
  };
}

describe('audit webhook of the apiserver', () => {
  let dir: string;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let kubeconfig: string;
  const servers: TestServer[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hedge-audit-webhook-'));
    const ca = await generateCa('audit-receiver-ca');
    const serving = await generateServingCert({ ca, hosts: ['127.0.0.1'] });
    const clientCa = await generateCa('audit-client-ca');
    const client = await generateClientCert({ ca: clientCa, commonName: 'kube-apiserver-audit' });
    receiver = await startReceiver(serving, clientCa.cert);
    await writeFile(join(dir, 'ca.crt'), ca.cert);
    await writeFile(join(dir, 'client.crt'), client.cert);
    await writeFile(join(dir, 'client.key'), client.key);
    kubeconfig = join(dir, 'audit-webhook.kubeconfig');
    // file references relative to the kubeconfig, as kubectl resolves them
    await writeFile(
      kubeconfig,
      `apiVersion: v1
kind: Config
clusters:
- name: audit
  cluster: {server: "https://127.0.0.1:${receiver.port}/audit", certificate-authority: ca.crt}
users:
- name: apiserver
  user: {client-certificate: client.crt, client-key: client.key}
contexts:
- name: default
  context: {cluster: audit, user: apiserver}
current-context: default
`,
    );
  });
  after(async () => {
    for (const s of servers) await s.close();
    await receiver?.down();
    await rm(dir, { recursive: true, force: true });
  });

  /** the webhook options as `hedge server` builds them from these flags */
  const webhookFrom = async (flags: Record<string, string>): Promise<AuditWebhookOptions> => {
    const s = await resolveServerSettings({ flags: { auditWebhookConfigFile: kubeconfig, ...flags } });
    return loadAuditWebhook(s.auditWebhook!);
  };
  const start = async (webhook: AuditWebhookOptions): Promise<TestServer> => {
    const t = await startTestServer({ audit: { policy: POLICY, webhook } });
    servers.push(t);
    return t;
  };
  const post = (t: TestServer, path: string, body: unknown) => t.json(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const metric = async (t: TestServer, line: string): Promise<number> => {
    const m = new RegExp(`^${line.replace(/[{}"]/g, '\\$&')} (\\d+)`, 'm').exec(await t.server.metricsRegistry.metrics());
    return m ? Number(m[1]) : 0;
  };

  it('a kubeconfig that cannot be used stops the start naming the flag', async () => {
    const bad = join(dir, 'bad.kubeconfig');
    await writeFile(bad, 'apiVersion: v1\nkind: Config\ncurrent-context: nope\n');
    const s = await resolveServerSettings({ flags: { auditWebhookConfigFile: bad } });
    await assert.rejects(loadAuditWebhook(s.auditWebhook!), (e) => isHedgeError(e, 'Invalid') && e.message === `--audit-webhook-config-file ${bad}: context "nope" not found`);
    const missing = await resolveServerSettings({ flags: { auditWebhookConfigFile: join(dir, 'none') } });
    await assert.rejects(loadAuditWebhook(missing.auditWebhook!), (e) => e instanceof Error && e.message.startsWith(`--audit-webhook-config-file ${join(dir, 'none')}: cannot read`));
  });

  it('batch mode: EventLists over client-certificate TLS, with the stages and levels of the policy', async () => {
    const t = await start(await webhookFrom({ auditWebhookBatchMaxWait: '100ms' }));
    const before = receiver.lists.length;
    assert.equal((await post(t, '/api/v1/namespaces/default/secrets', { metadata: { name: 's1' }, data: { k: 'dg==' } })).status, 201);
    const cm = await post(t, '/api/v1/namespaces/default/configmaps', { metadata: { name: 'c1' } });
    assert.equal(cm.status, 201);
    const cmId = cm.headers.get('audit-id')!;
    await until('the configmap create event', async () => receiver.events().some((e) => e.auditID === cmId && e.stage === 'ResponseComplete'), 10_000);
    const got = receiver.lists.slice(before);
    for (const l of got) {
      assert.equal(l.kind, 'EventList');
      assert.equal(l.apiVersion, 'audit.k8s.io/v1');
      assert.equal(l.clientCN, 'kube-apiserver-audit');
      assert.equal(l.contentType, 'application/json');
    }
    const evs = got.flatMap((l) => l.items);
    const secret = evs.filter((e) => e.objectRef?.resource === 'secrets' && e.verb === 'create');
    assert.deepEqual(secret.map((e) => [e.stage, e.level]), [['RequestReceived', 'Request'], ['ResponseComplete', 'Request']]);
    assert.equal(secret[1]!.requestObject?.metadata?.name, 's1');
    const cms = evs.filter((e) => e.auditID === cmId);
    assert.deepEqual(cms.map((e) => [e.stage, e.level]), [['ResponseComplete', 'Metadata']], 'RequestReceived omitted by the rule');
    assert.ok(!evs.some((e) => e.objectRef?.resource === 'namespaces' || e.verb === 'get' && !e.objectRef), 'nothing the policy leaves at None');
    assert.equal(await metric(t, 'apiserver_audit_event_total'), evs.length);
  });

  it('batch mode: a receiver that is down neither holds up nor fails requests; the events arrive when it is back, within the retries', async () => {
    const t = await start(await webhookFrom({ auditWebhookBatchMaxWait: '50ms', auditWebhookInitialBackoff: '300ms' }));
    await receiver.down();
    try {
      const startedAt = performance.now();
      const r = await post(t, '/api/v1/namespaces/default/secrets', { metadata: { name: 'while-down' } });
      assert.equal(r.status, 201);
      assert.ok(performance.now() - startedAt < 2000, 'not held up by the webhook');
      const id = r.headers.get('audit-id')!;
      await new Promise((res) => setTimeout(res, 200)); // the first try has failed by now
      await receiver.up();
      await until('both events after the receiver came back', async () => receiver.events().filter((e) => e.auditID === id).length === 2, 10_000);
      assert.equal(await metric(t, 'apiserver_audit_error_total{plugin="webhook"}'), 0, 'nothing dropped');
    } finally {
      await receiver.up();
    }
  });

  it('blocking mode: the events are sent within the request; a receiver down fails nothing. blocking-strict: the request fails with 500 and is counted', async () => {
    const blocking = await start(await webhookFrom({ auditWebhookMode: 'blocking', auditWebhookInitialBackoff: '10ms' }));
    const r = await post(blocking, '/api/v1/namespaces/default/secrets', { metadata: { name: 'blocking' } });
    assert.equal(r.status, 201);
    const id = r.headers.get('audit-id')!;
    // RequestReceived was stored before the create ran, ResponseComplete before the request's end
    assert.deepEqual(receiver.events().filter((e) => e.auditID === id).map((e) => e.stage), ['RequestReceived', 'ResponseComplete']);

    const strict = await start(await webhookFrom({ auditWebhookMode: 'blocking-strict', auditWebhookInitialBackoff: '10ms' }));
    await receiver.down();
    try {
      const ok = await post(blocking, '/api/v1/namespaces/default/secrets', { metadata: { name: 'blocking-down' } });
      assert.equal(ok.status, 201, 'blocking: the failure is counted, the request goes on');
      assert.equal(await metric(blocking, 'apiserver_audit_error_total{plugin="webhook"}'), 2);
      const refused = await post(strict, '/api/v1/namespaces/default/secrets', { metadata: { name: 'strict-down' } });
      assert.equal(refused.status, 500);
      assert.match(String((refused.body as { message?: string }).message), /failed to store audit event/);
      assert.equal(await metric(strict, 'apiserver_audit_requests_rejected_total'), 1);
      assert.equal((await strict.json('/api/v1/namespaces/default/secrets/strict-down')).status, 500, 'a get is refused the same way');
      // a configmap's RequestReceived is omitted by the policy: nothing to refuse it for
      assert.equal((await post(strict, '/api/v1/namespaces/default/configmaps', { metadata: { name: 'strict-cm' } })).status, 201);
    } finally {
      await receiver.up();
    }
    assert.equal((await strict.json('/api/v1/namespaces/default/secrets/strict-down')).status, 404, 'the refused create never ran');
  });
});
