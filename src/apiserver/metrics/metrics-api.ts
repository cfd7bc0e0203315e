/**
 * metrics.k8s.io/v1beta1 served by the apiserver itself, as metrics-server serves it: every
 * `resolutionMs` each Ready node's `/metrics/resource` is read through the NodeDialer (the node's
 * tunnel when it has one: the nodes/proxy path), kept in MetricsStorage, and NodeMetrics /
 * PodMetrics are answered from there (get, list, label selectors, namespaced pods) for `kubectl
 * top` and the HPA controller. Nodes that stop answering drop out after the staleness bound.
 */
import type { KubeObject } from '../../api/object.ts';
import { matches, parseSelector } from '../../api/labels/selector.ts';
import type { ResourceDef } from '../../api/resources/types.ts';
import { notFound } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import { forEachConcurrent } from '../../lib/concurrent.ts';
import { sleep } from '../../lib/sleep.ts';
import { timeoutSignal } from '../../lib/signals.ts';
import { sendJson } from '../handlers/respond.ts';
import type { RequestScope } from '../handlers/scope.ts';
import type { NodeDialer } from '../node-proxy/node-dialer.ts';
import type { ApiGroupProvider } from '../providers.ts';
import type { Registry } from '../registry/registry.ts';
import { statusErrors } from '../status.ts';
import { MetricsStorage, type Usage } from './metrics-storage.ts';
import { parseResourceMetrics } from './parse-resource-metrics.ts';

export const METRICS_GROUP = 'metrics.k8s.io';
const API_VERSION = `${METRICS_GROUP}/v1beta1`;
/** a scrape body larger than this is refused (a node with thousands of containers stays far below) */
const MAX_SCRAPE_BYTES = 16 * 1024 * 1024;
/** node scrapes in flight at once; a round over more nodes than this is also spread in time (below) */
const MAX_SCRAPES_IN_FLIGHT = 64;

export interface MetricsApiConfig {
  /** scrape period (metrics-server --metric-resolution), default 15 s */
  resolutionMs?: number;
  /** a node's figures are dropped this long after its last good scrape; default 2 × resolution + 10 s */
  staleAfterMs?: number;
  /** per node scrape timeout, default min(10 s, resolution) */
  scrapeTimeoutMs?: number;
  /**
   * a round over more than 64 nodes starts its scrapes evenly over this long instead of all at
   * once, so thousands of nodes cost the apiserver a steady trickle, not a burst every period
   * that stalls every other request; default half the resolution
   */
  scrapeSpreadMs?: number;
}

const metricsDef = (kind: string, plural: string, namespaced: boolean): ResourceDef => ({
  group: METRICS_GROUP,
  version: 'v1beta1',
  kind,
  listKind: `${kind}List`,
  plural,
  singular: '',
  shortNames: [],
  categories: [],
  namespaced,
  verbs: ['get', 'list'],
  subresources: [],
  hasStatus: false,
});

/** resource.NewScaledQuantity(n, -9) in canonical DecimalSI form: 1, 250m, 1500u, 123n */
export function formatCpu(nanoCores: number): string {
  const n = Math.max(0, Math.floor(nanoCores));
  if (n === 0) return '0';
  if (n % 1e9 === 0) return String(n / 1e9);
  if (n % 1e6 === 0) return `${n / 1e6}m`;
  if (n % 1e3 === 0) return `${n / 1e3}u`;
  return `${n}n`;
}

/** resource.NewQuantity(n, BinarySI) canonical form: 1Mi, 1536Ki, 1000001 */
export function formatBytes(bytes: number): string {
  let n = Math.max(0, Math.floor(bytes));
  if (n === 0) return '0';
  const suffixes = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'];
  let i = 0;
  while (i < suffixes.length - 1 && n % 1024 === 0) {
    n /= 1024;
    i++;
  }
  return `${n}${suffixes[i]}`;
}

