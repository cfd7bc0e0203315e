import { Counter, Gauge, type Registry } from '../lib/prom.ts';
import type { LogShipper } from './shipper.ts';

/**
 * The shipper's figures as Prometheus metrics in `registry` (the node serves it on /metrics):
 * per sink, lines delivered and dropped and bytes not yet shipped; the buffer bound and its use.
 * Read at scrape time from the shipper's own counters, which persist across restarts.
 */
export function registerShipperMetrics(shipper: LogShipper, registry: Registry): void {
  new Counter({
    name: 'hedge_logship_lines_delivered_total',
    help: 'Container log lines a sink acknowledged (or took, for plain TCP/TLS syslog)',
    labelNames: ['sink'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [sink, s] of Object.entries(shipper.stats())) this.inc({ sink }, s.delivered);
    },
  });
  new Counter({
    name: 'hedge_logship_lines_dropped_total',
    help: 'Container log lines a sink will never get: evicted past --log-buffer-bytes, or refused by the collector',
    labelNames: ['sink'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [sink, s] of Object.entries(shipper.stats())) this.inc({ sink }, s.dropped);
    },
  });
  new Gauge({
    name: 'hedge_logship_lag_bytes',
    help: 'Bytes of container logs a sink has not shipped yet',
    labelNames: ['sink'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const [sink, s] of Object.entries(await shipper.lag())) this.set({ sink }, s.lagBytes);
    },
  });
  new Gauge({
    name: 'hedge_logship_sink_up',
    help: '1 when the last send to a sink succeeded, 0 while it fails',
    labelNames: ['sink'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [sink, s] of Object.entries(shipper.stats())) this.set({ sink }, s.lastError === undefined ? 1 : 0);
    },
  });
  new Gauge({
    name: 'hedge_logship_buffer_bytes',
    help: 'Bytes of log files kept only because a sink has not shipped them (rotated away or pod deleted)',
    registers: [registry],
    collect() {
      this.set(shipper.buffer().usedBytes);
    },
  });
  new Gauge({
    name: 'hedge_logship_buffer_limit_bytes',
    help: 'The bound on hedge_logship_buffer_bytes (--log-buffer-bytes); past it the oldest lines are dropped and counted',
    registers: [registry],
    collect() {
      this.set(shipper.buffer().limitBytes);
    },
  });
}
