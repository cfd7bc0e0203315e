/**
 * RBAC authorizer cost per request with many bindings: the subject index (auth/rbac/rbac-index.ts)
 * against a linear scan of every binding (what an unindexed authorizer does), same objects, same
 * requests, same run. Also the end-to-end cost of one authorized GET through the in-process
 * apiserver as an RBAC user vs system:masters (which short-cuts RBAC).
 * Run: node --import tsx bench/rbac-authorizer.ts [--bindings 1000] [--requests 20000]
 */
import { parseArgs } from 'node:util';
import type { ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding } from 'kubernetes-types/rbac/v1.js';
import { bootstrapClusterRoleBindings, bootstrapClusterRoles, ruleAllows, subjectsApply, type RuleRequest } from '../src/api/rbac/index.ts';
import { RbacIndex } from '../src/apiserver/auth/rbac/rbac-index.ts';
import { startTestServer } from '../src/apiserver/testing/test-server.ts';

const { values } = parseArgs({ options: { bindings: { type: 'string', default: '1000' }, requests: { type: 'string', default: '20000' } } });
const N = Number(values.bindings);
const R = Number(values.requests);

const roles: Role[] = [];
const bindings: RoleBinding[] = [];
for (let i = 0; i < N; i++) {
  const ns = `ns-${i % 100}`;
  roles.push({ metadata: { name: `r-${i}`, namespace: ns }, rules: [{ apiGroups: [''], resources: ['configmaps', 'pods'], verbs: ['get', 'list'] }] });
  bindings.push({ metadata: { name: `b-${i}`, namespace: ns }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: `r-${i}` }, subjects: [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: `user-${i}` }] });
}
const clusterRoles: ClusterRole[] = bootstrapClusterRoles();
const crbs: ClusterRoleBinding[] = bootstrapClusterRoleBindings();
const index = new RbacIndex({ clusterRoles, roles, clusterRoleBindings: crbs, roleBindings: bindings });

const userFor = (i: number) => ({ username: `user-${i}`, groups: ['system:authenticated'] });
const reqFor = (i: number, allowed: boolean): RuleRequest => ({ kind: 'resource', verb: allowed ? 'get' : 'delete', group: '', resource: 'configmaps', subresource: '', name: 'x', namespace: `ns-${i % 100}` });

function indexed(i: number, allowed: boolean): boolean {
  const req = reqFor(i, allowed);
  return index.visit(userFor(i), req.kind === 'resource' ? req.namespace : '', (src) => src.rules.some((r) => ruleAllows(req, r)));
}

const roleByKey = new Map(roles.map((r) => [`${r.metadata?.namespace}/${r.metadata?.name}`, r.rules ?? []]));
const crByName = new Map(clusterRoles.map((r) => [r.metadata?.name ?? '', r.rules ?? []]));
function linear(i: number, allowed: boolean): boolean {
  const req = reqFor(i, allowed);
  const user = userFor(i);
  const ns = req.kind === 'resource' ? req.namespace : '';
  const check = (rules: readonly PolicyRule[]): boolean => rules.some((r) => ruleAllows(req, r));
  for (const b of crbs) if (subjectsApply(user, b.subjects, '') && check(crByName.get(b.roleRef.name) ?? [])) return true;
  for (const b of bindings) {
    if (b.metadata?.namespace !== ns || !subjectsApply(user, b.subjects, ns)) continue;
    const rules = b.roleRef.kind === 'Role' ? roleByKey.get(`${ns}/${b.roleRef.name}`) : crByName.get(b.roleRef.name);
    if (check(rules ?? [])) return true;
  }
  return false;
}

function measure(fn: (i: number) => boolean): { p50: number; p99: number } {
  const times: number[] = [];
  for (let i = 0; i < R; i++) {
    const t0 = process.hrtime.bigint();
    fn(i % N);
    times.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  times.sort((a, b) => a - b);
  return { p50: times[Math.floor(R * 0.5)], p99: times[Math.floor(R * 0.99)] };
}

// sanity: both agree
for (let i = 0; i < 200; i++) for (const a of [true, false]) if (indexed(i, a) !== linear(i, a)) throw new Error(`disagree at ${i} ${a}`);

const rows: [string, { p50: number; p99: number }][] = [
  ['indexed, allowed', measure((i) => indexed(i, true))],
  ['indexed, denied', measure((i) => indexed(i, false))],
  ['linear scan, allowed', measure((i) => linear(i, true))],
  ['linear scan, denied', measure((i) => linear(i, false))],
];

// end to end through the apiserver: RBAC user vs system:masters on the same GET
const t = await startTestServer();
await t.json('/api/v1/namespaces', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'b' } }) });
await t.json('/api/v1/namespaces/b/configmaps', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } }) });
for (let i = 0; i < N; i++) {
  const ns = i === 0 ? 'b' : `ns-${i}`;
  await t.json(`/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: `b-${i}` }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' }, subjects: [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: i === 0 ? 'bob' : `u-${i}` }] }),
  });
}
async function httpMeasure(token: string, n: number): Promise<{ p50: number; p99: number }> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const r = await fetch(`${t.url}/api/v1/namespaces/b/configmaps/x`, { headers: { authorization: `Bearer ${token}` } });
    await r.arrayBuffer();
    if (r.status !== 200) throw new Error(`GET as ${token}: ${r.status}`);
    times.push((performance.now() - t0) * 1000);
  }
  times.sort((a, b) => a - b);
  return { p50: times[Math.floor(n * 0.5)], p99: times[Math.floor(n * 0.99)] };
}
// wait until the binding is in the cache
for (let i = 0; i < 500; i++) {
  const r = await fetch(`${t.url}/api/v1/namespaces/b/configmaps/x`, { headers: { authorization: 'Bearer user-bob' } });
  await r.arrayBuffer();
  if (r.status === 200) break;
  await new Promise((res) => setTimeout(res, 10));
}
const httpN = Math.min(R, 2000);
await httpMeasure('test-token', 200);
const masters = await httpMeasure('test-token', httpN);
const rbacUser = await httpMeasure('user-bob', httpN);
await t.close();
rows.push(['HTTP GET as system:masters', masters], ['HTTP GET as RBAC user (RoleBinding)', rbacUser]);

const fmt = (us: number): string => `${us.toFixed(1)} µs`;
process.stdout.write(`\nRBAC authorizer, ${N} RoleBindings + ${N} Roles + the default policy, ${R} requests\n\n`);
process.stdout.write('| case | p50 | p99 | p50 vs indexed |\n| --- | --- | --- | --- |\n');
const base = rows[0][1].p50;
for (const [name, m] of rows) process.stdout.write(`| ${name} | ${fmt(m.p50)} | ${fmt(m.p99)} | ${(m.p50 / base).toFixed(1)}x |\n`);