/** Go's time.Duration.String(), which metav1.Duration marshals to: 15s, 15.003s, 1m0.5s, 500ms */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1000) return `${ms}ms`;
  const trim = (s: number): string => String(Number(s.toFixed(9)));
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = (ms % 60_000) / 1000;
  if (h > 0) return `${h}h${m}m${trim(s)}s`;
  if (m > 0) return `${m}m${trim(s)}s`;
  return `${trim(s)}s`;
}

const rfc3339 = (ms: number): string => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');

/** the fields of a Node the scrape loop reads: its name, its Ready condition, where its kubelet listens */
function scrapeView(node: KubeObject): KubeObject {
  const status = (node.status ?? {}) as { conditions?: { type?: string }[]; addresses?: unknown; daemonEndpoints?: unknown };
  return {
    apiVersion: node.apiVersion,
    kind: node.kind,
    metadata: { name: node.metadata.name, uid: node.metadata.uid, resourceVersion: node.metadata.resourceVersion },
    status: { conditions: status.conditions?.filter((c) => c.type === 'Ready'), addresses: status.addresses, daemonEndpoints: status.daemonEndpoints },
  };
}

function isReady(node: KubeObject): boolean {
  const conds = (node as { status?: { conditions?: { type?: string; status?: string }[] } }).status?.conditions ?? [];
  return conds.some((c) => c.type === 'Ready' && c.status === 'True');
}

export interface MetricsApi extends ApiGroupProvider {
  readonly storage: MetricsStorage;
  /** begin the scrape loop; it ends when `signal` aborts */
  start(deps: { registry: Registry; dialer: NodeDialer; signal: AbortSignal }): void;
  /** one scrape of every Ready node (the loop calls it; tests may too) */
  scrapeOnce(signal: AbortSignal): Promise<void>;
}

