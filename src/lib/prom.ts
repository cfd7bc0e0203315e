/**
 * prom-client's Registry, Counter, Gauge and Histogram without the rest of the package: its index loads, eagerly,
 * the Pushgateway, the cluster aggregator, Summary's t-digest and every default metric, one of
 * which (process CPU, for exemplars) loads all of @opentelemetry/api: ~3.5 MiB resident in
 * `hedge node` for code it never runs. The classes are the package's own (same behaviour, types
 * from its index); prom-client has no `exports` map, so its lib/ files are importable.
 *
 * `collectProcessMetrics` stands for collectDefaultMetrics: the same metric names and values,
 * but for the two that need perf_hooks (nodejs_eventloop_lag_* through a delay histogram and
 * nodejs_gc_duration_seconds through a GC observer, ~2 MiB more resident).
 */
import { createRequire } from 'node:module';
import type * as Prom from 'prom-client';

const require = createRequire(import.meta.url);

export const Registry = require('prom-client/lib/registry') as typeof Prom.Registry;
export type Registry = Prom.Registry;
export const Counter = require('prom-client/lib/counter') as typeof Prom.Counter;
export type Counter<T extends string = string> = Prom.Counter<T>;
export const Gauge = require('prom-client/lib/gauge') as typeof Prom.Gauge;
export type Gauge<T extends string = string> = Prom.Gauge<T>;
export const Histogram = require('prom-client/lib/histogram') as typeof Prom.Histogram;
export type Histogram<T extends string = string> = Prom.Histogram<T>;

/** client_golang's ExponentialBuckets(start, factor, count), which upstream's histograms are declared with */
export function exponentialBuckets(start: number, factor: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => start * factor ** i);
}

type DefaultMetric = (registry: Registry, config: object) => void;
/** collectDefaultMetrics' set, in its order, but for process CPU (below), event-loop lag and GC */
const DEFAULTS = ['processStartTime', 'osMemoryHeap', 'processOpenFileDescriptors', 'processMaxFileDescriptors', 'processResources', 'processHandles', 'processRequests', 'heapSizeAndUsed', 'heapSpacesSizeAndUsed', 'version'];

/** process and Node.js metrics as collectDefaultMetrics registers them (see the header for the two left out) */
export function collectProcessMetrics(registry: Registry): void {
  // prom-client's process_cpu_* without its exemplar support (the @opentelemetry/api import)
  let last = process.cpuUsage();
  new Counter({
    name: 'process_cpu_user_seconds_total',
    help: 'Total user CPU time spent in seconds.',
    registers: [registry],
    // this one metric's collect sets all three, as prom-client's does
    collect() {
      const now = process.cpuUsage();
      this.inc((now.user - last.user) / 1e6);
      system.inc((now.system - last.system) / 1e6);
      total.inc((now.user - last.user + now.system - last.system) / 1e6);
      last = now;
    },
  });
  const system = new Counter({ name: 'process_cpu_system_seconds_total', help: 'Total system CPU time spent in seconds.', registers: [registry] });
  const total = new Counter({ name: 'process_cpu_seconds_total', help: 'Total user and system CPU time spent in seconds.', registers: [registry] });
  for (const name of DEFAULTS) (require(`prom-client/lib/metrics/${name}`) as DefaultMetric)(registry, {});
}
