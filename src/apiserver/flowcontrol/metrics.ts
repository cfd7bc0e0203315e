import { Counter, Gauge, Histogram, type Registry } from '../../lib/prom.ts';
import type { RejectReason } from './queue-set.ts';

type Key = string;
const SEP = '\u0000';

/**
 * upstream's apiserver_flowcontrol_* metrics (the ones hedge has): the gauges are counted in plain
 * maps and read at scrape time, so a request pays two map updates, not label hashing.
 */
export class FlowControlMetrics {
  readonly #executing = new Map<Key, number>();
  readonly #inqueue = new Map<Key, number>();
  readonly #nominal = new Map<string, number>();
  readonly #limits = new Map<string, { current: number; lower: number; upper: number }>();
  readonly #rejected: Counter<'flow_schema' | 'priority_level' | 'reason'>;
  readonly #wait: Histogram<'flow_schema' | 'priority_level' | 'execute'>;

  constructor(registry: Registry) {
    const pairs = (m: Map<Key, number>, g: Gauge<'flow_schema' | 'priority_level'>): void => {
      g.reset();
      for (const [k, v] of m) {
        const [priority_level, flow_schema] = k.split(SEP) as [string, string];
        g.set({ priority_level, flow_schema }, v);
      }
    };
    const executing = this.#executing;
    const inqueue = this.#inqueue;
    const nominal = this.#nominal;
    const limits = this.#limits;
    const limitGauge = (name: string, help: string, pick: (l: { current: number; lower: number; upper: number }) => number): void => {
      new Gauge({
        name,
        help,
        labelNames: ['priority_level'],
        registers: [registry],
        collect() {
          this.reset();
          for (const [priority_level, l] of limits) this.set({ priority_level }, pick(l));
        },
      });
    };
    limitGauge('apiserver_flowcontrol_current_limit_seats', 'current derived number of execution seats available to each priority level', (l) => l.current);
    limitGauge('apiserver_flowcontrol_lower_limit_seats', 'Configured lower bound on number of execution seats available to each priority level', (l) => l.lower);
    limitGauge('apiserver_flowcontrol_upper_limit_seats', 'Configured upper bound on number of execution seats available to each priority level', (l) => l.upper);
    new Gauge({
      name: 'apiserver_flowcontrol_current_executing_requests',
      help: 'Number of requests in initial (for a WATCH) or any (for a non-WATCH) execution stage in the API Priority and Fairness subsystem',
      labelNames: ['priority_level', 'flow_schema'],
      registers: [registry],
      collect() {
        pairs(executing, this);
      },
    });
    new Gauge({
      name: 'apiserver_flowcontrol_current_inqueue_requests',
      help: 'Number of requests currently pending in queues of the API Priority and Fairness subsystem',
      labelNames: ['priority_level', 'flow_schema'],
      registers: [registry],
      collect() {
        pairs(inqueue, this);
      },
    });
    new Gauge({
      name: 'apiserver_flowcontrol_nominal_limit_seats',
      help: 'Nominal number of execution seats configured for each priority level',
      labelNames: ['priority_level'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [priority_level, v] of nominal) this.set({ priority_level }, v);
      },
    });
    this.#rejected = new Counter({
      name: 'apiserver_flowcontrol_rejected_requests_total',
      help: 'Number of requests rejected by API Priority and Fairness subsystem',
      labelNames: ['flow_schema', 'priority_level', 'reason'],
      registers: [registry],
    });
    this.#wait = new Histogram({
      name: 'apiserver_flowcontrol_request_wait_duration_seconds',
      help: 'Length of time a request spent waiting in its queue',
      labelNames: ['flow_schema', 'priority_level', 'execute'],
      buckets: [0, 0.005, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30],
      registers: [registry],
    });
  }

  static key(priorityLevel: string, flowSchema: string): Key {
    return priorityLevel + SEP + flowSchema;
  }

  executing(key: Key, delta: number): void {
    this.#executing.set(key, (this.#executing.get(key) ?? 0) + delta);
  }
  inqueue(key: Key, delta: number): void {
    this.#inqueue.set(key, (this.#inqueue.get(key) ?? 0) + delta);
  }
  waited(flowSchema: string, priorityLevel: string, seconds: number, executed: boolean): void {
    this.#wait.observe({ flow_schema: flowSchema, priority_level: priorityLevel, execute: executed ? 'true' : 'false' }, seconds);
  }
  rejected(flowSchema: string, priorityLevel: string, reason: RejectReason): void {
    this.#rejected.inc({ flow_schema: flowSchema, priority_level: priorityLevel, reason });
  }
  /** each Limited level's current (borrowing-adjusted) seats and its configured bounds */
  setLimits(limits: ReadonlyMap<string, { current: number; lower: number; upper: number }>): void {
    this.#limits.clear();
    for (const [k, v] of limits) this.#limits.set(k, v);
  }
  setNominal(limits: ReadonlyMap<string, number>): void {
    this.#nominal.clear();
    for (const [k, v] of limits) this.#nominal.set(k, v);
  }
}
