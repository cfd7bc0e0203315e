import assert from 'node:assert/strict';
import { PassThrough, Readable } from 'node:stream';
import { pino } from 'pino';
import { after, before, describe, it } from 'node:test';
import type { NodeDialer, NodeRequest, NodeResponse } from '../node-proxy/node-dialer.ts';
import { startTestServer, type TestServer } from '../testing/test-server.ts';
import { formatBytes, formatCpu, formatDuration } from './metrics-api.ts';
import { MetricsStorage } from './metrics-storage.ts';
import { parseResourceMetrics } from './parse-resource-metrics.ts';

async function waitFor(probe: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    assert.ok(Date.now() < deadline, 'timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** what a node's /metrics/resource says, per node; a missing node fails like an unreachable one */
class FakeNodes implements NodeDialer {
  readonly bodies = new Map<string, string>();
  readonly seen: string[] = [];
  async request(r: NodeRequest): Promise<NodeResponse> {
    this.seen.push(`${r.nodeName}${r.path}`);
    const body = this.bodies.get(r.nodeName);
    if (body === undefined) throw new Error(`node ${r.nodeName} unreachable`);
    return { kind: 'response', statusCode: 200, headers: { 'content-type': 'text/plain' }, body: Readable.from([Buffer.from(body)]) };
  }
}

const resourceText = (o: { t: number; nodeCpu: number; nodeMem: number; pods: { ns: string; pod: string; c: string; cpu: number; mem: number }[] }): string =>
  [
    '# HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the container in core-seconds',
    '# TYPE container_cpu_usage_seconds_total counter',
    ...o.pods.map((p) => `container_cpu_usage_seconds_total{container="${p.c}",namespace="${p.ns}",pod="${p.pod}"} ${p.cpu} ${o.t}`),
    '# TYPE container_memory_working_set_bytes gauge',
    ...o.pods.map((p) => `container_memory_working_set_bytes{container="${p.c}",namespace="${p.ns}",pod="${p.pod}"} ${p.mem} ${o.t}`),
    '# TYPE node_cpu_usage_seconds_total counter',
    `node_cpu_usage_seconds_total ${o.nodeCpu} ${o.t}`,
    '# TYPE node_memory_working_set_bytes gauge',
    `node_memory_working_set_bytes ${o.nodeMem} ${o.t}`,
    '# TYPE scrape_error gauge',
    'scrape_error 0',
    '',
  ].join('\n');

describe('metrics scrape rounds over many nodes', () => {
  it('keeps at most 64 scrapes in flight, spreads a large round in time, skips a node it cannot dial, and logs a failing node once', async () => {
    const lines: { level: number; msg: string; node?: string }[] = [];
    const sink = new PassThrough();
    sink.on('data', (b: Buffer) => {
      for (const l of b.toString().split('\n')) if (l) lines.push(JSON.parse(l) as { level: number; msg: string; node?: string });
    });
    let inFlight = 0;
    let maxInFlight = 0;
    const starts: number[] = [];
    const dialer: NodeDialer = {
      canReach: (name) => name !== 'n-9',
      async request(r) {
        assert.notEqual(r.nodeName, 'n-9', 'a node without tunnel or address is not dialed');
        starts.push(Date.now());
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise((res) => setTimeout(res, 30));
        inFlight--;
        if (r.nodeName === 'n-7') throw new Error('node n-7 unreachable');
        return { kind: 'response', statusCode: 200, headers: {}, body: Readable.from([Buffer.from('node_cpu_usage_seconds_total 1 1\nnode_memory_working_set_bytes 1 1\n')]) };
      },
    };
    const t = await startTestServer({
      nodeDialer: dialer,
      logger: pino({ level: 'debug' }, sink),
      metrics: { resolutionMs: 3_600_000, staleAfterMs: 3_600_000, scrapeSpreadMs: 600 },
    });
    try {
      const n = 150;
      for (let i = 0; i < n; i++) {
        const r = await t.json('/api/v1/nodes', { method: 'POST', body: JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: `n-${i}` } }), headers: { 'content-type': 'application/json' } });
        assert.equal(r.status, 201);
        const s = await t.json(`/api/v1/nodes/n-${i}/status`, {
          method: 'PATCH',
          body: JSON.stringify({ status: { conditions: [{ type: 'Ready', status: 'True', reason: 'Test' }] } }),
          headers: { 'content-type': 'application/merge-patch+json' },
        });
        assert.equal(s.status, 200);
      }
      assert.ok(t.server.metrics);
      for (let round = 0; round < 2; round++) await t.server.metrics.scrapeOnce(AbortSignal.timeout(10_000));
      assert.equal(starts.length, 2 * (n - 1), 'every Ready node it can reach is scraped each round');
      assert.ok(maxInFlight <= 64, `at most 64 in flight, saw ${maxInFlight}`);
      const first = starts.slice(0, n);
      const span = Math.max(...first) - Math.min(...first);
      assert.ok(span >= 450, `a round over ${n} nodes starts its scrapes over ~600 ms, not at once (${span} ms)`);
      await new Promise((r) => setImmediate(r));
      const about = (msg: string): number => lines.filter((l) => l.node === 'n-7' && l.msg === msg).length;
      assert.equal(about('scraping resource metrics failed'), 1, 'warned once when it started failing');
      assert.equal(about('scraping resource metrics still fails'), 1, 'then at debug');
      const unreachable = lines.filter((l) => l.node === 'n-9').map((l) => l.msg);
      assert.deepEqual(unreachable, ['scraping resource metrics failed', 'scraping resource metrics still fails'], 'the undialable node too');
      assert.equal(lines.filter((l) => l.msg === 'scraping resource metrics failed').length, 2, 'no other node warned');
    } finally {
      await t.close();
    }
  });
});

