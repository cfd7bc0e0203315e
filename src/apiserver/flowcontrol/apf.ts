import type { ServerResponse } from 'node:http';
import type { Logger } from '../../lib/log.ts';
import type { UserInfo } from '../auth/types.ts';
import type { RequestInfo } from '../request-info.ts';
import { MANDATORY_FLOW_SCHEMAS, MANDATORY_PRIORITY_LEVELS, type FlowSchema, type FlowSchemaCondition, type PriorityLevelConfiguration } from './bootstrap.ts';
import { classify, distinguisher, sortFlowSchemas } from './classify.ts';
import { freeTicket, isLongRunning, tooManyRequests, type FlowGate, type Ticket } from './gate.ts';
import { FlowControlMetrics } from './metrics.ts';
import { isWaiting, QueueSet, Rejected, type Seat } from './queue-set.ts';
import type { Timers } from '../../lib/timers.ts';
import { hashFlow } from './shuffle-sharding.ts';

export const FLOW_SCHEMA_UID_HEADER = 'X-Kubernetes-PF-FlowSchema-UID';
export const PRIORITY_LEVEL_UID_HEADER = 'X-Kubernetes-PF-PriorityLevel-UID';

export interface PriorityAndFairnessOptions {
  /** --max-requests-inflight + --max-mutating-requests-inflight: the seats the Limited levels share */
  serverConcurrencyLimit: number;
  /** how long a request may wait in a queue before it is rejected (upstream: a share of the request timeout) */
  maxWaitMs: number;
  metrics?: FlowControlMetrics;
  clock?: Timers;
  logger?: Logger;
  /** Retry-After seconds of a rejection */
  retryAfterSeconds?: number;
}

interface Level {
  name: string;
  uid: string;
  exempt: boolean;
  /** Limited levels */
  set?: QueueSet;
}

interface Config {
  schemas: FlowSchema[];
  levels: Map<string, Level>;
}

/**
 * API Priority and Fairness (upstream's k8s.io/apiserver/pkg/util/flowcontrol): each request is
 * classified by the FlowSchemas (matchingPrecedence, then name) into a priority level; an Exempt
 * level runs at once, a Limited one gets its nominal share of the server's seats and queues the
 * rest (queue-set.ts). `setConfig` takes the stored FlowSchemas and PriorityLevelConfigurations
 * (the controller follows them); the mandatory ones stand in while missing from the store.
 */
export class PriorityAndFairness implements FlowGate {
  readonly #opts: PriorityAndFairnessOptions;
  readonly #metrics: FlowControlMetrics | undefined;
  #config: Config = { schemas: [], levels: new Map() };
  /** last limits, for tests and the nominal-limit metric */
  readonly nominalLimits = new Map<string, number>();

  constructor(opts: PriorityAndFairnessOptions) {
    this.#opts = opts;
    this.#metrics = opts.metrics;
    this.setConfig([], []);
  }

