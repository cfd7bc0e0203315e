import type { IOptions, IKeyValue, IResponseHeader, Watcher } from 'etcd3';
import { HedgeError } from '../../lib/errors.ts';
import { silentLogger, type Logger } from '../../lib/log.ts';
import { assertValidKey, prefixEnd, storeClosedError } from '../key-range.ts';
import { storedBytes, valueOfBytes } from '../stored-bytes.ts';
import { EtcdClient } from './etcd-client.ts';
import { startCompactor } from './etcd-compactor.ts';
import { shardOf } from './event-ring.ts';
import { WatchFeed } from './watch-feed.ts';
import type {
  DeleteOptions,
  KeyValue,
  ListOptions,
  ListResult,
  Store,
  UpdateOptions,
  WatchEvent,
  WatchOptions,
  WriteOptions,
} from '../types.ts';

export interface EtcdStoreOptions {
  endpoints: string[];
  /** prepended to every key, so several clusters can share one etcd (e.g. '/hedge-a') */
  prefix?: string;
  tls?: { ca: Buffer; cert?: Buffer; key?: Buffer };
  logger?: Logger;
  /**
   * live events a watcher may buffer: beyond it a shared-feed watcher replays from the feed's
   * history, a direct one pauses its etcd watch (default 10,000)
   */
  watchQueueLimit?: number;
  /**
   * each resource's watch feed's history (its recent events), by count and by bytes (defaults
   * 10,000 events, 64 MiB per resource): a watch from an older revision than its resource's history
   * gets its own etcd watch, and a feed watcher that falls further behind than this gets Gone and
   * re-lists
   */
  watchHistoryEvents?: number;
  watchHistoryBytes?: number;
  /** false: every watch gets its own etcd watch, as before the shared feed (benchmarks; default true) */
  sharedWatch?: boolean;
  /**
   * a resource's feed without watchers for this long is stopped (default 60 s): after the
   * controllers' leadership moved to another apiserver, this one stops receiving their resources'
   * events (10,000 nodes' Lease renewals among them)
   */
  feedIdleMs?: number;
  /**
   * Compact etcd's history every interval to the revision seen one interval earlier, coordinated
   * with other apiservers on the same etcd as kube-apiserver does (default: off; `hedge server`: 5 min).
   */
  compactIntervalMs?: number;
}

/** What `status()` reports of the etcd member that answered. */
export interface EtcdStatus {
  version: string;
  revision: number;
  dbSizeBytes: number;
}

/** What `stats()` reports: how the store's watches are served. */
export interface EtcdStoreStats {
  /** etcd watches open now: the feeds' (one per resource watched) and the direct ones */
  etcdWatches: number;
  /** the resources (key prefixes) with a feed now */
  feeds: string[];
  /** watchers served by the shared feed, and by a watch of their own */
  feedWatchers: number;
  directWatchers: number;
  /** feeds started so far (one per resource, and a new one after etcd ended a resource's last) */
  feedStarts: number;
  /** times a feed's connection was lost and resumed */
  feedDisconnects: number;
  /** the feeds' history: events and bytes held, and the oldest revision they cover for every resource watched (0: no feed) */
  historyEvents: number;
  historyBytes: number;
  historyFrom: number;
}

/** Oldest etcd this store is tested against (Debian 12 ships 3.4.23). */
export const MIN_ETCD_VERSION = [3, 4] as const;

type ChangeEvent = Extract<WatchEvent, { type: 'put' | 'delete' }>;

const COMPACTED = 'required revision has been compacted';
/** a resource's key prefix, `/registry/<group>/<plural>/`: what one feed watches */
const FEED_DEPTH = 4;
/**
 * A new feed starts from its first watcher's revision (a LIST's, typically) when that is at most
 * this far behind the newest revision this client knows, so that watcher is inside its history;
 * from further back, etcd may have compacted it: the feed starts after the newest known revision.
 */
const FEED_BACKFILL = 10_000;
/** the largest answer (a LIST, a batch of watch events) the client accepts: as kube-apiserver's etcd client */
const MAX_RECEIVE_BYTES = 2 ** 31 - 1;
const FUTURE = 'required revision is a future revision';