describe('metrics.k8s.io', () => {
  let t: TestServer;
  const nodes = new FakeNodes();
  const post = async (path: string, body: unknown): Promise<void> => {
    const r = await t.json(path, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 201, JSON.stringify(r.body));
  };
  const ready = async (name: string, status: 'True' | 'False'): Promise<void> => {
    const r = await t.json(`/api/v1/nodes/${name}/status`, {
      method: 'PATCH',
      body: JSON.stringify({ status: { conditions: [{ type: 'Ready', status, reason: 'Test', lastHeartbeatTime: new Date().toISOString() }] } }),
      headers: { 'content-type': 'application/merge-patch+json' },
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
  };
  const scrape = async (): Promise<void> => {
    assert.ok(t.server.metrics);
    await t.server.metrics.scrapeOnce(AbortSignal.timeout(10_000));
  };

  before(async () => {
    t = await startTestServer({ nodeDialer: nodes, metrics: { resolutionMs: 3_600_000, staleAfterMs: 3_600_000 } });
    for (const [name, zone] of [['edge-1', 'a'], ['edge-2', 'b']]) {
      await post('/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { zone } } });
      await ready(name, 'True');
    }
    await post('/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'down' } });
    await ready('down', 'False');
    await post('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team' } });
    for (const [ns, name, app] of [['default', 'burner', 'burn'], ['default', 'idle', 'idle'], ['team', 'web', 'web']]) {
      await post(`/api/v1/namespaces/${ns}/pods`, { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns, labels: { app } }, spec: { containers: [{ name: 'main', image: 'busybox' }] } });
    }
  });
  after(async () => {
    await t.close();
  });

  it('is in discovery, so kubectl top finds it', async () => {
    const g = await t.json<{ groups: { name: string; versions: { version: string }[] }[] }>('/apis');
    const m = g.body.groups.find((x) => x.name === 'metrics.k8s.io');
    assert.deepEqual(m?.versions.map((v) => v.version), ['v1beta1']);
    const rl = await t.json<{ resources: { name: string; kind: string; namespaced: boolean; verbs: string[] }[] }>('/apis/metrics.k8s.io/v1beta1');
    assert.deepEqual(
      rl.body.resources.map((r) => [r.name, r.kind, r.namespaced, r.verbs]),
      [
        ['nodes', 'NodeMetrics', false, ['get', 'list']],
        ['pods', 'PodMetrics', true, ['get', 'list']],
      ],
    );
  });

  it('serves nothing before two samples, then the rate between them', async () => {
    const t0 = Date.parse('2026-12-03T10:00:00Z');
    nodes.bodies.set('edge-1', resourceText({ t: t0, nodeCpu: 100, nodeMem: 1 << 30, pods: [{ ns: 'default', pod: 'burner', c: 'main', cpu: 10, mem: 8 << 20 }, { ns: 'default', pod: 'idle', c: 'main', cpu: 1, mem: 1 << 20 }] }));
    nodes.bodies.set('edge-2', resourceText({ t: t0, nodeCpu: 50, nodeMem: 2 << 30, pods: [{ ns: 'team', pod: 'web', c: 'main', cpu: 3, mem: 3000 }] }));
    nodes.bodies.set('down', resourceText({ t: t0, nodeCpu: 1, nodeMem: 1, pods: [] }));
    await scrape();
    assert.deepEqual(nodes.seen.sort(), ['edge-1/metrics/resource', 'edge-2/metrics/resource'], 'only Ready nodes are scraped');
    assert.deepEqual((await t.json<{ items: unknown[] }>('/apis/metrics.k8s.io/v1beta1/nodes')).body.items, []);
    assert.equal((await t.json('/apis/metrics.k8s.io/v1beta1/nodes/edge-1')).status, 404);

    const t1 = t0 + 15_000;
    nodes.bodies.set('edge-1', resourceText({ t: t1, nodeCpu: 115, nodeMem: 1 << 30, pods: [{ ns: 'default', pod: 'burner', c: 'main', cpu: 25, mem: 9 << 20 }, { ns: 'default', pod: 'idle', c: 'main', cpu: 1, mem: 1 << 20 }] }));
    nodes.bodies.set('edge-2', resourceText({ t: t1 + 3, nodeCpu: 57.5, nodeMem: 2 << 30, pods: [{ ns: 'team', pod: 'web', c: 'main', cpu: 3.15, mem: 3000 }] }));
    await scrape();

    const n1 = await t.json<Record<string, unknown>>('/apis/metrics.k8s.io/v1beta1/nodes/edge-1');
    assert.equal(n1.status, 200);
    assert.equal(n1.body.kind, 'NodeMetrics');
    assert.equal(n1.body.apiVersion, 'metrics.k8s.io/v1beta1');
    assert.deepEqual(n1.body.usage, { cpu: '1', memory: '1Gi' });
    assert.equal(n1.body.timestamp, '2026-12-03T10:00:15Z');
    assert.equal(n1.body.window, '15s');
    assert.deepEqual((n1.body.metadata as { labels: unknown }).labels, { zone: 'a' });

    const list = await t.json<{ kind: string; items: { metadata: { name: string }; usage: { cpu: string }; window: string }[] }>('/apis/metrics.k8s.io/v1beta1/nodes');
    assert.equal(list.body.kind, 'NodeMetricsList');
    assert.deepEqual(list.body.items.map((i) => [i.metadata.name, i.usage.cpu, i.window]), [['edge-1', '1', '15s'], ['edge-2', '499900019n', '15.003s']]);
    const sel = await t.json<{ items: { metadata: { name: string } }[] }>('/apis/metrics.k8s.io/v1beta1/nodes?labelSelector=zone%3Db');
    assert.deepEqual(sel.body.items.map((i) => i.metadata.name), ['edge-2']);

    const pods = await t.json<{ kind: string; items: { metadata: { name: string; namespace: string }; containers: { name: string; usage: { cpu: string; memory: string } }[] }[] }>(
      '/apis/metrics.k8s.io/v1beta1/namespaces/default/pods',
    );
    assert.equal(pods.body.kind, 'PodMetricsList');
    assert.deepEqual(
      pods.body.items.map((p) => [p.metadata.name, p.containers]),
      [
        ['burner', [{ name: 'main', usage: { cpu: '1', memory: '9Mi' } }]],
        ['idle', [{ name: 'main', usage: { cpu: '0', memory: '1Mi' } }]],
      ],
    );
    const all = await t.json<{ items: { metadata: { name: string } }[] }>('/apis/metrics.k8s.io/v1beta1/pods');
    assert.deepEqual(all.body.items.map((p) => p.metadata.name).sort(), ['burner', 'idle', 'web']);
    const byLabel = await t.json<{ items: { metadata: { name: string } }[] }>('/apis/metrics.k8s.io/v1beta1/namespaces/default/pods?labelSelector=app%3Dburn');
    assert.deepEqual(byLabel.body.items.map((p) => p.metadata.name), ['burner']);
    const one = await t.json<Record<string, unknown>>('/apis/metrics.k8s.io/v1beta1/namespaces/team/pods/web');
    assert.equal(one.body.kind, 'PodMetrics');
    assert.deepEqual(one.body.containers, [{ name: 'main', usage: { cpu: '9998u', memory: '3000' } }], '0.15 s of CPU in 15.003 s');
    assert.equal((await t.json('/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/web')).status, 404, 'wrong namespace');
  });

  it('answers bad requests with 4xx Status', async () => {
    const bad = await t.json<{ kind: string; code: number }>('/apis/metrics.k8s.io/v1beta1/nodes?labelSelector=a%20in');
    assert.equal(bad.status, 400);
    assert.equal(bad.body.kind, 'Status');
    assert.equal((await t.json('/apis/metrics.k8s.io/v1beta1/nodes', { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })).status, 405);
    assert.equal((await t.json('/apis/metrics.k8s.io/v1beta1/nodes/nope')).status, 404);
    assert.equal((await t.json('/apis/metrics.k8s.io/v1beta1/nodes', { headers: { authorization: 'Bearer user-nobody' } })).status, 403);
  });

  it('lets whoever may view a namespace read its PodMetrics (the aggregated metrics reader role)', async () => {
    const path = '/apis/metrics.k8s.io/v1beta1/namespaces/team/pods';
    assert.equal((await t.json(path, { headers: { authorization: 'Bearer user-viewer' } })).status, 403);
    await post('/apis/rbac.authorization.k8s.io/v1/namespaces/team/rolebindings', {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'viewer', namespace: 'team' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'viewer' }],
    });
    await waitFor(async () => (await t.json(path, { headers: { authorization: 'Bearer user-viewer' } })).status === 200);
  });

  it("keeps no parse of a Node in the decode cache: neither the scrape, kubectl top's list nor the token validator's Node cache", async () => {
    await ready('edge-2', 'True');
    await scrape();
    assert.equal((await t.json('/apis/metrics.k8s.io/v1beta1/nodes')).status, 200);
    const { registry } = t.server;
    const def = registry.resources.lookup('', 'v1', 'nodes');
    assert.ok(def);
    const cached = registry.codec.latest(registry.storeFor(def).key('', 'edge-2'));
    assert.ok(cached, 'the status write is in the decode cache');
    // peek gives the kept parse if there is one: two different objects mean none was kept
    assert.notEqual(cached.peek(), cached.peek());
  });

  it('follows a node between rounds: Ready, NotReady, Ready again, deleted', async () => {
    const round = async (): Promise<boolean> => {
      nodes.seen.length = 0;
      await scrape();
      return nodes.seen.includes('down/metrics/resource');
    };
    await ready('down', 'True');
    assert.equal(await round(), true, 'scraped once Ready');
    await ready('down', 'False');
    assert.equal(await round(), false, 'not scraped once NotReady');
    await ready('down', 'True');
    assert.equal(await round(), true, 'scraped again');
    const del = await t.json('/api/v1/nodes/down', { method: 'DELETE' });
    assert.equal(del.status, 200);
    assert.equal(await round(), false, 'not scraped once deleted');
  });
});

