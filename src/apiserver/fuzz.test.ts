/**
 * Property test: random and mutated requests never get a 5xx, never crash the server, and a
 * refused write changes nothing. Fixed seed and a bounded case count, so CI runs the same cases
 * every time (HEDGE_FUZZ_SEED / HEDGE_FUZZ_CASES explore more by hand).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { seededRandom } from '../lib/testing/seeded-random.ts';
import { startTestServer, type TestServer } from './testing/test-server.ts';

// Only tests read the environment here: it picks the seed and the case count.
const SEED = Number(process.env.HEDGE_FUZZ_SEED ?? 20261203);
const CASES = Number(process.env.HEDGE_FUZZ_CASES ?? 2000);

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

interface Resource {
  path: (ns: string) => string;
  namespaced: boolean;
  sample: (name: string, ns: string) => { [k: string]: Json };
}

const meta = (name: string, extra: { [k: string]: Json } = {}) => ({ name, labels: { app: 'fz', tier: name.replace(/[^a-z0-9]/g, '').slice(0, 8) || 'x' }, ...extra });
const RESOURCES: Resource[] = [
  { path: (ns) => `/api/v1/namespaces/${ns}/pods`, namespaced: true, sample: (n) => ({ apiVersion: 'v1', kind: 'Pod', metadata: meta(n), spec: { containers: [{ name: 'c', image: 'busybox', ports: [{ containerPort: 80 }], env: [{ name: 'A', value: '1' }] }] } }) },
  { path: (ns) => `/api/v1/namespaces/${ns}/configmaps`, namespaced: true, sample: (n) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: meta(n), data: { k: 'v' } }) },
  { path: (ns) => `/api/v1/namespaces/${ns}/secrets`, namespaced: true, sample: (n) => ({ apiVersion: 'v1', kind: 'Secret', metadata: meta(n), stringData: { k: 'v' }, type: 'Opaque' }) },
  { path: (ns) => `/api/v1/namespaces/${ns}/services`, namespaced: true, sample: (n) => ({ apiVersion: 'v1', kind: 'Service', metadata: meta(n), spec: { selector: { app: 'fz' }, ports: [{ port: 80, targetPort: 8080 }] } }) },
  { path: (ns) => `/api/v1/namespaces/${ns}/serviceaccounts`, namespaced: true, sample: (n) => ({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(n) }) },
  { path: (ns) => `/api/v1/namespaces/${ns}/events`, namespaced: true, sample: (n, ns) => ({ apiVersion: 'v1', kind: 'Event', metadata: meta(n), involvedObject: { kind: 'Pod', name: 'p', namespace: ns }, reason: 'R', message: 'm', type: 'Normal' }) },
  { path: (ns) => `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`, namespaced: true, sample: (n) => ({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: meta(n), spec: { holderIdentity: 'x', leaseDurationSeconds: 10 } }) },
  { path: () => '/api/v1/nodes', namespaced: false, sample: (n) => ({ apiVersion: 'v1', kind: 'Node', metadata: meta(n), spec: { taints: [{ key: 'k', effect: 'NoSchedule' }] } }) },
  { path: () => '/api/v1/namespaces', namespaced: false, sample: (n) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: meta(n) }) },
  { path: (ns) => `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles`, namespaced: true, sample: (n) => ({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: meta(n), rules: [{ apiGroups: [''], resources: ['pods'], resourceNames: ['a'], verbs: ['get', 'list'] }] }) },
  { path: () => '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', namespaced: false, sample: (n) => ({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: meta(n), roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' }, subjects: [{ kind: 'ServiceAccount', name: 'sa', namespace: 'fz1' }] }) },
  { path: () => '/apis/node.k8s.io/v1/runtimeclasses', namespaced: false, sample: (n) => ({ apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', metadata: meta(n), handler: 'runc' }) },
];

const NAMES = ['fz-a', 'fz-b', 'fz-c'];
const WEIRD_NAMES = ['', 'UPPER', 'a'.repeat(300), '..', '%2e%2e', 'a/b', 'ünï', 'a%00b', '-lead', 'x'.repeat(64), '%ff%fe', 'a b'];
const WEIRD_VALUES: Json[] = [null, true, false, 0, -1, 1e308, -0.5, 2 ** 53 + 1, '', 'x'.repeat(70_000), '\u0000', '\ud800', [], {}, [[[[]]]], { a: { b: { c: {} } } }, '1Gi', 'NaN'];
const SELECTORS = ['app=fz', 'app!=fz,tier in (fz-,x)', 'app', '!app', 'app in ()', 'app=', '=x', 'a==b', 'tier notin (a, b)', 'x,,y', 'a=b=c', '(', 'app in (a', `k=${'v'.repeat(100)}`, 'metadata.name=fz-a', 'spec.nodeName=', 'status.phase!=Running', 'bogus.field=1', 'metadata.namespace==default'];
const RVS = ['', '0', '1', '-1', 'abc', '99999999', '1.5', '9'.repeat(30)];
const CONTENT_TYPES = ['application/json', 'application/yaml', 'application/vnd.kubernetes.protobuf', 'text/plain', 'application/json; charset=latin1', ''];
const PATCH_TYPES = ['application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json', 'application/apply-patch+yaml'];

describe('apiserver fuzz: random and mutated requests', () => {
  let t: TestServer;
  // the apiserver's own caches (RBAC, the node graph) hold store watches for its whole life
  let internalWatches = 0;
  before(async () => {
    t = await startTestServer();
    internalWatches = t.store.openWatches;
    for (const ns of ['fz1', 'fz2']) {
      const r = await t.json('/api/v1/namespaces', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }) });
      assert.equal(r.status, 201);
    }
    // existing objects to update, patch and delete
    for (const res of RESOURCES) {
      for (const name of NAMES.slice(0, 2)) {
        const r = await t.json(res.path('fz1'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(res.sample(name, 'fz1')) });
        assert.equal(r.status, 201, `${res.path('fz1')} ${name}: ${JSON.stringify(r.body)}`);
      }
    }
  });
  after(() => t.close());

  it(`never answers 5xx, never crashes, and a refused write changes nothing (seed ${SEED}, ${CASES} cases)`, async () => {
    const rand = seededRandom(SEED);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const chance = (p: number) => rand() < p;

    const mutate = (v: Json, depth = 0): Json => {
      if (depth > 6) return v;
      if (Array.isArray(v)) {
        const out = v.map((x) => (chance(0.3) ? mutate(x, depth + 1) : x));
        if (chance(0.2)) out.push(pick(WEIRD_VALUES));
        if (chance(0.1)) out.length = 0;
        return out;
      }
      if (v !== null && typeof v === 'object') {
        const out: { [k: string]: Json } = { ...v };
        for (const k of Object.keys(out)) {
          if (chance(0.15)) delete out[k];
          else if (chance(0.2)) out[k] = mutate(out[k]!, depth + 1);
          else if (chance(0.05)) out[k] = pick(WEIRD_VALUES);
        }
        if (chance(0.1)) out[pick(['unknownField', 'status', 'x-y', '$patch', 'resourceVersion'])] = pick(WEIRD_VALUES);
        return out;
      }
      return chance(0.5) ? pick(WEIRD_VALUES) : v;
    };

    const encode = (obj: Json): { body: Buffer; contentType: string } => {
      const ct = chance(0.6) ? 'application/json' : pick(CONTENT_TYPES);
      const json = JSON.stringify(obj);
      let body = Buffer.from(json);
      if (ct === 'application/yaml' && chance(0.7)) body = Buffer.from(json.replace(/[{},]/g, (c) => (c === ',' ? '\n' : ' ')));
      if (chance(0.05)) body = Buffer.concat([body.subarray(0, Math.floor(rand() * body.length)), Buffer.from([0xff, 0xfe, 0xc3])]);
      if (chance(0.03)) body = Buffer.alloc(Math.floor(rand() * 64), Math.floor(rand() * 256));
      return { body, contentType: ct };
    };

    const jsonPatch = (): Json => {
      const ops = ['add', 'remove', 'replace', 'move', 'copy', 'test', 'bogus'];
      const paths = ['/metadata/labels/x', '/spec/containers/0/image', '/spec/containers/-', '/data/k', '/metadata/name', '/metadata/resourceVersion', '', '/', '/~2', '/spec/ports/9', '/metadata/labels'];
      return Array.from({ length: 1 + Math.floor(rand() * 3) }, () => ({ op: pick(ops), path: pick(paths), from: pick(paths), value: pick(WEIRD_VALUES) }));
    };

    const counts = { requests: 0, refusedWrites: 0, ok: 0 };
    const seen = new Map<number, number>();
    for (let i = 0; i < CASES; i++) {
      const res = pick(RESOURCES);
      const ns = chance(0.9) ? pick(['fz1', 'fz1', 'fz2', 'default']) : pick(['nope', 'BAD_NS']);
      const base = res.path(ns);
      const name = chance(0.85) ? pick(NAMES) : pick(WEIRD_NAMES);
      const itemPath = `${base}/${name}`;
      const verb = pick(['list', 'get', 'create', 'create', 'update', 'patch', 'patch', 'delete', 'deletecollection', 'status']);
      const q = new URLSearchParams();
      if (chance(0.3)) q.set('labelSelector', pick(SELECTORS));
      if (chance(0.2)) q.set('fieldSelector', pick(SELECTORS));
      if (chance(0.2)) q.set('resourceVersion', pick(RVS));
      if (chance(0.1)) q.set('limit', pick(['1', '0', '-5', 'x', '100000']));
      if (chance(0.1)) q.set('continue', pick(['', 'garbage', Buffer.from('{"v":"x"}').toString('base64url')]));
      if (chance(0.1)) q.set('dryRun', pick(['All', 'bogus']));
      if (chance(0.1)) q.set('fieldManager', pick(['m', '', 'x'.repeat(200)]));
      if (chance(0.1)) q.set('fieldValidation', pick(['Strict', 'Warn', 'Ignore', 'bogus']));
      if (chance(0.05)) q.set('propagationPolicy', pick(['Orphan', 'Background', 'bogus']));
      const query = q.size > 0 ? `?${q.toString()}` : '';

      let method = 'GET';
      let path = base;
      let body: Buffer | undefined;
      let contentType = 'application/json';
      const sample = res.sample(name, ns);
      switch (verb) {
        case 'list':
          break;
        case 'get':
          path = itemPath;
          break;
        case 'create': {
          method = 'POST';
          ({ body, contentType } = encode(chance(0.5) ? sample : mutate(sample)));
          break;
        }
        case 'update':
        case 'status': {
          method = 'PUT';
          path = verb === 'status' ? `${itemPath}/status` : itemPath;
          const cur = await t.json<{ [k: string]: Json }>(itemPath);
          const obj = cur.status === 200 ? cur.body : sample;
          ({ body, contentType } = encode(chance(0.3) ? obj : mutate(obj)));
          break;
        }
        case 'patch': {
          method = 'PATCH';
          path = chance(0.2) ? `${itemPath}/status` : itemPath;
          contentType = pick(PATCH_TYPES);
          const patch = contentType === 'application/json-patch+json' ? jsonPatch() : mutate(chance(0.5) ? sample : { metadata: { labels: { x: 'y' } } });
          body = Buffer.from(JSON.stringify(patch));
          if (chance(0.05)) body = Buffer.from('{"metadata":');
          break;
        }
        case 'delete':
          method = 'DELETE';
          path = itemPath;
          if (chance(0.3)) body = Buffer.from(JSON.stringify(mutate({ kind: 'DeleteOptions', apiVersion: 'v1', gracePeriodSeconds: 0, preconditions: { uid: 'x' } })));
          break;
        case 'deletecollection':
          method = 'DELETE';
          // keep the store populated: collection deletes only with a selector
          q.set('labelSelector', pick(SELECTORS));
          break;
      }
      const fullPath = verb === 'deletecollection' ? `${path}?${q.toString()}` : `${path}${query}`;

      // what the targeted object looks like before a write, to prove a refusal changed nothing
      const isWrite = method !== 'GET';
      const target = isWrite && verb !== 'deletecollection' ? itemPath : undefined;
      // a namespace deleted by an earlier case is emptied in the background: let that settle first,
      // so the only write between the two reads is this case's own
      if (target !== undefined) await t.server.namespacesIdle();
      const before = target === undefined ? undefined : await t.json(target);

      const headers: Record<string, string> = {};
      if (body !== undefined && contentType !== '') headers['content-type'] = contentType;
      let status: number;
      let text: string;
      try {
        const r = await t.request(fullPath, { method, headers, body });
        status = r.status;
        text = await r.text();
      } catch (err) {
        assert.fail(`case ${i}: ${method} ${fullPath} failed at the transport (server crashed?): ${(err as Error).message}`);
      }
      counts.requests++;
      seen.set(status, (seen.get(status) ?? 0) + 1);
      const where = `case ${i}: ${method} ${fullPath} ${contentType} body=${body?.subarray(0, 300).toString('latin1')}`;
      // The one 5xx upstream answers by design: a list/watch at a resourceVersion the store has not
      // reached yet is 504 Timeout with cause ResourceVersionTooLarge (client-go retries it).
      const tooLarge = status === 504 && text.includes('"ResourceVersionTooLarge"');
      assert.ok(status < 500 || tooLarge, `${where} → ${status} ${text.slice(0, 500)}`);
      if (status >= 400) {
        const st = JSON.parse(text) as { kind?: string; status?: string; message?: string; code?: number };
        assert.equal(st.kind, 'Status', `${where}: error body is not a Status: ${text.slice(0, 200)}`);
        assert.equal(st.code, status, where);
        assert.ok((st.message ?? '') !== '', `${where}: Status without a message`);
        if (target !== undefined && before !== undefined) {
          counts.refusedWrites++;
          await t.server.namespacesIdle();
          const afterGet = await t.json(target);
          assert.equal(afterGet.status, before.status, `${where}: a refused write changed whether the object exists`);
          assert.deepEqual(afterGet.body, before.body, `${where}: a refused write changed the object`);
        }
      } else {
        counts.ok++;
      }
    }
    // still serving after all of it
    assert.equal((await t.json('/api/v1/namespaces')).status, 200);
    assert.equal(t.store.openWatches, internalWatches);
    const byStatus = [...seen.entries()].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}×${n}`).join(' ');
    process.stdout.write(`# fuzz: seed ${SEED}, ${counts.requests} requests (${counts.ok} accepted, ${counts.refusedWrites} refused writes checked unchanged); statuses ${byStatus}\n`);
  });
});