/**
 * Store on etcd v3, for several apiservers sharing one cluster. Revisions are
 * etcd's global revision, so they start wherever etcd is (1 for a new cluster)
 * and also advance for writes outside `prefix`. All reads are linearizable.
 */
export class EtcdStore implements Store {
  private readonly client: EtcdClient;
  private readonly prefix: string;
  private readonly log: Logger;
  private readonly queueLimit: number;
  private closed = false;
  /** highest revision seen in any response; where a watch without fromRevision starts */
  private known = 0;
  /** compaction this client did or observed; etcd does not report it directly */
  private compacted = 0;
  /** the direct watches' stop functions */
  private readonly activeWatches = new Set<() => Promise<void>>();
  private readonly compactor: { stop(): void } | undefined;
  private readonly sharedWatch: boolean;
  private readonly historyEvents: number | undefined;
  private readonly historyBytes: number | undefined;
  /**
   * the watch feeds, one per resource prefix (`/registry/<group>/<plural>/`; a shorter watch
   * prefix has a feed of its own), each started by its resource's first watch and again after etcd
   * ended it
   */
  private readonly feeds = new Map<string, WatchFeed>();
  private feedStarts = 0;
  private feedDisconnects = 0;
  private feedWatchers = 0;
  private readonly feedIdleMs: number;
  /** watchers of each running feed, and the timer that stops a feed left without any */
  private readonly feedUsers = new Map<WatchFeed, { prefix: string; watchers: number; idle?: NodeJS.Timeout }>();
  /** direct watches started since the last log line about them, and when that was */
  private directStarts = 0;
  private directLoggedAt = 0;

  constructor(opts: EtcdStoreOptions) {
    this.prefix = opts.prefix ?? '';
    this.log = (opts.logger ?? silentLogger()).child({ component: 'store-etcd' });
    this.queueLimit = opts.watchQueueLimit ?? 10_000;
    this.sharedWatch = opts.sharedWatch ?? true;
    this.historyEvents = opts.watchHistoryEvents;
    this.historyBytes = opts.watchHistoryBytes;
    this.feedIdleMs = opts.feedIdleMs ?? 60_000;
    // grpc-js refuses answers over 4 MiB by default: a LIST of 5,000 nodes is more (kube-apiserver
    // lifts the limit to 2 GiB as well); etcd's own request limit still bounds each write
    // channelz (grpc-js's call and socket statistics, which nothing here reads) off: trackers per call
    const options: IOptions = { hosts: opts.endpoints, grpcOptions: { 'grpc.max_receive_message_length': MAX_RECEIVE_BYTES, 'grpc.enable_channelz': 0 } };
    if (opts.tls !== undefined) {
      options.credentials = { rootCertificate: opts.tls.ca, privateKey: opts.tls.key, certChain: opts.tls.cert };
    }
    this.client = new EtcdClient(options);
    if (opts.compactIntervalMs !== undefined && opts.compactIntervalMs > 0) {
      this.compactor = startCompactor(this.client, opts.compactIntervalMs, this.log);
    }
  }

