import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../testing/test-server.ts';

const pod = (name: string, spec: Record<string, unknown> = {}, container: Record<string, unknown> = {}) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name },
  spec: { containers: [{ name: 'c', image: 'x', ...container }], ...spec },
});

const restrictedOk = {
  securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
};
const restrictedContainer = { securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } };

describe('Pod Security admission', () => {
  let t: TestServer;
  const create = (ns: string, body: unknown) =>
    t.json<{ message?: string; reason?: string }>(`/api/v1/namespaces/${ns}/pods`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const namespace = async (name: string, labels: Record<string, string>) => {
    const r = await t.json('/api/v1/namespaces', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } }) });
    assert.equal(r.status, 201);
  };

  before(async () => {
    t = await startTestServer({ podSecurity: { enforce: 'baseline', exemptions: { namespaces: ['exempt'], runtimeClasses: ['trusted'] } } });
    await namespace('locked', { 'pod-security.kubernetes.io/enforce': 'restricted' });
    await namespace('warned', { 'pod-security.kubernetes.io/enforce': 'privileged', 'pod-security.kubernetes.io/warn': 'restricted', 'pod-security.kubernetes.io/warn-version': 'v1.30' });
    await namespace('open', { 'pod-security.kubernetes.io/enforce': 'privileged' });
    await namespace('exempt', { 'pod-security.kubernetes.io/enforce': 'restricted' });
    await namespace('old', { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'v1.22' });
    await namespace('badversion', { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'one-dot-22' });
    await namespace('badlevel', { 'pod-security.kubernetes.io/enforce': 'lenient' });
  });

  it('honours -version labels: restricted:v1.22 has no runAsUser check yet, latest refuses the same pod', async () => {
    const root = pod('root', { securityContext: { runAsUser: 0, runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } } }, restrictedContainer);
    assert.equal((await create('old', root)).status, 201);
    const latest = await create('locked', root);
    assert.equal(latest.body.message, 'pods "root" is forbidden: violates PodSecurity "restricted:latest": runAsUser=0 (pod must not set runAsUser=0)');
    const priv = await create('old', pod('priv', restrictedOk, { securityContext: { ...restrictedContainer.securityContext, privileged: true } }));
    assert.equal(priv.body.message, 'pods "priv" is forbidden: violates PodSecurity "restricted:v1.22": privileged (container "c" must not set securityContext.privileged=true)');
  });

  it('an invalid version label is evaluated as latest, an invalid level as restricted, each with a warning', async () => {
    const root = pod('root', { securityContext: { runAsUser: 0, runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } } }, restrictedContainer);
    const r = await create('badversion', root);
    assert.equal(r.body.message, 'pods "root" is forbidden: violates PodSecurity "restricted:latest": runAsUser=0 (pod must not set runAsUser=0)');
    const ok = await t.request('/api/v1/namespaces/badversion/pods', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(pod('ok', restrictedOk, restrictedContainer)) });
    assert.equal(ok.status, 201);
    assert.match(ok.headers.get('warning') ?? '', /invalid Pod Security label pod-security\.kubernetes\.io\/enforce-version=\\?"one-dot-22\\?": must be \\?"latest\\?" or \\?"v1\.x\\?" \(evaluated as latest\)/);
    const lenient = await t.request('/api/v1/namespaces/badlevel/pods', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(pod('plain')) });
    assert.equal(lenient.status, 403, 'an unknown level fails closed (restricted), as upstream');
    assert.equal((await create('badlevel', pod('good', restrictedOk, restrictedContainer))).status, 201);
  });
  after(() => t.close());

  it('a restricted namespace rejects privileged, hostPath, hostNetwork and root pods with upstream messages', async () => {
    const priv = await create('locked', pod('priv', restrictedOk, { securityContext: { ...restrictedContainer.securityContext, privileged: true } }));
    assert.equal(priv.status, 403);
    assert.equal(priv.body.message, 'pods "priv" is forbidden: violates PodSecurity "restricted:latest": privileged (container "c" must not set securityContext.privileged=true)');
    const hostPath = await create('locked', pod('hp', { ...restrictedOk, volumes: [{ name: 'root', hostPath: { path: '/' } }] }, restrictedContainer));
    assert.equal(hostPath.body.message, 'pods "hp" is forbidden: violates PodSecurity "restricted:latest": hostPath volumes (volume "root"), restricted volume types (volume "root" uses restricted volume type "hostPath")');
    const hostNet = await create('locked', pod('hn', { ...restrictedOk, hostNetwork: true, hostPID: true }, restrictedContainer));
    assert.equal(hostNet.body.message, 'pods "hn" is forbidden: violates PodSecurity "restricted:latest": host namespaces (hostNetwork=true, hostPID=true)');
    const root = await create('locked', pod('root', { securityContext: { runAsUser: 0, seccompProfile: { type: 'RuntimeDefault' } } }, restrictedContainer));
    assert.equal(root.body.message, 'pods "root" is forbidden: violates PodSecurity "restricted:latest": runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), runAsUser=0 (pod must not set runAsUser=0)');
    const plain = await create('locked', pod('plain'));
    assert.equal(plain.status, 403);
    assert.equal(
      plain.body.message,
      'pods "plain" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")',
    );
    assert.equal((await create('locked', pod('good', restrictedOk, restrictedContainer))).status, 201);
  });

  it('an ephemeral container is checked with its pod: a privileged kubectl debug container is refused where a privileged pod would be', async () => {
    assert.equal((await create('default', pod('debugged'))).status, 201);
    const add = (name: string, sc: Record<string, unknown>) =>
      t.json<{ message?: string; spec?: { ephemeralContainers?: unknown[] } }>(`/api/v1/namespaces/default/pods/debugged/ephemeralcontainers`, {
        method: 'PATCH',
        headers: { 'content-type': 'application/strategic-merge-patch+json' },
        body: JSON.stringify({ spec: { ephemeralContainers: [{ name, image: 'x', securityContext: sc }] } }),
      });
    const priv = await add('root-shell', { privileged: true });
    assert.equal(priv.status, 403);
    assert.equal(priv.body.message, 'pods "debugged" is forbidden: violates PodSecurity "baseline:latest": privileged (container "root-shell" must not set securityContext.privileged=true)');
    const plain = await add('shell', {});
    assert.equal(plain.status, 200, JSON.stringify(plain.body));
    assert.equal(plain.body.spec?.ephemeralContainers?.length, 1);
  });

  it('enforces the cluster default (baseline) where no label says otherwise; plain pods pass it', async () => {
    assert.equal((await create('default', pod('plain'))).status, 201);
    const priv = await create('default', pod('priv', {}, { securityContext: { privileged: true, capabilities: { add: ['SYS_ADMIN', 'NET_BIND_SERVICE'] } }, ports: [{ containerPort: 80, hostPort: 8080 }] }));
    assert.equal(priv.body.message, 'pods "priv" is forbidden: violates PodSecurity "baseline:latest": privileged (container "c" must not set securityContext.privileged=true), non-default capabilities (container "c" must not include "SYS_ADMIN" in securityContext.capabilities.add), hostPort (container "c" uses hostPort 8080)');
    assert.equal((await create('open', pod('priv', { hostNetwork: true }, { securityContext: { privileged: true } }))).status, 201, 'an explicit privileged label wins');
  });

  it('warns without refusing, and honours exemptions', async () => {
    const r = await t.request('/api/v1/namespaces/warned/pods', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(pod('w', { hostNetwork: true })) });
    assert.equal(r.status, 201);
    const warning = r.headers.get('warning') ?? '';
    assert.match(warning, /^299 - "would violate PodSecurity \\?"restricted:v1\.30\\?": host namespaces \(hostNetwork=true\), allowPrivilegeEscalation != false/);
    assert.equal((await create('exempt', pod('x', { hostNetwork: true }))).status, 201, 'exempt namespace');
    const rc = await t.json('/apis/node.k8s.io/v1/runtimeclasses', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', metadata: { name: 'trusted' }, handler: 'runc' }) });
    assert.equal(rc.status, 201);
    assert.equal((await create('locked', pod('trusted', { runtimeClassName: 'trusted', hostNetwork: true }))).status, 201, 'exempt RuntimeClass');
    assert.equal((await create('locked', pod('gvisor', { runtimeClassName: 'gvisor', hostNetwork: true }))).status, 403, 'other RuntimeClasses are checked');
  });
});
