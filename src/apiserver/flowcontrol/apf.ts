import type { ServerResponse } from 'node:http';
import type { Logger } from '../../lib/log.ts';
import type { UserInfo } from '../auth/types.ts';
import type { RequestInfo } from '../request-info.ts';
import { MANDATORY_FLOW_SCHEMAS, MANDATORY_PRIORITY_LEVELS, type FlowSchema, type FlowSchemaCondition, type PriorityLevelConfiguration } from './bootstrap.ts';
import { classify, distinguisher, sortFlowSchemas } from './classify.ts';
import { freeTicket, isLongRunning, tooManyRequests, type FlowGate, type Ticket } from './gate.ts';
import { FlowControlMetrics } from './metrics.ts';
import { isWaiting, QueueSet, Rejected, type Seat } from './queue-set.ts';
import { unrefTimers, type Timers } from '../../lib/timers.ts';
import { hashFlow } from './shuffle-sharding.ts';
import { BORROWING_ADJUSTMENT_PERIOD_MS, currentLimits, levelBounds, SeatDemandStats, type LevelBounds } from './borrowing.ts';
import { RetryAfterTracker } from './retry-after.ts';
import { estimateWork, maxSeatsOfLevel, type WorkEstimate } from './work-estimate.ts';
import { WatchTracker } from './watch-tracker.ts';

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
  /** stored objects of a resource type (object-counts.ts), for the LIST work estimate; absent = every LIST is one seat */
  objectCount?(group: string, resource: string): number | 'stale' | undefined;
  /** how often the Limited levels' current seats are adjusted by borrowing (upstream: 10 s); 0 = never (tests) */
  borrowingPeriodMs?: number;
}

interface Level {
  name: string;
  uid: string;
  exempt: boolean;
  /** Limited levels: their seats and queues; Exempt ones: an unlimited set, for the debug dumps */
  set?: QueueSet;
  bounds?: LevelBounds;
  stats?: SeatDemandStats;
  /** the most seats one request of the level is charged (upstream's MaxSeatsTracker) */
  maxSeats: number;
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
  readonly #watches = new WatchTracker();
  readonly #retryAfter: RetryAfterTracker;
  readonly #clock: Timers;
  #borrowTimer: unknown;
  #stopped = false;
  /** sets of levels that went away while requests still waited or ran in them (upstream's quiescing) */
  readonly #quiescing = new Map<string, QueueSet>();

  constructor(opts: PriorityAndFairnessOptions) {
    this.#opts = opts;
    this.#metrics = opts.metrics;
    this.#clock = opts.clock ?? unrefTimers;
    this.#retryAfter = new RetryAfterTracker(() => this.#clock.now());
    this.setConfig([], []);
    this.#scheduleBorrowing();
  }

  /** stops the periodic borrowing adjustment */
  close(): void {
    this.#stopped = true;
    this.#clock.clearTimeout(this.#borrowTimer);
  }

