import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Pod, ResourceQuota } from 'kubernetes-types/core/v1.js';
import { HttpKubeClient } from '../client/http-client.ts';
import { ResourceQuotaController } from '../controllers/resourcequota/controller.ts';
import { until } from '../controllers/testing/objects.ts';
import { silentLogger } from '../lib/log.ts';
import { startTestServer, testToken, type TestServer } from './testing/test-server.ts';

interface StatusBody {
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: { causes?: { field?: string; reason?: string; message?: string }[] };
}

const json = { 'content-type': 'application/json' };
const pod = (name: string, resources?: Record<string, unknown>, spec: Record<string, unknown> = {}) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name },
  spec: { automountServiceAccountToken: false, containers: [{ name: 'c', image: 'x', ...(resources ? { resources } : {}) }], ...spec },
});

describe('ResourceQuota and LimitRange through the API', () => {
  let t: TestServer;
  const stop = new AbortController();
  let controller: Promise<void>;
  const post = <T = StatusBody>(path: string, body: unknown) => t.json<T>(path, { method: 'POST', headers: json, body: JSON.stringify(body) });
  const quota = (ns: string, name: string) => t.json<ResourceQuota>(`/api/v1/namespaces/${ns}/resourcequotas/${name}`);
  const used = async (ns: string, name: string) => (await quota(ns, name)).body.status?.used ?? {};

  before(async () => {
    t = await startTestServer();
    for (const ns of ['limited', 'team', 'scoped']) assert.equal((await post('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })).status, 201);
    const client = new HttpKubeClient({ server: t.url, token: testToken });
    controller = new ResourceQuotaController({ client, logger: silentLogger(), resyncPeriodMs: 60_000 }).run(stop.signal);
  });
  after(async () => {
    stop.abort();
    await controller;
    await t?.close();
  });

  it('refuses invalid quotas and limit ranges with 422 and the field at fault', async () => {
    const badQuantity = await post('/api/v1/namespaces/team/resourcequotas', { apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'bad' }, spec: { hard: { cpu: 'lots', pods: '1.5', widgets: '1' } } });
    assert.equal(badQuantity.status, 422);
    assert.deepEqual(
      badQuantity.body.details?.causes?.map((c) => [c.field, c.message]),
      [
        ['spec.hard[cpu]', `Invalid value: "lots": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'`],
        ['spec.hard[pods]', 'Invalid value: 1500m: must be an integer'],
        ['spec.hard[widgets]', 'Invalid value: "widgets": must be a standard resource for quota'],
      ],
    );
    const badScope = await post('/api/v1/namespaces/team/resourcequotas', { apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'bad' }, spec: { hard: { pods: '1' }, scopes: ['Forever', 'BestEffort', 'NotBestEffort'] } });
    assert.equal(badScope.status, 422);
    assert.deepEqual([...new Set(badScope.body.details?.causes?.map((c) => `${c.field}: ${c.message}`))], [
      'spec.scopes: Invalid value: ["Forever","BestEffort","NotBestEffort"]: unsupported scope',
      'spec.scopes: Invalid value: ["Forever","BestEffort","NotBestEffort"]: conflicting scopes',
    ].map((m) => m.replace('["Forever","BestEffort","NotBestEffort"]', '[]string{"Forever", "BestEffort", "NotBestEffort"}')));
    const minOverMax = await post('/api/v1/namespaces/limited/limitranges', { apiVersion: 'v1', kind: 'LimitRange', metadata: { name: 'bad' }, spec: { limits: [{ type: 'Container', min: { cpu: '2' }, max: { cpu: '1' } }, { type: 'Pod', default: { cpu: '1' } }] } });
    assert.equal(minOverMax.status, 422);
    assert.deepEqual(minOverMax.body.details?.causes?.map((c) => `${c.field}: ${c.message}`), [
      'spec.limits[0].min[cpu]: Invalid value: 2: min value 2 is greater than max value 1',
      // defaulting made default = max = 1 and defaultRequest = default, before validation
      'spec.limits[0].defaultRequest[cpu]: Invalid value: 1: min value 2 is greater than default request value 1',
      'spec.limits[0].default[cpu]: Invalid value: 2: min value 2 is greater than default value 1',
      "spec.limits[1].default: Forbidden: may not be specified when `type` is 'Pod'",
    ]);
  });

  it('LimitRanger fills container defaults and refuses pods outside min/max with upstream messages', async () => {
    const lr = await post('/api/v1/namespaces/limited/limitranges', {
      apiVersion: 'v1',
      kind: 'LimitRange',
      metadata: { name: 'limits' },
      spec: { limits: [{ type: 'Container', max: { cpu: '1' }, min: { cpu: '50m' }, defaultRequest: { cpu: '100m', memory: '64Mi' }, default: { memory: '128Mi' } }, { type: 'Pod', max: { memory: '256Mi' } }] },
    });
    assert.equal(lr.status, 201, JSON.stringify(lr.body));
    const plain = await post<Pod>('/api/v1/namespaces/limited/pods', pod('plain'));
    assert.equal(plain.status, 201, JSON.stringify(plain.body));
    assert.deepEqual(plain.body.spec?.containers[0].resources, { limits: { cpu: '1', memory: '128Mi' }, requests: { cpu: '100m', memory: '64Mi' } });
    assert.equal(plain.body.metadata?.annotations?.['kubernetes.io/limit-ranger'], 'LimitRanger plugin set: cpu, memory request for container c; cpu, memory limit for container c');
    const big = await post('/api/v1/namespaces/limited/pods', pod('big', { limits: { cpu: '2' } }));
    assert.equal(big.status, 403);
    assert.equal(big.body.reason, 'Forbidden');
    assert.equal(big.body.message, 'pods "big" is forbidden: maximum cpu usage per Container is 1, but limit is 2');
    const small = await post('/api/v1/namespaces/limited/pods', pod('small', { requests: { cpu: '10m' }, limits: { memory: '300Mi' } }));
    assert.equal(small.status, 403);
    assert.equal(small.body.message, 'pods "small" is forbidden: [minimum cpu usage per Container is 50m, but request is 10m, maximum memory usage per Pod is 256Mi, but limit is 300Mi]');
  });

  it('charges pods against a quota; two concurrent creates with room for one: one passes, one gets the 403', async () => {
    const q = await post('/api/v1/namespaces/team/resourcequotas', { apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'q' }, spec: { hard: { pods: '1', 'requests.cpu': '1', 'limits.cpu': '2', configmaps: '5' } } });
    assert.equal(q.status, 201, JSON.stringify(q.body));
    assert.equal((q.body as ResourceQuota).status, undefined, 'usage is the controller\'s to report');
    await until(async () => (await used('team', 'q')).pods === '0', 'status computed');
    assert.deepEqual((await quota('team', 'q')).body.status?.hard, { configmaps: '5', 'limits.cpu': '2', pods: '1', 'requests.cpu': '1' });
    // the classic name counts one object per create
    assert.equal((await post('/api/v1/namespaces/team/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm' } })).status, 201);
    assert.equal((await used('team', 'q')).configmaps, '1');

    const bare = await post('/api/v1/namespaces/team/pods', pod('bare'));
    assert.equal(bare.status, 403);
    assert.equal(bare.body.message, 'pods "bare" is forbidden: failed quota: q: must specify limits.cpu for: c; requests.cpu for: c');

    const sized = { requests: { cpu: '500m' }, limits: { cpu: '1' } };
    const [a, b] = await Promise.all([post('/api/v1/namespaces/team/pods', pod('a', sized)), post('/api/v1/namespaces/team/pods', pod('b', sized))]);
    assert.deepEqual([a.status, b.status].sort(), [201, 403]);
    const refused = a.status === 403 ? a : b;
    const winner = a.status === 201 ? 'a' : 'b';
    assert.equal(refused.body.message, `pods "${a.status === 403 ? 'a' : 'b'}" is forbidden: exceeded quota: q, requested: pods=1, used: pods=1, limited: pods=1`);
    assert.deepEqual(await used('team', 'q'), { configmaps: '1', 'limits.cpu': '1', pods: '1', 'requests.cpu': '500m' });
    assert.equal((await t.json<{ items: unknown[] }>('/api/v1/namespaces/team/pods')).body.items.length, 1, 'the refused pod was not stored');

    // a dry run is checked but charges nothing
    const dry = await post(`/api/v1/namespaces/team/pods?dryRun=All`, pod('dry', sized));
    assert.equal(dry.status, 403);

    // the pod finishes: a terminal pod holds no compute resources, the controller gives them back
    const cur = (await t.json<Pod>(`/api/v1/namespaces/team/pods/${winner}`)).body;
    const fin = await t.json(`/api/v1/namespaces/team/pods/${winner}/status`, { method: 'PUT', headers: json, body: JSON.stringify({ ...cur, status: { phase: 'Succeeded' } }) });
    assert.equal(fin.status, 200, JSON.stringify(fin.body));
    await until(async () => (await used('team', 'q')).pods === '0', 'usage given back when the pod finished');
    assert.deepEqual(await used('team', 'q'), { configmaps: '1', 'limits.cpu': '0', pods: '0', 'requests.cpu': '0' });
    assert.equal((await post('/api/v1/namespaces/team/pods', pod('c', sized))).status, 201);
    // deleted: the controller recounts
    assert.equal((await t.json('/api/v1/namespaces/team/pods/c', { method: 'DELETE' })).status, 200);
    await until(async () => (await used('team', 'q')).pods === '0', 'usage given back when the pod was deleted');
  });

  it('scopes: a BestEffort quota counts only pods without requests or limits', async () => {
    const q = await post('/api/v1/namespaces/scoped/resourcequotas', { apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'besteffort' }, spec: { hard: { pods: '1' }, scopes: ['BestEffort'] } });
    assert.equal(q.status, 201, JSON.stringify(q.body));
    await until(async () => (await used('scoped', 'besteffort')).pods === '0', 'status computed');
    assert.equal((await post('/api/v1/namespaces/scoped/pods', pod('be1'))).status, 201);
    assert.equal((await post('/api/v1/namespaces/scoped/pods', pod('burstable', { requests: { cpu: '100m' } }))).status, 201, 'not BestEffort: not counted');
    const second = await post('/api/v1/namespaces/scoped/pods', pod('be2'));
    assert.equal(second.status, 403);
    assert.equal(second.body.message, 'pods "be2" is forbidden: exceeded quota: besteffort, requested: pods=1, used: pods=1, limited: pods=1');
  });
});