export function metricsApi(config: MetricsApiConfig & { logger: Logger; now?: () => number }): MetricsApi {
  const resolutionMs = config.resolutionMs ?? 15_000;
  const staleAfterMs = config.staleAfterMs ?? 2 * resolutionMs + 10_000;
  const scrapeTimeoutMs = config.scrapeTimeoutMs ?? Math.min(10_000, resolutionMs);
  const scrapeSpreadMs = config.scrapeSpreadMs ?? resolutionMs / 2;
  const now = config.now ?? Date.now;
  const log = config.logger;
  const storage = new MetricsStorage({ resolutionMs, staleAfterMs });
  const nodesDef = metricsDef('NodeMetrics', 'nodes', false);
  const podsDef = metricsDef('PodMetrics', 'pods', true);
  let deps: { registry: Registry; dialer: NodeDialer } | undefined;
  /** nodes whose last scrape failed: a failure is logged at warn when it starts, then at debug until the node answers again */
  const failing = new Set<string>();

  /** the stored objects of a kind as the codec's `peek` gives them: parses the decode cache does not keep (see scrapeViews) */
  const peeked = async (registry: Registry, plural: 'nodes' | 'pods', namespace?: string): Promise<{ key: string; rev: number; read: () => KubeObject }[]> => {
    const def = registry.resources.lookup('', 'v1', plural);
    if (!def) return [];
    const rs = registry.storeFor(def);
    const listed = await rs.list(namespace, {});
    return listed.items.map((kv) => ({ key: kv.key, rev: kv.modRevision, read: () => rs.codec.peek(kv) }));
  };
  /** read once per request */
  const objects = async (registry: Registry, plural: 'nodes' | 'pods', namespace?: string): Promise<KubeObject[]> => (await peeked(registry, plural, namespace)).map((o) => o.read());

  /**
   * What the scrape loop keeps of each Node, by key: the revision it read and `scrapeView` of it,
   * made once per revision from a parse the decode cache does not keep (`ObjectCodec.peek`): read
   * as `.obj`, every Node of a fleet stayed parsed there between its status reports (~100 objects
   * each), which every major GC of the apiserver marks.
   */
  const scrapeViews = new Map<string, { rev: number; node: KubeObject }>();
  const scrapeTargets = async (registry: Registry): Promise<KubeObject[]> => {
    const seen = new Set<string>();
    const nodes = (await peeked(registry, 'nodes')).map(({ key, rev, read }) => {
      seen.add(key);
      let v = scrapeViews.get(key);
      if (v?.rev !== rev) {
        v = { rev, node: scrapeView(read()) };
        scrapeViews.set(key, v);
      }
      return v.node;
    });
    for (const key of scrapeViews.keys()) if (!seen.has(key)) scrapeViews.delete(key);
    return nodes;
  };

  const object = async (registry: Registry, plural: 'nodes' | 'pods', namespace: string, name: string): Promise<KubeObject | undefined> => {
    const def = registry.resources.lookup('', 'v1', plural);
    return def ? (await registry.storeFor(def).tryGet(namespace, name))?.obj : undefined;
  };

  const readBody = async (body: AsyncIterable<unknown>): Promise<string> => {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of body) {
      const b = Buffer.isBuffer(c) ? c : Buffer.from(String(c));
      size += b.length;
      if (size > MAX_SCRAPE_BYTES) throw new Error(`scrape larger than ${MAX_SCRAPE_BYTES} bytes`);
      chunks.push(b);
    }
    return Buffer.concat(chunks).toString('utf8');
  };

  const scrapeFailed = (name: string, reason: string): void => {
    if (failing.has(name)) log.debug({ node: name, reason }, 'scraping resource metrics still fails');
    else log.warn({ node: name, reason }, 'scraping resource metrics failed');
    failing.add(name);
  };

  const scrapeNode = async (d: { dialer: NodeDialer }, node: KubeObject, signal: AbortSignal): Promise<void> => {
    const name = node.metadata.name ?? '';
    const timeout = timeoutSignal(signal, scrapeTimeoutMs);
    try {
      const resp = await d.dialer.request({ nodeName: name, node, method: 'GET', path: '/metrics/resource', headers: { accept: 'text/plain' }, signal: timeout });
      if (resp.kind === 'upgrade') {
        resp.socket.destroy();
        throw new Error('the node upgraded a scrape');
      }
      const text = await readBody(resp.body);
      if (resp.statusCode !== 200) throw new Error(`status ${resp.statusCode}: ${text.slice(0, 200)}`);
      const at = now();
      const scrape = parseResourceMetrics(text, at);
      if (scrape.scrapeError) log.debug({ node: name }, 'node reported scrape_error 1');
      storage.store(name, scrape, at);
      if (failing.delete(name)) log.info({ node: name }, 'scraping resource metrics works again');
    } catch (err) {
      if (signal.aborted) return;
      // the message, not the error: a stack per node per period is what made a fleet of
      // unreachable nodes expensive to log
      scrapeFailed(name, err instanceof Error ? err.message : String(err));
    } finally {
      timeout.clear();
    }
  };

  const scrapeOnce = async (signal: AbortSignal): Promise<void> => {
    if (!deps) return;
    const d = deps;
    const nodes = await scrapeTargets(d.registry);
    const names = new Set(nodes.map((n) => n.metadata.name ?? ''));
    storage.expire(now(), names);
    for (const name of failing) if (!names.has(name)) failing.delete(name);
    const ready: KubeObject[] = [];
    for (const node of nodes) {
      if (!isReady(node)) continue;
      // no tunnel and no address: nothing to dial, so no request, timer or error object per round
      const name = node.metadata.name ?? '';
      if (d.dialer.canReach?.(name, node) === false) scrapeFailed(name, 'the node has no tunnel and no address to dial');
      else ready.push(node);
    }
    // small clusters: all at once; large ones: at most 64 in flight, started evenly over the spread
    const gapMs = ready.length > MAX_SCRAPES_IN_FLIGHT ? scrapeSpreadMs / ready.length : 0;
    const began = now();
    await forEachConcurrent(
      ready,
      MAX_SCRAPES_IN_FLIGHT,
      async (node, i) => {
        const wait = began + i * gapMs - now();
        if (wait > 0) await sleep(wait, signal);
        if (!signal.aborted) await scrapeNode(d, node, signal);
      },
      signal,
    );
  };

  const nodeMetrics = (node: KubeObject, u: Usage): Record<string, unknown> => ({
    metadata: { name: node.metadata.name, creationTimestamp: rfc3339(now()), ...(node.metadata.labels ? { labels: node.metadata.labels } : {}) },
    timestamp: rfc3339(u.timestamp),
    window: formatDuration(u.windowMs),
    usage: { cpu: formatCpu(u.cpuNanoCores), memory: formatBytes(u.memoryBytes) },
  });

  const podMetrics = (pod: KubeObject): Record<string, unknown> | undefined => {
    const u = storage.podUsage(pod.metadata.namespace ?? '', pod.metadata.name ?? '', now());
    if (!u) return undefined;
    return {
      metadata: {
        name: pod.metadata.name,
        namespace: pod.metadata.namespace,
        creationTimestamp: rfc3339(now()),
        ...(pod.metadata.labels ? { labels: pod.metadata.labels } : {}),
      },
      timestamp: rfc3339(u.timestamp),
      window: formatDuration(u.windowMs),
      containers: u.containers.map((c) => ({ name: c.name, usage: { cpu: formatCpu(c.cpuNanoCores), memory: formatBytes(c.memoryBytes) } })),
    };
  };

  return {
    name: 'metrics',
    resources: [nodesDef, podsDef],
    storage,
    scrapeOnce,
    start(d) {
      deps = d;
      void (async () => {
        while (!d.signal.aborted) {
          const began = now();
          try {
            await scrapeOnce(d.signal);
          } catch (err) {
            if (!d.signal.aborted) log.warn({ err }, 'resource metrics scrape round failed');
          }
          await sleep(Math.max(0, resolutionMs - (now() - began)), d.signal);
        }
      })();
    },
    async serve(rq: RequestScope): Promise<void> {
      const verb = rq.info.verb;
      if ((verb !== 'get' && verb !== 'list') || rq.info.subresource !== '') throw statusErrors.methodNotAllowed(rq.req.method ?? '', rq.def.plural);
      const registry = rq.server.registry;
      const selector = parseSelector(rq.query.get('labelSelector') ?? '');
      const at = now();
      if (rq.def === nodesDef) {
        if (verb === 'get') {
          const node = await object(registry, 'nodes', '', rq.info.name);
          const u = node ? storage.nodeUsage(rq.info.name, at) : undefined;
          if (!node || !u) throw notFound('nodemetrics', rq.info.name, METRICS_GROUP);
          sendJson(rq.res, 200, { kind: 'NodeMetrics', apiVersion: API_VERSION, ...nodeMetrics(node, u) });
          return;
        }
        const items: Record<string, unknown>[] = [];
        for (const node of await objects(registry, 'nodes')) {
          if (!matches(selector, node.metadata.labels)) continue;
          const u = storage.nodeUsage(node.metadata.name ?? '', at);
          if (u) items.push(nodeMetrics(node, u));
        }
        sendJson(rq.res, 200, { kind: 'NodeMetricsList', apiVersion: API_VERSION, metadata: {}, items });
        return;
      }
      const ns = rq.info.namespace;
      if (verb === 'get') {
        const pod = await object(registry, 'pods', ns, rq.info.name);
        const m = pod ? podMetrics(pod) : undefined;
        if (!m) throw notFound('podmetrics', rq.info.name, METRICS_GROUP);
        sendJson(rq.res, 200, { kind: 'PodMetrics', apiVersion: API_VERSION, ...m });
        return;
      }
      const items: Record<string, unknown>[] = [];
      for (const pod of await objects(registry, 'pods', ns === '' ? undefined : ns)) {
        if (!matches(selector, pod.metadata.labels)) continue;
        const m = podMetrics(pod);
        if (m) items.push(m);
      }
      sendJson(rq.res, 200, { kind: 'PodMetricsList', apiVersion: API_VERSION, metadata: {}, items });
    },
  };
}