  /**
   * Asks one member for its status within `timeoutMs`: Unavailable when no member answers,
   * Invalid when its version is older than MIN_ETCD_VERSION.
   */
  async status(opts: { timeoutMs?: number } = {}): Promise<EtcdStatus> {
    this.checkOpen();
    const timeoutMs = opts.timeoutMs ?? 5_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new HedgeError('Unavailable', `etcd: no member answered within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      const res = await Promise.race([this.call(() => this.client.maintenance.status({ deadline: Date.now() + timeoutMs })), timeout]);
      const [major = 0, minor = 0] = res.version.split('.').map(Number);
      if (major < MIN_ETCD_VERSION[0] || (major === MIN_ETCD_VERSION[0] && minor < MIN_ETCD_VERSION[1])) {
        throw new HedgeError('Invalid', `etcd ${res.version} is not supported: hedge needs etcd ${MIN_ETCD_VERSION.join('.')} or later`);
      }
      return { version: res.version, revision: Number(res.header.revision), dbSizeBytes: Number(res.dbSize) };
    } finally {
      clearTimeout(timer);
    }
  }

  async get(key: string, opts: { revision?: number; signal?: AbortSignal } = {}): Promise<KeyValue | undefined> {
    this.checkOpen(opts.signal);
    const res = await this.call(() =>
      this.client.fastRange({ key: Buffer.from(this.full(key)), revision: revisionArg(opts.revision) }),
    );
    const kv = res.kvs[0];
    return kv === undefined ? undefined : this.toKv(kv);
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    this.checkOpen(opts.signal);
    const fullPrefix = this.full(prefix);
    let start = fullPrefix;
    if (opts.startAfter !== undefined) {
      const after = this.full(opts.startAfter) + '\0';
      if (after > start) start = after;
    }
    // etcd needs a non-empty start key; '\0' is the first possible one.
    if (start === '') start = '\0';
    const end = rangeEnd(fullPrefix);
    const limit = opts.limit !== undefined && opts.limit > 0 ? opts.limit : 0;
    const res = await this.call(() =>
      this.client.fastRange({
        key: Buffer.from(start),
        range_end: end,
        limit,
        revision: revisionArg(opts.revision),
      }),
    );
    const items = res.kvs.map((kv) => this.toKv(kv));
    const revision = Number(res.header.revision);
    const remaining = res.more ? Number(res.count) - items.length : 0;
    return { items, revision: opts.revision !== undefined && opts.revision > 0 ? opts.revision : revision, more: res.more, remaining };
  }

  async count(prefix: string): Promise<number> {
    this.checkOpen();
    const fullPrefix = this.full(prefix);
    const res = await this.call(() =>
      this.client.fastRange({ key: Buffer.from(fullPrefix || '\0'), range_end: rangeEnd(fullPrefix), count_only: true }),
    );
    return Number(res.count);
  }

  async create(key: string, value: string, opts: WriteOptions = {}): Promise<KeyValue> {
    this.checkOpen(opts.signal);
    assertValidKey(key);
    const k = Buffer.from(this.full(key));
    const res = await this.call(() =>
      this.client.fastTxn({
        compare: [{ key: k, target: 'Create', result: 'Equal', create_revision: 0 }],
        success: [{ request_put: { key: k, value: storedBytes(value) } }],
      }),
    );
    if (!res.succeeded) throw new HedgeError('AlreadyExists', `key "${key}" already exists`);
    const rev = Number(res.header.revision);
    return { key, value, createRevision: rev, modRevision: rev };
  }

  async update(key: string, value: string, opts: UpdateOptions): Promise<KeyValue> {
    this.checkOpen(opts.signal);
    const k = Buffer.from(this.full(key));
    const res = await this.call(() =>
      this.client.fastTxn({
        compare: [{ key: k, target: 'Mod', result: 'Equal', mod_revision: opts.expectedRevision }],
        success: [{ request_put: { key: k, value: storedBytes(value), prev_kv: true } }],
        failure: [{ request_range: { key: k } }],
      }),
    );
    if (!res.succeeded) throw this.refusal(key, res.responses[0]?.response_range?.kvs[0], opts.expectedRevision);
    const prev = res.responses[0].response_put.prev_kv;
    return { key, value, createRevision: Number(prev.create_revision), modRevision: Number(res.header.revision) };
  }

  async delete(key: string, opts: DeleteOptions = {}): Promise<KeyValue> {
    this.checkOpen(opts.signal);
    const k = Buffer.from(this.full(key));
    const expected = opts.expectedRevision;
    // A key that exists always has mod_revision > 0, so "Greater than 0" means "exists".
    const compare =
      expected === undefined
        ? { key: k, target: 'Mod' as const, result: 'Greater' as const, mod_revision: 0 }
        : { key: k, target: 'Mod' as const, result: 'Equal' as const, mod_revision: expected };
    const res = await this.call(() =>
      this.client.fastTxn({
        compare: [compare],
        success: [{ request_delete_range: { key: k, prev_kv: true } }],
        failure: [{ request_range: { key: k } }],
      }),
    );
    const prev = res.succeeded ? res.responses[0]?.response_delete_range?.prev_kvs[0] : undefined;
    if (prev === undefined) throw this.refusal(key, res.responses[0]?.response_range?.kvs[0], expected ?? 0);
    return { ...this.toKv(prev), modRevision: Number(res.header.revision) };
  }

  watch(prefix: string, opts: WatchOptions): AsyncIterable<WatchEvent> {
    this.checkOpen();
    // Fixed now, not at the first next(): this client's writes after this call are delivered.
    const from = opts.fromRevision !== undefined && opts.fromRevision > 0 ? opts.fromRevision : this.known + 1;
    const feed = this.sharedFeed(shardOf(prefix, FEED_DEPTH), from);
    // The feed holds every event of the prefix's resource from its history's start on; an older
    // start needs etcd's own history.
    if (feed !== undefined && from >= feed.ring.coveredFor(prefix) && from > this.compacted) return this.runFeedWatch(feed, prefix, from, opts);
    if (feed !== undefined) this.noteDirect(prefix, from, feed);
    return this.runWatch(prefix, from, opts);
  }

  /**
   * Each direct watch is an etcd watch of its own, created one at a time on etcd's stream: many of
   * them (every node's pod watch resuming from outside the history) are what starved pod delivery
   * before the history was held per resource. Logged as a count, at most once per 10 s.
   */
  private noteDirect(prefix: string, from: number, feed: WatchFeed): void {
    this.directStarts++;
    const now = Date.now();
    if (now - this.directLoggedAt < 10_000) return;
    this.directLoggedAt = now;
    this.log.info(
      { started: this.directStarts, open: this.activeWatches.size + 1, prefix, from, historyFrom: feed.ring.coveredFor(prefix) },
      'watches from before their resource feed\'s history: etcd watches of their own',
    );
    this.directStarts = 0;
  }

  /** How the store's watches are served now. */
  stats(): EtcdStoreStats {
    const feeds = [...this.feeds.values()];
    const total = (f: (feed: WatchFeed) => number): number => feeds.reduce((n, feed) => n + f(feed), 0);
    return {
      etcdWatches: this.activeWatches.size + feeds.length,
      feeds: [...this.feeds.keys()],
      feedWatchers: this.feedWatchers,
      directWatchers: this.activeWatches.size,
      feedStarts: this.feedStarts,
      feedDisconnects: this.feedDisconnects + total((f) => f.disconnects),
      historyEvents: total((f) => f.ring.size),
      historyBytes: total((f) => f.ring.byteSize),
      historyFrom: feeds.reduce((n, f) => Math.max(n, f.ring.coveredFrom), 0),
    };
  }

  /**
   * The running feed of `feedPrefix`, or a new one. A feed watches one resource's prefix in etcd,
   * as kube-apiserver's watch cache keeps one etcd watch per resource: an apiserver receives and
   * decodes the events of the resources watched through it only (with two apiservers, the one not
   * running the controllers has no Lease watcher, and 10,000 nodes' renewals were a third of its
   * CPU while it held one watch on the whole keyspace). A new feed starts from the first watch's
   * revision when that is recent (see FEED_BACKFILL), otherwise after the newest revision this
   * client knows. Undefined before this client has seen any revision: etcd's might be compacted far
   * past 1.
   */
  private sharedFeed(feedPrefix: string, from: number): WatchFeed | undefined {
    if (!this.sharedWatch || this.known === 0) return undefined;
    const running = this.feeds.get(feedPrefix);
    if (running !== undefined) return running;
    const start = from > this.compacted && from <= this.known + 1 && this.known + 1 - from <= FEED_BACKFILL ? from : this.known + 1;
    this.feedStarts++;
    const feed: WatchFeed = new WatchFeed({
      client: this.client,
      fullPrefix: this.full(feedPrefix),
      start,
      toEvent: (type, kv, prev) => this.toEvent(type, kv, prev),
      failure: async (err, next) => {
        const error = await this.watchFailure(err, next);
        // a stale `known` would start the next feed inside the compacted range again
        await this.currentRevision().catch(() => undefined);
        return error;
      },
      onEnd: (ended) => this.dropFeed(feedPrefix, ended),
      queueLimit: this.queueLimit,
      ringEvents: this.historyEvents,
      ringBytes: this.historyBytes,
      log: this.log,
    });
    this.feeds.set(feedPrefix, feed);
    this.feedUsers.set(feed, { prefix: feedPrefix, watchers: 0 });
    // stopped if its first watch goes to etcd directly after all (from before the feed's start)
    this.useFeed(feed, 0);
    this.log.debug({ prefix: feedPrefix, start }, 'etcd watch feed started');
    return feed;
  }

  /** forgets a feed that ended (by itself, or idle) */
  private dropFeed(feedPrefix: string, feed: WatchFeed): void {
    clearTimeout(this.feedUsers.get(feed)?.idle);
    this.feedUsers.delete(feed);
    if (this.feeds.get(feedPrefix) !== feed) return;
    this.feeds.delete(feedPrefix);
    this.feedDisconnects += feed.disconnects;
  }

  /** counts a feed's watchers; one left without any for `feedIdleMs` is stopped */
  private useFeed(feed: WatchFeed, delta: 1 | 0 | -1): void {
    const users = this.feedUsers.get(feed);
    if (users === undefined) return;
    users.watchers += delta;
    clearTimeout(users.idle);
    users.idle = undefined;
    if (users.watchers > 0 || this.closed) return;
    users.idle = setTimeout(() => {
      if (users.watchers > 0) return;
      this.dropFeed(users.prefix, feed);
      this.log.debug({ prefix: users.prefix }, 'etcd watch feed stopped: no watchers');
      void feed.close();
    }, this.feedIdleMs);
    users.idle.unref();
  }

  /** settles once every feed started so far has its etcd watch (see WatchFeed.connected) */
  private async feedsConnected(): Promise<void> {
    await Promise.all([...this.feeds.values()].map((f) => f.connected));
  }

  /** A watcher served by the shared feed; a direct etcd watch if the feed ended before it began. */
  private async *runFeedWatch(feed: WatchFeed, prefix: string, from: number, opts: WatchOptions): AsyncGenerator<WatchEvent> {
    if (this.closed) return;
    if (feed.ended) {
      yield* this.runWatch(prefix, from, opts);
      return;
    }
    this.feedWatchers++;
    this.useFeed(feed, 1);
    try {
      for await (const ev of feed.hub.watch(prefix, { ...opts, fromRevision: from })) {
        // The feed may not have reached the revision this watch starts after (this client's own
        // write, say): a bookmark then says that revision, not the feed's older one.
        if (ev.type === 'progress' && ev.revision < from - 1) yield { type: 'progress', revision: Math.max(ev.revision, Math.min(from - 1, this.known)) };
        else yield ev;
      }
    } finally {
      this.feedWatchers--;
      this.useFeed(feed, -1);
    }
  }

  async currentRevision(): Promise<number> {
    this.checkOpen();
    const res = await this.call(() => this.client.fastRange({ key: Buffer.from(this.prefix + '\0'), count_only: true }));
    return Number(res.header.revision);
  }

  async compactedRevision(): Promise<number> {
    this.checkOpen();
    return this.compacted;
  }

  async compact(revision: number): Promise<void> {
    this.checkOpen();
    if (revision <= this.compacted) return;
    try {
      await this.call(() => this.client.kv.compact({ revision, physical: false }));
    } catch (err) {
      // etcd refuses to compact at or below its compacted revision; that state is what was asked for.
      if (!(err instanceof HedgeError && err.code === 'Gone')) throw err;
    }
    this.compacted = revision;
    // what this client compacted is gone from the feeds' history too, as from etcd's
    for (const feed of this.feeds.values()) feed.ring.trimTo(revision);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.compactor?.stop();
    for (const users of this.feedUsers.values()) clearTimeout(users.idle);
    this.feedUsers.clear();
    // Cancel etcd watches before closing the client, or etcd3 keeps reconnecting them.
    const feeds = [...this.feeds.values()];
    this.feeds.clear();
    await Promise.all([...this.activeWatches].map((end) => end()).concat(feeds.map((f) => f.close())));
    this.activeWatches.clear();
    this.client.close();
  }

  private async *runWatch(prefix: string, from: number, opts: WatchOptions): AsyncGenerator<WatchEvent> {
    const { signal } = opts;
    const interval = opts.progressIntervalMs ?? 0;
    if (signal.aborted) return;
    const fullPrefix = this.full(prefix);
    let queue: ChangeEvent[] = [];
    let failure: unknown;
    let ended = false;
    let wake: (() => void) | undefined;
    let watcher: Watcher | undefined;
    /** next revision the etcd watch must (re)start from */
    let next = from;
    /** no event for the prefix is undelivered up to here (from etcd progress notifications and events) */
    let safe = from - 1;
    let paused = false;
    const notify = (): void => {
      const w = wake;
      wake = undefined;
      w?.();
    };
    let pendingStart: Promise<void> = Promise.resolve();
    const stop = async (): Promise<void> => {
      const w = watcher;
      watcher = undefined;
      if (w === undefined) return;
      w.removeAllListeners();
      w.on('error', () => undefined);
      await w.cancel().catch(() => undefined);
    };
    const end = async (): Promise<void> => {
      ended = true;
      notify();
      await pendingStart.catch(() => undefined);
      await stop();
    };
    const start = async (): Promise<void> => {
      // see WatchFeed.connected
      await this.feedsConnected();
      if (ended || paused) return;
      const builder = this.client.watch().withPreviousKV().startRevision(String(next));
      const w = await (fullPrefix === '' ? builder.inRange({ start: '\0', end: '\0' }) : builder.prefix(fullPrefix)).create();
      if (ended || paused) {
        await w.cancel().catch(() => undefined);
        return;
      }
      watcher = w;
      w.on('data', (res) => {
        if (res.events.length === 0) {
          // A progress notification: etcd sends these only to watchers that are caught up.
          safe = Math.max(safe, Number(res.header.revision));
          return;
        }
        for (const ev of res.events) {
          // protobuf gives null, not undefined, for an absent prev_kv
          const converted = this.toEvent(ev.type, ev.kv, ev.prev_kv ?? undefined);
          queue.push(converted);
          next = converted.kv.modRevision + 1;
        }
        if (queue.length > this.queueLimit) {
          // Slow consumer: stop the etcd watch; it is restarted from `next` once the queue drains.
          paused = true;
          void stop();
        }
        notify();
      });
      w.on('error', (err) => {
        failure = err;
        // etcd3 has already dropped a watch it reports an error for: cancelling it again would send
        // etcd a cancel whose answer etcd3 cannot match to a watcher (it throws, uncaught)
        if (watcher === w) watcher = undefined;
        w.removeAllListeners();
        w.on('error', () => undefined);
        notify();
      });
    };
    const startOrFail = (): void => {
      pendingStart = start().catch((err: unknown) => {
        failure = err;
        notify();
      });
    };
    const onAbort = (): void => void end();
    this.activeWatches.add(end);
    signal.addEventListener('abort', onAbort, { once: true });
    let timer: NodeJS.Timeout | undefined;
    let lastYield = Date.now();
    startOrFail();
    try {
      for (;;) {
        if (signal.aborted || ended) return;
        const ev = queue.shift();
        if (ev !== undefined) {
          safe = Math.max(safe, ev.kv.modRevision);
          yield ev;
          lastYield = Date.now();
          continue;
        }
        if (failure !== undefined) throw await this.watchFailure(failure, next);
        if (paused) {
          paused = false;
          queue = [];
          startOrFail();
        }
        const progressDue = await new Promise<boolean>((resolve) => {
          wake = () => resolve(false);
          if (interval > 0) timer = setTimeout(() => resolve(true), Math.max(0, lastYield + interval - Date.now()));
        });
        wake = undefined;
        clearTimeout(timer);
        timer = undefined;
        if (progressDue && queue.length === 0 && failure === undefined && !signal.aborted && !ended) {
          yield { type: 'progress', revision: safe };
          lastYield = Date.now();
        }
      }
    } finally {
      clearTimeout(timer);
      this.activeWatches.delete(end);
      signal.removeEventListener('abort', onAbort);
      if (!this.closed) void end();
    }
  }

  /** A watch that etcd cancelled: Gone when its start revision was compacted away. */
  private async watchFailure(err: unknown, next: number): Promise<unknown> {
    if (this.closed) return storeClosedError();
    try {
      await this.call(() => this.client.fastRange({ key: Buffer.from(this.prefix + '\0'), revision: next, count_only: true }));
    } catch (probe) {
      if (probe instanceof HedgeError && probe.code === 'Gone') return probe;
    }
    this.log.warn({ err }, 'etcd watch failed');
    return new HedgeError('Unavailable', 'etcd watch failed', { cause: err });
  }

  private toEvent(type: string, kv: IKeyValue, prev: IKeyValue | undefined): ChangeEvent {
    const rev = Number(kv.mod_revision);
    if (type === 'Delete') {
      // etcd's delete event carries only the key; the deleted value comes from prev_kv.
      const base =
        prev === undefined
          ? { key: this.strip(kv.key), value: '', createRevision: 0, modRevision: rev }
          : { ...this.toKv(prev), modRevision: rev };
      return prev === undefined ? { type: 'delete', kv: base } : { type: 'delete', kv: base, prevKv: this.toKv(prev) };
    }
    const put = this.toKv(kv);
    return prev === undefined ? { type: 'put', kv: put } : { type: 'put', kv: put, prevKv: this.toKv(prev) };
  }

  private refusal(key: string, current: IKeyValue | undefined, expected: number): HedgeError {
    if (current === undefined) return new HedgeError('NotFound', `key "${key}" not found`);
    return new HedgeError(
      'Conflict',
      `key "${key}" was modified at revision ${current.mod_revision}, expected ${expected}`,
    );
  }

  /** Runs one etcd call, mapping its errors onto HedgeError and remembering the newest revision seen. */
  private async call<T extends { header: IResponseHeader }>(fn: () => Promise<T>): Promise<T> {
    let res: T;
    try {
      res = await fn();
    } catch (err) {
      throw this.mapError(err);
    }
    this.known = Math.max(this.known, Number(res.header.revision));
    return res;
  }

  private mapError(err: unknown): HedgeError {
    if (this.closed) return storeClosedError();
    const message = err instanceof Error ? err.message : String(err);
    if (message.includes(COMPACTED)) {
      return new HedgeError('Gone', `etcd: ${COMPACTED}`, { cause: err });
    }
    if (message.includes(FUTURE)) return new HedgeError('BadRequest', `etcd: ${FUTURE}`, { cause: err });
    return new HedgeError('Unavailable', `etcd: ${message}`, { cause: err });
  }

  private full(key: string): string {
    return this.prefix + key;
  }

  private strip(key: Buffer): string {
    return key.toString('utf8').slice(this.prefix.length);
  }

  private toKv(kv: IKeyValue): KeyValue {
    return {
      key: this.strip(kv.key),
      value: valueOfBytes(kv.value),
      createRevision: Number(kv.create_revision),
      modRevision: Number(kv.mod_revision),
    };
  }

  private checkOpen(signal?: AbortSignal): void {
    if (this.closed) throw storeClosedError();
    signal?.throwIfAborted();
  }
}

function revisionArg(revision: number | undefined): number {
  return revision !== undefined && revision > 0 ? revision : 0;
}

/** etcd range_end for a prefix; '\0' means "to the end of the keyspace" */
function rangeEnd(fullPrefix: string): Buffer {
  return Buffer.from(prefixEnd(fullPrefix) ?? '\0');
}
