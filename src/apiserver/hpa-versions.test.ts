import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { HorizontalPodAutoscaler as HpaV1 } from 'kubernetes-types/autoscaling/v1.js';
import type { HorizontalPodAutoscaler as HpaV2 } from 'kubernetes-types/autoscaling/v2.js';
import { HPA_METRICS_ANNOTATION } from '../api/builtin/autoscaling-v1.ts';
import { startTestServer, type TestServer } from './testing/test-server.ts';

interface StatusBody {
  kind?: string;
  code?: number;
  reason?: string;
  details?: { causes?: { field?: string; message?: string }[] };
}

const V1 = '/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers';
const V2 = '/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers';
const ref = { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' };
const memory = { type: 'Resource', resource: { name: 'memory', target: { type: 'AverageValue', averageValue: '200Mi' } } };
const cpu = (n: number) => ({ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: n } } });

describe('HorizontalPodAutoscaler at autoscaling/v1 beside the stored v2 (kubectl autoscale)', () => {
  let t: TestServer;
  const send = <T = StatusBody>(method: string, path: string, body: unknown, contentType = 'application/json') =>
    t.json<T>(path, { method, headers: { 'content-type': contentType }, body: JSON.stringify(body) });

  before(async () => {
    t = await startTestServer();
  });
  after(async () => {
    await t?.close();
  });

  it('discovery: both versions served, v2 preferred', async () => {
    const group = await t.json<{ versions: { version: string }[]; preferredVersion: { version: string } }>('/apis/autoscaling');
    assert.deepEqual(group.body.versions.map((v) => v.version), ['v2', 'v1']);
    assert.equal(group.body.preferredVersion.version, 'v2');
    const v1 = await t.json<{ resources: { name: string; kind: string }[] }>('/apis/autoscaling/v1');
    assert.deepEqual(v1.body.resources.map((r) => r.name).sort(), ['horizontalpodautoscalers', 'horizontalpodautoscalers/status']);
  });

  it('a v1 create is answered in v1, stored as v2 with its CPU target as a metric and v1 defaults', async () => {
    const created = await send<HpaV1>('POST', V1, { apiVersion: 'autoscaling/v1', kind: 'HorizontalPodAutoscaler', metadata: { name: 'a' }, spec: { scaleTargetRef: ref, maxReplicas: 4, targetCPUUtilizationPercentage: 55 } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.apiVersion, 'autoscaling/v1');
    assert.deepEqual(created.body.spec, { scaleTargetRef: ref, minReplicas: 1, maxReplicas: 4, targetCPUUtilizationPercentage: 55 });
    const stored = await t.json<HpaV2>(`${V2}/a`);
    assert.equal(stored.body.apiVersion, 'autoscaling/v2');
    assert.deepEqual(stored.body.spec?.metrics, [cpu(55)]);
    assert.equal(stored.body.metadata?.resourceVersion, created.body.metadata?.resourceVersion);
    const list = await t.json<{ apiVersion: string; kind: string; items: HpaV1[] }>(V1);
    assert.equal(list.body.kind, 'HorizontalPodAutoscalerList');
    assert.equal(list.body.apiVersion, 'autoscaling/v1');
    assert.deepEqual(list.body.items.map((i) => [i.apiVersion, i.spec?.targetCPUUtilizationPercentage]), [['autoscaling/v1', 55]]);
  });

  it("a v1 read-modify-write (PUT, merge patch) keeps the v2 object's other metrics and behavior", async () => {
    const behavior = { scaleDown: { stabilizationWindowSeconds: 60 } };
    const made = await send<HpaV2>('POST', V2, { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name: 'b' }, spec: { scaleTargetRef: ref, maxReplicas: 5, metrics: [memory, cpu(70)], behavior } });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const seen = await t.json<HpaV1>(`${V1}/b`);
    assert.equal(seen.body.spec?.targetCPUUtilizationPercentage, 70);
    assert.ok(seen.body.metadata?.annotations?.[HPA_METRICS_ANNOTATION]);
    const put = await send<HpaV1>('PUT', `${V1}/b`, { ...seen.body, spec: { ...seen.body.spec, maxReplicas: 8 } });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    let v2 = (await t.json<HpaV2>(`${V2}/b`)).body;
    assert.equal(v2.spec?.maxReplicas, 8);
    assert.deepEqual(v2.spec?.metrics, [memory, cpu(70)]);
    assert.deepEqual(v2.spec?.behavior, behavior);
    assert.equal(v2.metadata?.annotations, undefined);
    const patched = await send<HpaV1>('PATCH', `${V1}/b`, { spec: { targetCPUUtilizationPercentage: 30 } }, 'application/merge-patch+json');
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.equal(patched.body.spec?.targetCPUUtilizationPercentage, 30);
    v2 = (await t.json<HpaV2>(`${V2}/b`)).body;
    assert.deepEqual(v2.spec?.metrics, [memory, cpu(30)]);
  });

  it('a v1 watch sees a change written through v2 as a v1 object', async () => {
    const ac = new AbortController();
    const rv = (await t.json<{ metadata: { resourceVersion: string } }>(V1)).body.metadata.resourceVersion;
    const res = await t.request(`${V1}?watch=1&resourceVersion=${rv}`, { signal: ac.signal });
    const reader = res.body!.getReader();
    try {
      const cur = (await t.json<HpaV2>(`${V2}/a`)).body;
      const upd = await send<HpaV2>('PUT', `${V2}/a`, { ...cur, spec: { ...cur.spec, metrics: [cpu(65)] } });
      assert.equal(upd.status, 200, JSON.stringify(upd.body));
      let text = '';
      while (!text.includes('\n')) {
        const { value, done } = await reader.read();
        if (done) break;
        text += Buffer.from(value).toString('utf8');
      }
      const event = JSON.parse(text.split('\n')[0]!) as { type: string; object: HpaV1 };
      assert.equal(event.type, 'MODIFIED');
      assert.equal(event.object.apiVersion, 'autoscaling/v1');
      assert.equal(event.object.spec?.targetCPUUtilizationPercentage, 65);
    } finally {
      ac.abort();
      await reader.cancel().catch(() => undefined);
    }
  });

  it('bad v1 input is a 422 naming the field; a dry run stores nothing', async () => {
    const bad = await send('POST', V1, { apiVersion: 'autoscaling/v1', kind: 'HorizontalPodAutoscaler', metadata: { name: 'c' }, spec: { scaleTargetRef: ref, maxReplicas: 0 } });
    assert.equal(bad.status, 422);
    assert.ok(bad.body.details?.causes?.some((c) => c.field === 'spec.maxReplicas'), JSON.stringify(bad.body));
    const unknown = await send('POST', `${V1}?fieldValidation=Strict`, { apiVersion: 'autoscaling/v1', kind: 'HorizontalPodAutoscaler', metadata: { name: 'c' }, spec: { scaleTargetRef: ref, maxReplicas: 2, metrics: [] } });
    assert.equal(unknown.status, 400, JSON.stringify(unknown.body));
    const dry = await send<HpaV1>('POST', `${V1}?dryRun=All`, { apiVersion: 'autoscaling/v1', kind: 'HorizontalPodAutoscaler', metadata: { name: 'd' }, spec: { scaleTargetRef: ref, maxReplicas: 2 } });
    assert.equal(dry.status, 201, JSON.stringify(dry.body));
    assert.equal(dry.body.spec?.targetCPUUtilizationPercentage, 80);
    assert.equal((await t.json(`${V2}/d`)).status, 404);
  });
});
