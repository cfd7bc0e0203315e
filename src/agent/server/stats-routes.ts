/**
 * `/stats/summary` (the kubelet's Summary API JSON) and `/metrics/cadvisor` (Prometheus text with
 * cAdvisor's names), both from one pull of the StatsCollector. Registered as node-server routes:
 * same authentication as every other route.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { renderCadvisorMetrics } from '../stats/cadvisor-metrics.ts';
import type { StatsCollector } from '../stats/collector.ts';
import { toSummary } from '../stats/summary.ts';
import type { RouteHandler } from './node-server.ts';

/** aborted when the client goes away mid-scrape */
function requestSignal(res: ServerResponse): AbortSignal {
  const ac = new AbortController();
  res.once('close', () => ac.abort());
  return ac.signal;
}

export function statsRoutes(collector: StatsCollector): Map<string, RouteHandler> {
  const summary = async (_req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const body = JSON.stringify(toSummary(await collector.sample(requestSignal(res))));
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(body);
  };
  const cadvisor = async (_req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const { contentType, body } = await renderCadvisorMetrics(await collector.sample(requestSignal(res)));
    res.writeHead(200, { 'Content-Type': contentType });
    res.end(body);
  };
  return new Map<string, RouteHandler>([
    ['/stats/summary', summary],
    ['/stats/summary/', summary],
    ['/metrics/cadvisor', cadvisor],
  ]);
}
