/**
 * `/stats/summary` (the kubelet's Summary API JSON) and `/metrics/cadvisor` (Prometheus text with
 * cAdvisor's names), both from one pull of the StatsCollector. Registered as node-server routes:
 * same authentication as every other route.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { collectProcessMetrics, Registry } from '../../lib/prom.ts';
import { renderCadvisorMetrics } from '../stats/cadvisor-metrics.ts';
import type { StatsCollector } from '../stats/collector.ts';
import { renderResourceMetrics } from '../stats/resource-metrics.ts';
import { toSummary } from '../stats/summary.ts';
import type { RouteHandler } from './node-server.ts';

/** aborted when the client goes away mid-scrape */
function requestSignal(res: ServerResponse): AbortSignal {
  const ac = new AbortController();
  res.once('close', () => ac.abort());
  return ac.signal;
}

/**
 * `/stats/summary`, `/metrics/cadvisor`, `/metrics/resource` (what metrics-server scrapes) and
 * `/metrics` (this process: prom-client's default process and Node.js metrics, in a registry of
 * its own rather than the global one, plus `extraMetrics`, e.g. the log shipper's).
 */
export function statsRoutes(collector: StatsCollector, extraMetrics: readonly Registry[] = []): Map<string, RouteHandler> {
  const processRegistry = new Registry();
  collectProcessMetrics(processRegistry);
  const summary = async (_req: IncomingMessage, res: ServerResponse): Promise<void> => {
    // with the pods' ephemeral storage, from the cache the eviction manager shares (no walk per request)
    const body = JSON.stringify(toSummary(await collector.sample(requestSignal(res), 'full', { storage: true })));
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(body);
  };
  const cadvisor = async (_req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const { contentType, body } = await renderCadvisorMetrics(await collector.sample(requestSignal(res)));
    res.writeHead(200, { 'Content-Type': contentType });
    res.end(body);
  };
  const resource = async (_req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const signal = requestSignal(res);
    let out;
    try {
      // CPU and memory are all it reports: metrics-server scrapes it every 15 s (StatsScope)
      out = renderResourceMetrics(await collector.sample(signal, 'usage'));
    } catch (err) {
      if (signal.aborted) throw err;
      // as the kubelet: the scrape still answers, with scrape_error 1 and no figures
      out = renderResourceMetrics({ nodeName: '', node: { timestamp: new Date(), startTime: new Date() }, pods: [] }, { scrapeError: true });
    }
    res.writeHead(200, { 'Content-Type': out.contentType });
    res.end(out.body);
  };
  const processMetrics = async (_req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const registry = extraMetrics.length === 0 ? processRegistry : Registry.merge([processRegistry, ...extraMetrics]);
    const body = await registry.metrics();
    res.writeHead(200, { 'Content-Type': registry.contentType });
    res.end(body);
  };
  return new Map<string, RouteHandler>([
    ['/metrics/resource', resource],
    ['/metrics', processMetrics],
    ['/stats/summary', summary],
    ['/stats/summary/', summary],
    ['/metrics/cadvisor', cadvisor],
  ]);
}