describe('metrics storage', () => {
  const point = (t: number, cpu: number, mem: number, start?: number): string =>
    `container_cpu_usage_seconds_total{container="c",namespace="ns",pod="p"} ${cpu} ${t}\ncontainer_memory_working_set_bytes{container="c",namespace="ns",pod="p"} ${mem} ${t}\n` +
    (start === undefined ? '' : `container_start_time_seconds{container="c",namespace="ns",pod="p"} ${start / 1000} ${t}\n`) +
    `node_cpu_usage_seconds_total ${cpu * 2} ${t}\nnode_memory_working_set_bytes ${mem * 2} ${t}\n`;

  it('drops a node that stops answering after the staleness bound, never inventing figures', () => {
    const s = new MetricsStorage({ resolutionMs: 15_000, staleAfterMs: 40_000 });
    s.store('n', parseResourceMetrics(point(0, 0, 100), 0), 1_000);
    s.store('n', parseResourceMetrics(point(15_000, 3, 200), 0), 16_000);
    assert.equal(s.nodeUsage('n', 16_000)?.cpuNanoCores, 4e8);
    assert.equal(s.podUsage('ns', 'p', 16_000)?.containers[0]?.cpuNanoCores, 2e8);
    // no scrape since 16 s: still the last figures at 56 s, gone after
    assert.equal(s.nodeUsage('n', 56_000)?.memoryBytes, 400);
    assert.equal(s.nodeUsage('n', 56_001), undefined);
    assert.equal(s.podUsage('ns', 'p', 56_001), undefined);
    s.expire(56_001);
    assert.equal(s.nodeUsage('n', 16_000), undefined, 'expired for good');
  });

  it('rates a fresh container from its start, and starts over when its counter goes back', () => {
    const s = new MetricsStorage({ resolutionMs: 15_000, staleAfterMs: 40_000 });
    s.store('n', parseResourceMetrics(point(10_000, 5, 100, 0), 0), 10_000);
    assert.equal(s.podUsage('ns', 'p', 10_000)?.containers[0]?.cpuNanoCores, 5e8, 'started 10 s ago, 5 s of CPU');
    assert.equal(s.podUsage('ns', 'p', 10_000)?.windowMs, 10_000);
    s.store('n', parseResourceMetrics(point(100_000, 1, 100), 0), 100_000);
    assert.equal(s.podUsage('ns', 'p', 100_000), undefined, 'restarted without a start time: no rate yet');
    s.store('n', parseResourceMetrics(point(110_000, 2, 100), 0), 110_000);
    assert.equal(s.podUsage('ns', 'p', 110_000)?.containers[0]?.cpuNanoCores, 1e8);
  });

  it('refuses a malformed scrape whole', () => {
    assert.throws(() => parseResourceMetrics('node_cpu_usage_seconds_total{ 1\n', 0), { code: 'Invalid' });
    assert.throws(() => parseResourceMetrics('node_cpu_usage_seconds_total abc\n', 0), { code: 'Invalid' });
  });

  it('formats quantities and durations as Go does', () => {
    assert.deepEqual([0, 1e9, 2.5e8, 1.5e6, 123].map(formatCpu), ['0', '1', '250m', '1500u', '123n']);
    assert.deepEqual([0, 1024, 1536 * 1024, 1 << 30, 1000001].map(formatBytes), ['0', '1Ki', '1536Ki', '1Gi', '1000001']);
    assert.deepEqual([15_000, 15_003, 60_500, 500, 3_661_000].map(formatDuration), ['15s', '15.003s', '1m0.5s', '500ms', '1h1m1s']);
  });
});