  /** the stored objects now: queue sets of levels that stay keep their waiting requests */
  setConfig(flowSchemas: readonly FlowSchema[], priorityLevels: readonly PriorityLevelConfiguration[]): void {
    const pls = new Map(priorityLevels.filter((p) => p.spec && p.metadata.name && !p.metadata.deletionTimestamp).map((p) => [p.metadata.name!, p]));
    for (const m of MANDATORY_PRIORITY_LEVELS) if (!pls.has(m.metadata.name!)) pls.set(m.metadata.name!, m);
    const fss = new Map(flowSchemas.filter((f) => f.spec && f.metadata.name && !f.metadata.deletionTimestamp).map((f) => [f.metadata.name!, f]));
    for (const m of MANDATORY_FLOW_SCHEMAS) if (!fss.has(m.metadata.name!)) fss.set(m.metadata.name!, m);
    // upstream's nominal concurrency limit: ceil(serverCL * NCS(l) / sum of all NCS)
    let sum = 0;
    for (const p of pls.values()) sum += shares(p);
    const old = this.#config.levels;
    const levels = new Map<string, Level>();
    this.nominalLimits.clear();
    for (const [name, p] of pls) {
      const uid = p.metadata.uid ?? '';
      if (p.spec.type !== 'Limited') {
        levels.set(name, { name, uid, exempt: true });
        continue;
      }
      const limit = sum > 0 ? Math.ceil((this.#opts.serverConcurrencyLimit * shares(p)) / sum) : 0;
      this.nominalLimits.set(name, limit);
      const lr = p.spec.limited?.limitResponse;
      const qc = { concurrencyLimit: limit, queuing: lr?.type === 'Queue' ? lr.queuing : undefined };
      let set = old.get(name)?.set;
      if (set) set.setConfig(qc);
      else set = new QueueSet(qc, { clock: this.#opts.clock, maxWaitMs: this.#opts.maxWaitMs });
      levels.set(name, { name, uid, exempt: false, set });
    }
    // a level that went away: its waiting requests still get seats (old set), none new arrive
    for (const [name, l] of old) if (!levels.has(name) && l.set) l.set.setConfig({ concurrencyLimit: l.set.concurrencyLimit, queuing: undefined });
    // a FlowSchema whose level is missing (dangling) is skipped, as upstream
    const schemas = sortFlowSchemas([...fss.values()].filter((f) => levels.has(f.spec.priorityLevelConfiguration?.name)));
    this.#config = { schemas, levels };
    this.#metrics?.setNominal(this.nominalLimits);
  }

  /** which FlowSchema and level a request falls in (no seat taken) */
  classify(user: UserInfo, info: RequestInfo): { flowSchema: FlowSchema; level: Level } {
    const { schemas, levels } = this.#config;
    const fs = classify(schemas, user, info) ?? MANDATORY_FLOW_SCHEMAS[1]!;
    const level = levels.get(fs.spec.priorityLevelConfiguration.name) ?? levels.get('catch-all')!;
    return { flowSchema: fs, level };
  }

  admit(user: UserInfo, info: RequestInfo, res: ServerResponse): Ticket | Promise<Ticket> {
    const { flowSchema, level } = this.classify(user, info);
    const fsName = flowSchema.metadata.name!;
    res.setHeader(FLOW_SCHEMA_UID_HEADER, flowSchema.metadata.uid ?? '');
    res.setHeader(PRIORITY_LEVEL_UID_HEADER, level.uid);
    // long-running requests are classified but hold no seat (their initialization is not waited for)
    if (level.exempt || !level.set || isLongRunning(info)) return freeTicket;
    const m = this.#metrics;
    const key = FlowControlMetrics.key(level.name, fsName);
    let got: Seat | ReturnType<QueueSet['acquire']>;
    try {
      got = level.set.acquire(() => hashFlow(fsName, distinguisher(flowSchema, user, info)));
    } catch (err) {
      if (!(err instanceof Rejected)) throw err;
      return this.#reject(fsName, level.name, err);
    }
    if (!isWaiting(got)) {
      m?.waited(fsName, level.name, 0, true);
      return this.#running(got, key);
    }
    m?.inqueue(key, 1);
    const waiting = got;
    const gone = (): void => waiting.cancel();
    res.once('close', gone);
    return waiting.seat.then(
      (seat) => {
        res.off('close', gone);
        m?.inqueue(key, -1);
        m?.waited(fsName, level.name, seat.waitedMs / 1000, true);
        return this.#running(seat, key);
      },
      (err: unknown) => {
        res.off('close', gone);
        m?.inqueue(key, -1);
        if (!(err instanceof Rejected)) throw err;
        m?.waited(fsName, level.name, this.#opts.maxWaitMs / 1000, false);
        return this.#reject(fsName, level.name, err);
      },
    );
  }

  /** the Dangling condition each FlowSchema should have (upstream's config controller writes them) */
  danglingCondition(fs: FlowSchema, priorityLevels: readonly PriorityLevelConfiguration[]): FlowSchemaCondition {
    const name = fs.spec?.priorityLevelConfiguration?.name ?? '';
    const found = priorityLevels.some((p) => p.metadata.name === name && !p.metadata.deletionTimestamp);
    return found
      ? { type: 'Dangling', status: 'False', reason: 'Found', message: 'This FlowSchema references an existing PriorityLevelConfiguration object' }
      : { type: 'Dangling', status: 'True', reason: 'NotFound', message: `This FlowSchema references the PriorityLevelConfiguration object named "${name}" but there is no such object` };
  }

  /** the level's queue set (tests, bench) */
  levelState(name: string): QueueSet | undefined {
    return this.#config.levels.get(name)?.set;
  }

  #running(seat: Seat, key: string): Ticket {
    const m = this.#metrics;
    m?.executing(key, 1);
    return {
      release() {
        m?.executing(key, -1);
        seat.release();
      },
    };
  }

  #reject(fsName: string, plName: string, err: Rejected): never {
    this.#metrics?.rejected(fsName, plName, err.reason);
    throw tooManyRequests(this.#opts.retryAfterSeconds ?? 1);
  }
}

function shares(p: PriorityLevelConfiguration): number {
  if (p.spec.type === 'Limited') return p.spec.limited?.nominalConcurrencyShares ?? 30;
  return p.spec.exempt?.nominalConcurrencyShares ?? 0;
}