  #scheduleBorrowing(): void {
    const period = this.#opts.borrowingPeriodMs ?? BORROWING_ADJUSTMENT_PERIOD_MS;
    if (period <= 0 || this.#stopped) return;
    this.#borrowTimer = this.#clock.setTimeout(() => {
      try {
        this.updateBorrowing();
      } catch (err) {
        this.#opts.logger?.error({ err }, 'could not adjust the priority levels\' seats');
      }
      this.#scheduleBorrowing();
    }, period);
  }

  /**
   * upstream's updateBorrowing (borrowing.ts): each Limited level's seat demand over the last
   * period gives its new current limit, between nominal − lendable and nominal + borrowing limit,
   * all of them adding up to the sum of the nominal limits
   */
  updateBorrowing(): void {
    const levels = [...this.#config.levels.values()].filter((l) => l.set && l.bounds && l.stats);
    for (const l of levels) l.stats!.update(l.set!.demand.reset());
    const limits = currentLimits(levels.map((l) => ({ bounds: l.bounds!, stats: l.stats! })));
    levels.forEach((l, i) => l.set!.setLimit(limits[i]!));
    this.#publishLimits();
  }

  #publishLimits(): void {
    const m = this.#metrics;
    if (!m) return;
    const current = new Map<string, { current: number; lower: number; upper: number }>();
    for (const l of this.#config.levels.values()) if (l.set && l.bounds) current.set(l.name, { current: l.set.concurrencyLimit, lower: l.bounds.min, upper: l.bounds.max });
    m.setLimits(current);
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
      const prev = old.get(name);
      if (p.spec.type !== 'Limited') {
        const set = prev?.exempt && prev.set ? prev.set : new QueueSet({ concurrencyLimit: Infinity }, { clock: this.#clock, maxWaitMs: this.#opts.maxWaitMs });
        levels.set(name, { name, uid, exempt: true, set, maxSeats: 1 });
        continue;
      }
      const nominal = sum > 0 ? Math.ceil((this.#opts.serverConcurrencyLimit * shares(p)) / sum) : 0;
      this.nominalLimits.set(name, nominal);
      const lim = p.spec.limited;
      const lr = lim?.limitResponse;
      const queuing = lr?.type === 'Queue' ? lr.queuing : undefined;
      // an unset borrowingLimitPercent lets the level borrow up to the server's seats (upstream)
      const bounds = levelBounds(nominal, lim?.lendablePercent, lim?.borrowingLimitPercent, this.#opts.serverConcurrencyLimit);
      let set = prev && !prev.exempt ? prev.set : undefined;
      if (set) {
        // a level that stays keeps its current (borrowed or lent) seats within its new bounds
        set.setConfig({ concurrencyLimit: Math.max(bounds.min, Math.min(bounds.max, set.concurrencyLimit)), queuing });
      } else {
        // upstream's first current limit: nominal less half the lendable seats
        const initial = nominal - Math.floor((nominal - bounds.min) / 2);
        set = new QueueSet({ concurrencyLimit: initial, queuing }, { clock: this.#clock, maxWaitMs: this.#opts.maxWaitMs });
      }
      const maxSeats = maxSeatsOfLevel(nominal, queuing?.handSize);
      levels.set(name, { name, uid, exempt: false, set, bounds, stats: prev?.stats ?? new SeatDemandStats(), maxSeats });
    }
    // a level that went away: its waiting requests still get seats (old set), none new arrive
    for (const [name, l] of old) {
      if (levels.has(name) || !l.set) continue;
      l.set.setConfig({ concurrencyLimit: l.set.concurrencyLimit, queuing: undefined });
      if (!l.set.dump().idle) this.#quiescing.set(name, l.set);
    }
    for (const name of levels.keys()) this.#quiescing.delete(name);
    // a FlowSchema whose level is missing (dangling) is skipped, as upstream
    const schemas = sortFlowSchemas([...fss.values()].filter((f) => levels.has(f.spec.priorityLevelConfiguration?.name)));
    this.#config = { schemas, levels };
    this.#metrics?.setNominal(this.nominalLimits);
    this.#publishLimits();
  }

  /** which FlowSchema and level a request falls in (no seat taken) */
  classify(user: UserInfo, info: RequestInfo): { flowSchema: FlowSchema; level: Level } {
    const { schemas, levels } = this.#config;
    const fs = classify(schemas, user, info) ?? MANDATORY_FLOW_SCHEMAS[1]!;
    const level = levels.get(fs.spec.priorityLevelConfiguration.name) ?? levels.get('catch-all')!;
    return { flowSchema: fs, level };
  }

  /** the seats a request of `level` is charged (work-estimate.ts) */
  estimate(info: RequestInfo, query: URLSearchParams, maxSeats: number): WorkEstimate {
    const count = this.#opts.objectCount;
    return estimateWork(info, query, maxSeats, { objectCount: (g, r) => (count ? count(g, r) : undefined), watchCount: (i) => this.#watches.interested(i) });
  }

  admit(user: UserInfo, info: RequestInfo, res: ServerResponse, query: URLSearchParams = new URLSearchParams()): Ticket | Promise<Ticket> {
    const isWatch = info.verb === 'watch';
    // upstream skips long-running requests other than watches before classifying them: no seat, no headers
    if (!isWatch && isLongRunning(info)) return freeTicket;
    const { flowSchema, level } = this.classify(user, info);
    const fsName = flowSchema.metadata.name!;
    res.setHeader(FLOW_SCHEMA_UID_HEADER, flowSchema.metadata.uid ?? '');
    res.setHeader(PRIORITY_LEVEL_UID_HEADER, level.uid);
    // every watch counts for the mutating work estimate, whatever its level
    const forget = isWatch ? this.#watches.register(info) : undefined;
    const descr = { flowSchema: fsName, distinguisher: distinguisher(flowSchema, user, info), user: user.username, info };
    if (!level.set) return forget ? { release: forget } : freeTicket;
    if (level.exempt) {
      // never waits: held only so the dumps show it
      const seat = level.set.acquire(() => 0n, undefined, descr) as Seat;
      return { release: forget ? () => (seat.release(), forget()) : () => seat.release() };
    }
    const m = this.#metrics;
    const key = FlowControlMetrics.key(level.name, fsName);
    const work = this.estimate(info, query, level.maxSeats);
    let got: Seat | ReturnType<QueueSet['acquire']>;
    try {
      got = level.set.acquire(() => hashFlow(fsName, descr.distinguisher), work, descr);
    } catch (err) {
      forget?.();
      if (!(err instanceof Rejected)) throw err;
      return this.#reject(fsName, level.name, err);
    }
    if (!isWaiting(got)) {
      m?.waited(fsName, level.name, 0, true);
      return this.#running(got, key, forget);
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
        return this.#running(seat, key, forget);
      },
      (err: unknown) => {
        res.off('close', gone);
        m?.inqueue(key, -1);
        forget?.();
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

  /** every level's queue set with its name, by name, levels that went away but still hold requests last-seen included (dump.ts) */
  debugLevels(): { name: string; quiescing: boolean; set: QueueSet }[] {
    for (const [name, set] of this.#quiescing) if (set.dump().idle) this.#quiescing.delete(name);
    const out = [...this.#config.levels.values()].filter((l) => l.set).map((l) => ({ name: l.name, quiescing: false, set: l.set! }));
    for (const [name, set] of this.#quiescing) out.push({ name, quiescing: true, set });
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** the level's queue set (tests, bench) */
  levelState(name: string): QueueSet | undefined {
    return this.#config.levels.get(name)?.set;
  }

  /**
   * A request that got its seats. A watch (`forget` set) gives them back once its initial events
   * are sent (`initialized`, upstream's watch initialization signal), or at the latest when it ends.
   */
  #running(seat: Seat, key: string, forget?: () => void): Ticket {
    const m = this.#metrics;
    m?.executing(key, 1);
    let holding = true;
    const free = (): void => {
      if (!holding) return;
      holding = false;
      m?.executing(key, -1);
      seat.release();
    };
    if (!forget) return { release: free };
    return {
      initialized: free,
      release() {
        free();
        forget();
      },
    };
  }

  /** 429 with upstream's Retry-After: 1 s, growing while the level keeps rejecting (retry-after.ts) */
  #reject(fsName: string, plName: string, err: Rejected): never {
    this.#metrics?.rejected(fsName, plName, err.reason);
    this.#retryAfter.rejected(plName);
    throw tooManyRequests(this.#retryAfter.retryAfter(plName));
  }
}

function shares(p: PriorityLevelConfiguration): number {
  if (p.spec.type === 'Limited') return p.spec.limited?.nominalConcurrencyShares ?? 30;
  return p.spec.exempt?.nominalConcurrencyShares ?? 0;
}
