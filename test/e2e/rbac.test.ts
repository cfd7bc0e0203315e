/**
 * RBAC with the real kubectl against the real `hedge server`: a service account token is denied
 * until a RoleBinding grants it, then allowed exactly that, and `kubectl auth can-i --as` agrees.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { findKubectl, startHedgeServer, type HedgeServer, type RunResult } from './harness.ts';

const KUBECTL = findKubectl();
const SA = 'system:serviceaccount:team:robot';

function ok(r: RunResult, what: string): string {
  assert.equal(r.code, 0, `${what} failed (exit ${r.code})\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  return r.stdout;
}

async function eventually(what: string, fn: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe('RBAC with kubectl against hedge server', { skip: KUBECTL === undefined && 'no kubectl (run scripts/setup.sh)' }, () => {
  let s: HedgeServer;
  let tokenConfig: string;
  const k = (args: string[], input?: string): Promise<RunResult> => s.kubectl(args, { input });
  /** kubectl as the robot service account's token */
  const robot = (args: string[]): Promise<RunResult> => s.kubectl(['--kubeconfig', tokenConfig, ...args]);

  before(async () => {
    s = await startHedgeServer({ store: 'memory' });
    ok(await k(['create', 'namespace', 'team']), 'create namespace');
    ok(await k(['create', 'serviceaccount', 'robot', '-n', 'team']), 'create serviceaccount');
    ok(await k(['create', 'configmap', 'app', '-n', 'team', '--from-literal=k=v']), 'create configmap');
    ok(await k(['create', 'secret', 'generic', 'db', '-n', 'team', '--from-literal=password=hunter2']), 'create secret');
    const token = ok(await k(['create', 'token', 'robot', '-n', 'team']), 'create token').trim();
    const admin = parseYaml(await readFile(s.kubeconfig, 'utf8')) as { clusters: { cluster: { server: string; 'certificate-authority-data': string } }[] };
    const cluster = admin.clusters[0].cluster;
    tokenConfig = join(s.dataDir, 'robot.kubeconfig');
    await writeFile(
      tokenConfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'hedge', cluster }],
        users: [{ name: 'robot', user: { token } }],
        contexts: [{ name: 'robot', context: { cluster: 'hedge', user: 'robot', namespace: 'team' } }],
        'current-context': 'robot',
      }),
      { mode: 0o600 },
    );
  });
  after(async () => {
    if (s === undefined) return;
    await s.stop();
    await s.cleanup();
  });

  it('serves the default ClusterRoles like a real cluster', async () => {
    const out = ok(await k(['get', 'clusterroles']), 'get clusterroles');
    assert.match(out, /^NAME\s+CREATED AT\n/);
    for (const name of ['cluster-admin', 'admin', 'edit', 'view', 'system:basic-user', 'system:discovery']) assert.match(out, new RegExp(`^${name}\\s+\\d{4}-`, 'm'));
    const crb = ok(await k(['get', 'clusterrolebinding', 'cluster-admin', '-o', 'wide']), 'get clusterrolebinding');
    assert.match(crb, /cluster-admin\s+ClusterRole\/cluster-admin\s+\S+\s+system:masters/);
    assert.match(ok(await k(['auth', 'can-i', '*', '*']), 'can-i as admin'), /^yes/);
    assert.match(ok(await k(['explain', 'clusterrole.aggregationRule']), 'explain'), /clusterRoleSelectors/);
  });

  it('a service account token is denied until a RoleBinding grants it, then allowed exactly that', async () => {
    assert.equal(ok(await robot(['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}']), 'whoami'), SA);
    const denied = await robot(['get', 'pods']);
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /Error from server \(Forbidden\): pods is forbidden: User "system:serviceaccount:team:robot" cannot list resource "pods" in API group "" in the namespace "team"/);
    assert.equal((await robot(['get', 'secret', 'db'])).code, 1);
    const canI = await k(['auth', 'can-i', 'list', 'pods', '-n', 'team', `--as=${SA}`]);
    assert.equal(canI.stdout.trim(), 'no');

    const role = `apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: reader
  namespace: team
rules:
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [configmaps]
  resourceNames: [app]
  verbs: [get]
`;
    ok(await k(['apply', '-f', '-'], role), 'apply role');
    ok(await k(['create', 'rolebinding', 'robot-reads', '-n', 'team', '--role=reader', '--serviceaccount=team:robot']), 'create rolebinding');
    assert.match(ok(await k(['get', 'rolebinding', 'robot-reads', '-n', 'team', '-o', 'wide']), 'get rolebinding'), /robot-reads\s+Role\/reader\s+\S+\s+team:robot/);

    await eventually('the binding to grant pods', async () => (await robot(['get', 'pods'])).code === 0);
    ok(await robot(['get', 'configmap', 'app']), 'get the named configmap');
    const checks: [string[], boolean][] = [
      [['get', 'pods'], true],
      [['watch', 'pods'], true],
      [['get', 'configmaps/app'], true],
      [['list', 'configmaps'], false],
      [['get', 'secrets/db'], false],
      [['delete', 'pods'], false],
      [['create', 'pods'], false],
      [['list', 'pods', '-n', 'default'], false],
      [['get', 'pods', '--subresource=log'], false],
    ];
    for (const [args, want] of checks) {
      const as = await k(['auth', 'can-i', ...args, ...(args.includes('-n') ? [] : ['-n', 'team']), `--as=${SA}`]);
      assert.equal(as.stdout.trim(), want ? 'yes' : 'no', `can-i --as ${args.join(' ')}: ${as.stderr}`);
      const self = await robot(['auth', 'can-i', ...args]);
      assert.equal(self.stdout.trim(), want ? 'yes' : 'no', `can-i (token) ${args.join(' ')}: ${self.stderr}`);
    }
    // and the real requests agree with can-i
    assert.equal((await robot(['get', 'secret', 'db'])).code, 1);
    assert.equal((await robot(['get', 'configmaps'])).code, 1);
    assert.equal((await robot(['delete', 'configmap', 'app'])).code, 1);
    assert.equal((await robot(['get', 'pods', '-n', 'default'])).code, 1);
    const list = ok(await robot(['auth', 'can-i', '--list']), 'can-i --list');
    assert.match(list, /^pods\s+\[\]\s+\[\]\s+\[get list watch\]/m);
    assert.match(list, /^configmaps\s+\[\]\s+\[app\]\s+\[get\]/m);

    // the token cannot widen its own access
    const escalate = await robot(['create', 'rolebinding', 'mine', '--clusterrole=admin', `--serviceaccount=team:robot`]);
    assert.equal(escalate.code, 1);
    assert.match(escalate.stderr, /rolebindings\.rbac\.authorization\.k8s\.io is forbidden/);

    // removing the binding removes the access
    ok(await k(['delete', 'rolebinding', 'robot-reads', '-n', 'team']), 'delete rolebinding');
    await eventually('access to go with the binding', async () => (await robot(['get', 'pods'])).code === 1);
    assert.equal((await k(['auth', 'can-i', 'list', 'pods', '-n', 'team', `--as=${SA}`])).stdout.trim(), 'no');
  });

  /** kubectl with a kubeconfig holding only `token` */
  const asToken = async (name: string, token: string): Promise<(args: string[]) => Promise<RunResult>> => {
    const admin = parseYaml(await readFile(s.kubeconfig, 'utf8')) as { clusters: { cluster: unknown }[] };
    const path = join(s.dataDir, `${name}.kubeconfig`);
    await writeFile(
      path,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'hedge', cluster: admin.clusters[0].cluster }],
        users: [{ name, user: { token } }],
        contexts: [{ name, context: { cluster: 'hedge', user: name, namespace: 'team' } }],
        'current-context': name,
      }),
      { mode: 0o600 },
    );
    return (args) => s.kubectl(['--kubeconfig', path, ...args]);
  };

  it('kubectl auth whoami lists a bound token\'s extra; tokens bound to a Secret or a Node die with it', async () => {
    const who = ok(await robot(['auth', 'whoami']), 'whoami');
    assert.match(who, /^Extra: authentication\.kubernetes\.io\/credential-id\s+\[JTI=[0-9a-f-]{36}\]$/m);

    ok(await k(['create', 'secret', 'generic', 'anchor', '-n', 'team', '--from-literal=a=b']), 'create secret');
    const secretBound = await asToken('secret-bound', ok(await k(['create', 'token', 'robot', '-n', 'team', '--bound-object-kind', 'Secret', '--bound-object-name', 'anchor']), 'create token').trim());
    assert.equal(ok(await secretBound(['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}']), 'whoami (secret-bound)'), SA);

    ok(await k(['apply', '-f', '-'], 'apiVersion: v1\nkind: Node\nmetadata:\n  name: edge-x\n'), 'create node');
    const nodeUid = ok(await k(['get', 'node', 'edge-x', '-o', 'jsonpath={.metadata.uid}']), 'node uid');
    const nodeBound = await asToken('node-bound', ok(await k(['create', 'token', 'robot', '-n', 'team', '--bound-object-kind', 'Node', '--bound-object-name', 'edge-x', '--bound-object-uid', nodeUid]), 'create token').trim());
    const nodeWho = ok(await nodeBound(['auth', 'whoami']), 'whoami (node-bound)');
    assert.match(nodeWho, /^Extra: authentication\.kubernetes\.io\/node-name\s+\[edge-x\]$/m);
    assert.match(nodeWho, new RegExp(`^Extra: authentication\\.kubernetes\\.io\\/node-uid\\s+\\[${nodeUid}\\]$`, 'm'));
    const wrongUid = await k(['create', 'token', 'robot', '-n', 'team', '--bound-object-kind', 'Node', '--bound-object-name', 'edge-x', '--bound-object-uid', 'not-it']);
    assert.equal(wrongUid.code, 1);
    assert.match(wrongUid.stderr, /Operation cannot be fulfilled on Node "edge-x": the UID in the bound object reference \(not-it\) does not match/);

    ok(await k(['delete', 'secret', 'anchor', '-n', 'team']), 'delete secret');
    ok(await k(['delete', 'node', 'edge-x']), 'delete node');
    await eventually('the secret-bound token to be refused', async () => /Unauthorized/.test((await secretBound(['auth', 'whoami'])).stderr));
    await eventually('the node-bound token to be refused', async () => /Unauthorized/.test((await nodeBound(['auth', 'whoami'])).stderr));
  });

  it('a service-account-token Secret is filled in by the tokens controller and its token signs in; it goes with its account', async () => {
    ok(await k(['create', 'serviceaccount', 'legacy', '-n', 'team']), 'create serviceaccount');
    const secret = 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: legacy-token\n  namespace: team\n  annotations:\n    kubernetes.io/service-account.name: legacy\ntype: kubernetes.io/service-account-token\n';
    ok(await k(['apply', '-f', '-'], secret), 'apply token secret');
    let token = '';
    await eventually('the token to be filled in', async () => {
      const r = await k(['get', 'secret', 'legacy-token', '-n', 'team', '-o', 'jsonpath={.data.token}']);
      token = r.code === 0 ? Buffer.from(r.stdout, 'base64').toString() : '';
      return token !== '';
    });
    const ca = ok(await k(['get', 'secret', 'legacy-token', '-n', 'team', '-o', 'jsonpath={.data.ca\\.crt}']), 'ca.crt');
    assert.match(Buffer.from(ca, 'base64').toString(), /^-----BEGIN CERTIFICATE-----/);
    const described = ok(await k(['describe', 'secret', 'legacy-token', '-n', 'team']), 'describe secret');
    assert.match(described, /^namespace:\s+4 bytes$/m);
    const legacy = await asToken('legacy', token);
    assert.equal(ok(await legacy(['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}']), 'whoami (legacy)'), 'system:serviceaccount:team:legacy');
    await eventually('the last-used label', async () => /^\d{4}-\d{2}-\d{2}$/.test((await k(['get', 'secret', 'legacy-token', '-n', 'team', '-o', 'jsonpath={.metadata.labels.kubernetes\\.io/legacy-token-last-used}'])).stdout));

    ok(await k(['delete', 'serviceaccount', 'legacy', '-n', 'team']), 'delete serviceaccount');
    await eventually('the token secret to go with its account', async () => (await k(['get', 'secret', 'legacy-token', '-n', 'team'])).code === 1);
    assert.match((await legacy(['auth', 'whoami'])).stderr, /Unauthorized/);
  });
});
