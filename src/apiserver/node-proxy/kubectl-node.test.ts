import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateCa, generateServingCert } from '../auth/pki.ts';
import { nodeAt, podOn, startFakeKubelet, type FakeKubelet } from '../testing/fake-kubelet.ts';
import { startTestServer, testToken, type TestServer } from '../testing/test-server.ts';
import { eventually, startWebhookServer } from '../testing/webhook-server.ts';

const kubectlPath = ['/usr/bin/kubectl', '/usr/local/bin/kubectl'].find((p) => existsSync(p));

describe('real kubectl logs/exec through the apiserver to a node', { skip: kubectlPath ? false : 'kubectl not installed' }, () => {
  let t: TestServer;
  let kubelet: FakeKubelet;
  let dir: string;
  let kubeconfig: string;
  const args = (extra: string[]): string[] => ['--kubeconfig', kubeconfig, '--cache-dir', join(dir, 'cache'), ...extra];
  const env = (): NodeJS.ProcessEnv => ({ PATH: process.env.PATH ?? '', HOME: dir });
  const kubectl = (extra: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      execFile(kubectlPath as string, args(extra), { timeout: 20_000, env: env() }, (err, stdout, stderr) =>
        resolve({ code: err ? 1 : 0, stdout, stderr }),
      );
    });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hedge-kubectl-node-'));
    kubelet = await startFakeKubelet();
    const ca = await generateCa();
    const serving = await generateServingCert({ ca, hosts: ['127.0.0.1'] });
    t = await startTestServer({ tls: { cert: serving.cert, key: serving.key, clientCa: ca.cert }, kubeletClient: { scheme: 'http' } });
    kubeconfig = join(dir, 'kubeconfig');
    const b64 = (s: string): string => Buffer.from(s).toString('base64');
    await writeFile(
      kubeconfig,
      `apiVersion: v1
kind: Config
clusters:
- name: hedge
  cluster: {server: "${t.url}", certificate-authority-data: ${b64(ca.cert)}}
users:
- name: admin
  user: {token: ${testToken}}
contexts:
- name: hedge
  context: {cluster: hedge, user: admin, namespace: default}
current-context: hedge
`,
    );
    // the server's own registry, as fetch does not trust the throwaway CA
    const user = { username: 'admin', groups: ['system:masters'] };
    const ctx = { user, dryRun: false, signal: new AbortController().signal };
    const reg = t.server.registry;
    await reg.create(reg.defFor('', 'nodes')!, nodeAt('edge-1', kubelet.port) as never, ctx);
    await reg.create(reg.defFor('', 'pods')!, podOn('web', 'edge-1') as never, ctx);
  });
  after(async () => {
    await t.close();
    await kubelet.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('kubectl logs', async () => {
    const r = await kubectl(['logs', 'web']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hello from main\nsecond line\n');
  });

  it('kubectl logs -f streams until killed', async () => {
    const child = spawn(kubectlPath as string, args(['logs', '-f', 'web']), { env: env() });
    let out = '';
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('line 2\n')) resolve();
      });
      child.on('exit', () => reject(new Error(`kubectl exited early: ${out}`)));
    });
    child.kill('SIGTERM');
    assert.equal(out, 'line 1\nline 2\n');
    await kubelet.followClosed(1);
  });

  it('kubectl exec', async () => {
    const r = await kubectl(['exec', 'web', '--', 'echo', 'hi']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hi\n');
  });

  it('kubectl exec refused by a validating webhook on CONNECT pods/exec (PodExecOptions), other commands let through', async () => {
    const hook = await startWebhookServer(['127.0.0.1'], (_path, review) => {
      const rq = (review as { request: { uid: string; operation: string; object: { kind: string; command: string[] } } }).request;
      const shell = rq.operation === 'CONNECT' && rq.object.kind === 'PodExecOptions' && rq.object.command.includes('sh');
      const response = shell ? { uid: rq.uid, allowed: false, status: { code: 403, reason: 'Forbidden', message: 'no shells in this pod' } } : { uid: rq.uid, allowed: true };
      return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response };
    });
    const reg = t.server.registry;
    const vwcDef = reg.defFor('admissionregistration.k8s.io', 'validatingwebhookconfigurations')!;
    const ctx = { user: { username: 'admin', groups: ['system:masters'] }, dryRun: false, signal: new AbortController().signal };
    const config = {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: { name: 'no-shells' },
      webhooks: [
        {
          name: 'exec.hedge.test',
          clientConfig: { url: `${hook.url}/exec`, caBundle: hook.caBundle },
          rules: [{ operations: ['CONNECT'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods/exec'] }],
          sideEffects: 'None',
          admissionReviewVersions: ['v1'],
        },
      ],
    };
    try {
      await reg.create(vwcDef, config as never, ctx);
      const refused = await eventually(() => kubectl(['exec', 'web', '--', 'sh', '-c', 'echo hi']), (r) => r.code !== 0);
      assert.equal(refused.stdout, '');
      assert.match(refused.stderr, /Error from server \(Forbidden\): admission webhook "exec.hedge.test" denied the request: no shells in this pod/);
      const allowed = await kubectl(['exec', 'web', '--', 'echo', 'hi']);
      assert.equal(allowed.code, 0, allowed.stderr);
      assert.equal(allowed.stdout, 'hi\n');
    } finally {
      await reg.delete(vwcDef, '', 'no-shells', {}, ctx).catch(() => undefined);
      await hook.close();
    }
  });

  it('kubectl auth can-i, auth whoami and create token', async () => {
    const can = await kubectl(['auth', 'can-i', 'create', 'pods']);
    assert.equal(can.stdout.trim(), 'yes', can.stderr);
    const who = await kubectl(['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}']);
    assert.equal(who.code, 0, who.stderr);
    assert.equal(who.stdout, 'admin');
    const tok = await kubectl(['create', 'token', 'default']);
    assert.equal(tok.code, 0, tok.stderr);
    assert.ok(t.server.serviceAccountTokens.verify(tok.stdout.trim()));
  });
});
