import { closeSync, fdatasync, fsyncSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { HedgeError } from '../../lib/errors.ts';
import { silentLogger, type Logger } from '../../lib/log.ts';
import {
  assertValidKey,
  compactedError,
  prefixEnd,
  resolveReadRevision,
  storeClosedError,
} from '../key-range.ts';
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
import { WatchHub, type ChangeEvent } from '../watch-hub.ts';
import { sqliteValue, valueOfSqlite } from '../stored-bytes.ts';
import { MAX_KEY, SCHEMA_SQL, SQL, type HistoryRow, type KvRow, type LogRow } from './schema.ts';

export interface SqliteStoreOptions {
  /** database file; its -wal and -shm files live beside it */
  path: string;
  /** automatic compaction keeps this many revisions of history (default 10,000; 0 = never compact automatically) */
  compactKeepRevisions?: number;
  /** how often automatic compaction and the WAL checkpoint run (default 60,000 ms; 0 = never) */
  compactIntervalMs?: number;
  logger?: Logger;
  /** live events a watcher may buffer before it falls back to replaying from the table (default 10,000) */
  watchQueueLimit?: number;
  /** most writes committed in one transaction (default 1,000) */
  maxBatch?: number;
  /** WAL bytes left on disk after a checkpoint resets it (journal_size_limit; default 64 MiB) */
  walSizeLimitBytes?: number;
  /** SQLite's page cache for this connection, KiB (cache_size; default SQLite's 2,000) */
  cacheKiB?: number;
  /**
   * Makes the WAL durable; called off the event loop after each group commit, and a write is
   * acknowledged (and published to watchers) only once it resolves. Default: fdatasync(2) on the
   * WAL file in libuv's thread pool. Tests pass their own to hold or fail the sync.
   */
  syncWal?: (fd: number) => Promise<void>;
  /**
   * Acknowledge writes and publish their watch events at commit, with the WAL's fdatasync still
   * run behind them (a failed one still stops the store). Only for a store whose contents can be
   * rebuilt from elsewhere after a power loss: the edgehub's replica (the cloud holds what it
   * mirrors, hub.db's journal the node's own writes). Default false: acknowledged = on disk.
   */
  acknowledgeAtCommit?: boolean;
}

export interface SqliteStoreStats {
  revision: number;
  compactedRevision: number;
  /** rows in the log table (history + current values) */
  rows: number;
  dbBytes: number;
  walBytes: number;
  watchers: number;
}

type WriteOp =
  | { kind: 'create'; key: string; value: string }
  | { kind: 'update'; key: string; value: string; expectedRevision: number }
  | { kind: 'delete'; key: string; expectedRevision?: number };

interface PendingWrite {
  op: WriteOp;
  signal: AbortSignal | undefined;
  resolve: (kv: KeyValue) => void;
  reject: (err: unknown) => void;
}

type Outcome = { ok: true; kv: KeyValue } | { ok: false; error: unknown };

/** a committed batch waiting for its WAL fsync before it is acknowledged and published */
interface Committed {
  batch: PendingWrite[];
  outcomes: Outcome[];
  events: ChangeEvent[];
}

const fdatasyncAsync = (fd: number): Promise<void> =>
  new Promise((resolve, reject) => fdatasync(fd, (err) => (err ? reject(err) : resolve())));

/**
 * Revisions compacted per transaction, so one compaction never blocks the event loop for long
 * (~40 ms for 1,000 of 10,000 Leases' renewals). Smaller chunks cost more in all: each commit
 * writes the pages its deletes touched, and a chunk's rows share fewer of them (250 a chunk: 1.5×
 * the CPU, bench/store-compaction.ts).
 */
const COMPACT_CHUNK = 1_000;
/** the share of the event loop the automatic compaction may take while it runs */
const MAINTENANCE_DUTY = 0.1;
const META_COMPACTED = 'compacted_revision';
/** set once `current` is known to mirror the log (absent in files from before the table existed) */
const META_CURRENT_BUILT = 'current_table_built';

/**
 * The default store: one SQLite file in WAL mode, owned by this process. Writes issued in the
 * same event-loop turn are group-committed in one transaction. SQLite itself does not fsync at
 * commit (synchronous=NORMAL); instead the WAL file is fdatasync'ed in libuv's thread pool, one
 * sync at a time covering every batch committed before it started, so the event loop never
 * blocks on the disk (fsync here: p50 2 ms, p99 60+ ms). Each write's promise settles, and its
 * watch event is published, only after that sync: an acknowledged write survives power loss.
 * A read may see a committed write up to one sync before it is acknowledged (see README.md).
 */
export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private readonly log: Logger;
  private readonly stmts: ReturnType<typeof prepareStatements>;
  private readonly hub: WatchHub;
  private readonly maxBatch: number;
  private readonly keepRevisions: number;
  private rev: number;
  private compacted: number;
  private pending: PendingWrite[] = [];
  private flushScheduled = false;
  private closed = false;
  private maintenanceTimer: NodeJS.Timeout | undefined;
  private compaction: Promise<void> = Promise.resolve();
  /** an automatic compaction is running (paced: it may take up to `maintenanceBudgetMs`) */
  private maintaining = false;
  private readonly maintenanceBudgetMs: number;
  private readonly syncWal: (fd: number) => Promise<void>;
  private readonly acknowledgeAtCommit: boolean;
  /** the WAL file, fsynced after commits; undefined for ':memory:' */
  private walFd: number | undefined;
  private awaitingSync: Committed[] = [];
  private syncing: Promise<void> | undefined;
  /** set when a WAL sync failed: committed data may not be durable, so the store stops */
  private failure: HedgeError | undefined;

  constructor(opts: SqliteStoreOptions) {
    this.log = (opts.logger ?? silentLogger()).child({ component: 'store-sqlite' });
    this.maxBatch = Math.max(1, opts.maxBatch ?? 1_000);
    this.keepRevisions = opts.compactKeepRevisions ?? 10_000;
    this.db = new Database(opts.path);
    try {
      const mode = this.db.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal' && opts.path !== ':memory:') {
        throw new HedgeError('Internal', `sqlite: cannot enable WAL on ${opts.path} (journal_mode=${String(mode)})`);
      }
      // NORMAL: SQLite does not fsync at commit (it still syncs around checkpoints); this class
      // fdatasyncs the WAL off the event loop before acknowledging, so durability is FULL's.
      this.db.pragma('synchronous = NORMAL');
      this.db.pragma('busy_timeout = 5000');
      if (opts.cacheKiB !== undefined) this.db.pragma(`cache_size = -${Math.max(64, Math.floor(opts.cacheKiB))}`);
      this.db.pragma(`journal_size_limit = ${Math.floor(opts.walSizeLimitBytes ?? 64 * 1024 * 1024)}`);
      this.db.exec(SCHEMA_SQL);
      this.stmts = prepareStatements(this.db);
      this.compacted = this.stmts.getMeta.get(META_COMPACTED)?.value ?? 0;
      if (this.stmts.getMeta.get(META_CURRENT_BUILT) === undefined) {
        this.db.transaction(() => {
          this.stmts.clearCurrent.run();
          this.stmts.rebuildCurrent.run();
          this.stmts.setMeta.run(META_CURRENT_BUILT, 1);
        })();
      }
      this.rev = Math.max(this.stmts.maxId.get()?.rev ?? 0, this.compacted);
      if (opts.path !== ':memory:' && opts.path !== '') {
        // SQLite keeps the -wal file (same inode) until the last connection closes; 'a' never writes.
        this.walFd = openSync(`${opts.path}-wal`, 'a');
        // the WAL's directory entry must be durable too (SQLite's own dirsync only covers rollback journals)
        const dirFd = openSync(dirname(opts.path), 'r');
        try {
          fsyncSync(dirFd);
        } finally {
          closeSync(dirFd);
        }
      }
    } catch (err) {
      if (this.walFd !== undefined) closeSync(this.walFd);
      this.db.close();
      throw err;
    }
    this.syncWal = opts.syncWal ?? fdatasyncAsync;
    this.acknowledgeAtCommit = opts.acknowledgeAtCommit ?? false;
    this.hub = new WatchHub({
      revision: this.rev,
      queueLimit: opts.watchQueueLimit,
      history: { readHistory: (prefix, from, to, limit) => this.readHistory(prefix, from, to, limit) },
    });
    const interval = opts.compactIntervalMs ?? 60_000;
    // a paced compaction ends within half its interval (or 30 s when run by hand)
    this.maintenanceBudgetMs = interval > 0 ? interval / 2 : 30_000;
    if (interval > 0) {
      this.maintenanceTimer = setInterval(() => {
        this.runMaintenance().catch((err: unknown) => this.log.error({ err }, 'store maintenance failed'));
      }, interval);
      this.maintenanceTimer.unref();
    }
    this.log.debug({ path: opts.path, revision: this.rev, compacted: this.compacted }, 'store opened');
  }

  async get(key: string, opts: { revision?: number; signal?: AbortSignal } = {}): Promise<KeyValue | undefined> {
    this.checkOpen(opts.signal);
    const at = resolveReadRevision(opts.revision, this.rev, this.compacted);
    const row = this.rowAt(key, at);
    return row === undefined ? undefined : toKv(row);
  }

  /** the live row holding `key`'s value at revision `at` (see KEYS_AT in schema.ts) */
  private rowAt(key: string, at: number): LogRow | undefined {
    // Reads run synchronously between commits, so at === this.rev means `current` is exactly that state.
    const next = at === this.rev ? undefined : this.stmts.firstAfter.get(at, key);
    if (next === undefined) return this.stmts.latest.get(key);
    return next.created === 1 ? undefined : this.stmts.byId.get(next.prev_revision);
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    this.checkOpen(opts.signal);
    const at = resolveReadRevision(opts.revision, this.rev, this.compacted);
    const hi = prefixEnd(prefix) ?? MAX_KEY;
    // NUL is not allowed in keys, so key+'\0' is the smallest key after `startAfter`.
    let lo = prefix;
    if (opts.startAfter !== undefined && opts.startAfter + '\0' > lo) lo = opts.startAfter + '\0';
    const limit = opts.limit !== undefined && opts.limit > 0 ? opts.limit : -1;
    // Reads run synchronously between commits, so at === this.rev means `current` is exactly that state.
    const latest = at === this.rev;
    const rows = latest
      ? this.stmts.listCurrent.all(lo, hi, limit > 0 ? limit + 1 : -1)
      : this.stmts.list.all({ lo, hi, at, limit: limit > 0 ? limit + 1 : -1 });
    if (limit > 0 && rows.length > limit) {
      const items = rows.slice(0, limit).map(toKv);
      const last = items[items.length - 1].key;
      const remaining = latest
        ? (this.stmts.countCurrent.get(last + '\0', hi)?.n ?? 0)
        : (this.stmts.count.get({ lo: last + '\0', hi, at })?.n ?? 0);
      return { items, revision: at, more: true, remaining };
    }
    return { items: rows.map(toKv), revision: at, more: false, remaining: 0 };
  }

  async count(prefix: string): Promise<number> {
    this.checkOpen();
    return this.stmts.countCurrent.get(prefix, prefixEnd(prefix) ?? MAX_KEY)?.n ?? 0;
  }

  create(key: string, value: string, opts: WriteOptions = {}): Promise<KeyValue> {
    return this.enqueue({ kind: 'create', key, value }, opts.signal);
  }

  update(key: string, value: string, opts: UpdateOptions): Promise<KeyValue> {
    return this.enqueue({ kind: 'update', key, value, expectedRevision: opts.expectedRevision }, opts.signal);
  }

  delete(key: string, opts: DeleteOptions = {}): Promise<KeyValue> {
    return this.enqueue({ kind: 'delete', key, expectedRevision: opts.expectedRevision }, opts.signal);
  }

  watch(prefix: string, opts: WatchOptions): AsyncIterable<WatchEvent> {
    this.checkOpen();
    return this.hub.watch(prefix, opts);
  }

  async currentRevision(): Promise<number> {
    this.checkOpen();
    return this.rev;
  }

  async compactedRevision(): Promise<number> {
    this.checkOpen();
    return this.compacted;
  }

  compact(revision: number): Promise<void> {
    this.checkOpen();
    if (revision > this.rev) {
      return Promise.reject(
        new HedgeError('BadRequest', `cannot compact to future revision ${revision} (current ${this.rev})`),
      );
    }
    const run = this.compaction.then(() => this.compactTo(revision));
    this.compaction = run.catch(() => undefined);
    return run;
  }

  /**
   * Automatic compaction (keeping `compactKeepRevisions`) followed by a WAL checkpoint that
   * truncates the file. The compaction is paced: each chunk is followed by a pause nine times its
   * length, so it takes at most a tenth of the event loop while it runs, unless that would make it
   * outlast half the maintenance interval (then the pauses shrink). Unpaced, a minute of
   * 10,000 nodes' Lease renewals (60,000 revisions) was ~1 s of the loop in one go, every minute
   * (bench/fleet.ts with --server-prof; bench/store-compaction.ts).
   */
  async runMaintenance(): Promise<void> {
    if (this.closed || this.maintaining) return;
    this.maintaining = true;
    try {
      if (this.keepRevisions > 0 && this.rev - this.keepRevisions > this.compacted) {
        const revision = this.rev - this.keepRevisions;
        const deadline = performance.now() + this.maintenanceBudgetMs;
        const run = this.compaction.then(() => this.compactTo(revision, { duty: MAINTENANCE_DUTY, deadline }));
        this.compaction = run.catch(() => undefined);
        await run;
      }
      if (this.closed) return;
      // No other connection reads this file, so TRUNCATE never has to wait for readers.
      this.db.pragma('wal_checkpoint(TRUNCATE)');
    } finally {
      this.maintaining = false;
    }
  }

  stats(): SqliteStoreStats {
    this.checkOpen();
    const file = this.db.name;
    return {
      revision: this.rev,
      compactedRevision: this.compacted,
      rows: this.stmts.rowCount.get()?.n ?? 0,
      dbBytes: fileSize(file),
      walBytes: fileSize(`${file}-wal`),
      watchers: this.hub.watcherCount,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    clearInterval(this.maintenanceTimer);
    this.maintenanceTimer = undefined;
    // Writes already accepted are committed and synced, not dropped.
    while (this.pending.length > 0) this.flush();
    this.closed = true;
    while (this.syncing) await this.syncing;
    await this.compaction;
    this.hub.closeAll();
    this.db.close();
    if (this.walFd !== undefined) closeSync(this.walFd);
    this.walFd = undefined;
    this.log.debug({ revision: this.rev }, 'store closed');
  }

  private enqueue(op: WriteOp, signal: AbortSignal | undefined): Promise<KeyValue> {
    try {
      this.checkOpen(signal);
      if (op.kind === 'create') assertValidKey(op.key);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<KeyValue>((resolve, reject) => {
      this.pending.push({ op, signal, resolve, reject });
      this.scheduleFlush();
    });
  }

  /**
   * A group commit of the queued writes after this event-loop turn: setImmediate runs after the
   * turn's microtasks, so every write issued in it (e.g. by many awaiting callers resumed at once)
   * joins the batch.
   */
  private scheduleFlush(): void {
    if (this.flushScheduled || this.pending.length === 0) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** One group commit: applies up to maxBatch queued writes in a single transaction. */
  private flush(): void {
    const batch = this.pending.splice(0, this.maxBatch);
    this.scheduleFlush();
    if (batch.length === 0 || this.closed || this.failure) {
      for (const w of batch) w.reject(this.failure ?? storeClosedError());
      return;
    }
    const outcomes: Outcome[] = [];
    const events: ChangeEvent[] = [];
    let rev = this.rev;
    try {
      this.stmts.begin.run();
      for (const w of batch) {
        if (w.signal?.aborted) {
          outcomes.push({ ok: false, error: w.signal.reason });
          continue;
        }
        const result = this.apply(w.op, rev + 1);
        if (result instanceof HedgeError) {
          outcomes.push({ ok: false, error: result });
          continue;
        }
        rev++;
        events.push(result);
        outcomes.push({ ok: true, kv: result.kv });
      }
      this.stmts.commit.run();
    } catch (err) {
      if (this.db.inTransaction) this.stmts.rollback.run();
      this.log.error({ err, batch: batch.length }, 'group commit failed');
      const error = new HedgeError('Internal', 'storage write failed', { cause: err });
      for (const w of batch) w.reject(error);
      return;
    }
    this.rev = rev;
    if (this.walFd === undefined || this.acknowledgeAtCommit) {
      settle({ batch, outcomes, events }, this.hub);
      // the sync still runs (and a failed one still stops the store); nothing waits for it
      if (this.walFd !== undefined && events.length > 0) this.awaitingSync.push({ batch: [], outcomes: [], events: [] });
    } else {
      this.awaitingSync.push({ batch, outcomes, events });
    }
    // (only with a WAL: the loop's first step is an await, so it is still running when assigned)
    if (this.awaitingSync.length > 0) this.syncing ??= this.syncLoop();
  }

  /**
   * One WAL sync at a time; each covers every batch committed before it started (group commit
   * over the sync's duration). Then, in revision order, events are published and writes settle.
   * The hub's revision trails `rev` meanwhile: watch catch-up reads history only up to the hub's
   * revision, so the synced-but-unpublished rows are delivered live, once, after the sync.
   */
  private async syncLoop(): Promise<void> {
    try {
      while (this.awaitingSync.length > 0) {
        const done = this.awaitingSync;
        this.awaitingSync = [];
        try {
          if (this.walFd !== undefined) await this.syncWal(this.walFd);
        } catch (err) {
          this.fail(err, done);
          return;
        }
        for (const c of done) settle(c, this.hub);
      }
    } finally {
      this.syncing = undefined;
    }
  }

  /** A failed fsync leaves the WAL's durability unknown (fsyncgate): refuse everything from now on. */
  private fail(err: unknown, done: Committed[]): void {
    this.failure = new HedgeError('Unavailable', 'storage sync failed; the store stopped accepting writes', { cause: err });
    this.log.error({ err }, 'WAL fsync failed: store stopped');
    for (const c of [...done, ...this.awaitingSync]) for (const w of c.batch) w.reject(this.failure);
    this.awaitingSync = [];
    for (const w of this.pending.splice(0)) w.reject(this.failure);
    this.hub.closeAll();
  }

  /** Applies one write inside the open transaction; returns its event, or the error that refuses it. */
  private apply(op: WriteOp, rev: number): ChangeEvent | HedgeError {
    const row = this.stmts.latest.get(op.key);
    const current = row === undefined ? undefined : toKv(row);
    switch (op.kind) {
      case 'create': {
        if (current !== undefined) return new HedgeError('AlreadyExists', `key "${op.key}" already exists`);
        // a create supersedes no live row (a tombstone before it is compacted on its own)
        this.stmts.insert.run(rev, op.key, 1, 0, rev, 0, sqliteValue(op.value));
        this.stmts.setCurrent.run(op.key, rev);
        return { type: 'put', kv: { key: op.key, value: op.value, createRevision: rev, modRevision: rev } };
      }
      case 'update': {
        if (current === undefined) return new HedgeError('NotFound', `key "${op.key}" not found`);
        if (current.modRevision !== op.expectedRevision) return conflictError(op.key, current, op.expectedRevision);
        this.stmts.insert.run(rev, op.key, 0, 0, current.createRevision, current.modRevision, sqliteValue(op.value));
        this.stmts.setCurrent.run(op.key, rev);
        const kv = { key: op.key, value: op.value, createRevision: current.createRevision, modRevision: rev };
        return { type: 'put', kv, prevKv: current };
      }
      case 'delete': {
        if (current === undefined) return new HedgeError('NotFound', `key "${op.key}" not found`);
        if (op.expectedRevision !== undefined && current.modRevision !== op.expectedRevision) {
          return conflictError(op.key, current, op.expectedRevision);
        }
        this.stmts.insert.run(rev, op.key, 0, 1, current.createRevision, current.modRevision, sqliteValue(current.value));
        this.stmts.deleteCurrent.run(op.key);
        return { type: 'delete', kv: { ...current, modRevision: rev }, prevKv: current };
      }
      default: {
        const never: never = op;
        throw new Error(`unknown write ${JSON.stringify(never)}`);
      }
    }
  }

  /**
   * `pace`: the share of the event loop the compaction may take (`duty`; without it, one turn
   * between chunks), but never later than `deadline` (performance.now() ms): a pause shrinks to
   * what the chunks left still leave time for, so a store written faster than a paced compaction
   * keeps up is compacted as fast as unpaced.
   */
  private async compactTo(revision: number, pace?: { duty: number; deadline: number }): Promise<void> {
    while (!this.closed && this.compacted < revision) {
      const from = this.compacted;
      const to = Math.min(revision, from + COMPACT_CHUNK);
      const t0 = performance.now();
      this.db.transaction(() => {
        this.stmts.compactSuperseded.run(from, to);
        this.stmts.compactTombstones.run(from, to);
        this.stmts.setMeta.run(META_COMPACTED, to);
      })();
      this.compacted = to;
      if (this.compacted >= revision) break;
      const now = performance.now();
      const spent = now - t0;
      // the duty's pause, but no more than each chunk left still has time for before the deadline
      const chunksLeft = Math.ceil((revision - to) / COMPACT_CHUNK);
      const pause = pace ? Math.min((spent * (1 - pace.duty)) / pace.duty, (pace.deadline - now) / chunksLeft - spent, 1_000) : 0;
      // (not holding the process open: a store being left behind lets it exit)
      if (pause >= 1) await sleep(pause, undefined, { ref: false });
      else await yieldToLoop();
    }
    this.log.debug({ compacted: this.compacted }, 'compacted');
  }

  private readHistory(prefix: string, from: number, to: number, limit: number): ChangeEvent[] {
    if (from < this.compacted) throw compactedError(from, this.compacted);
    if (from > to || this.closed) return [];
    const rows = this.stmts.history.all(prefix, prefixEnd(prefix) ?? MAX_KEY, from, to, limit);
    return rows.map(historyEvent);
  }

  private checkOpen(signal?: AbortSignal): void {
    if (this.closed) throw storeClosedError();
    if (this.failure) throw this.failure;
    signal?.throwIfAborted();
  }
}

/** publishes a committed batch's events, then settles its writes, in revision order */
function settle(c: Committed, hub: WatchHub): void {
  hub.publish(c.events);
  c.batch.forEach((w, i) => {
    const outcome = c.outcomes[i];
    if (outcome.ok) w.resolve(outcome.kv);
    else w.reject(outcome.error);
  });
}

function prepareStatements(db: Database.Database) {
  return {
    begin: db.prepare<[]>(SQL.begin),
    commit: db.prepare<[]>(SQL.commit),
    rollback: db.prepare<[]>(SQL.rollback),
    maxId: db.prepare<[], { rev: number }>(SQL.maxId),
    getMeta: db.prepare<[string], { value: number }>(SQL.getMeta),
    setMeta: db.prepare<[string, number]>(SQL.setMeta),
    latest: db.prepare<[string], LogRow>(SQL.latest),
    firstAfter: db.prepare<[number, string], LogRow>(SQL.firstAfter),
    byId: db.prepare<[number], LogRow>(SQL.byId),
    insert: db.prepare<[number, string, number, number, number, number, string | Buffer]>(SQL.insert),
    list: db.prepare<[{ lo: string; hi: string; at: number; limit: number }], KvRow>(SQL.list),
    count: db.prepare<[{ lo: string; hi: string; at: number }], { n: number }>(SQL.count),
    listCurrent: db.prepare<[string, string, number], KvRow>(SQL.listCurrent),
    countCurrent: db.prepare<[string, string], { n: number }>(SQL.countCurrent),
    setCurrent: db.prepare<[string, number]>(SQL.setCurrent),
    deleteCurrent: db.prepare<[string]>(SQL.deleteCurrent),
    rebuildCurrent: db.prepare<[]>(SQL.rebuildCurrent),
    clearCurrent: db.prepare<[]>(SQL.clearCurrent),
    history: db.prepare<[string, string, number, number, number], HistoryRow>(SQL.history),
    compactSuperseded: db.prepare<[number, number]>(SQL.compactSuperseded),
    compactTombstones: db.prepare<[number, number]>(SQL.compactTombstones),
    rowCount: db.prepare<[], { n: number }>(SQL.rowCount),
  };
}

function toKv(row: KvRow): KeyValue {
  return { key: row.name, value: valueOfSqlite(row.value), createRevision: row.create_revision, modRevision: row.id };
}

function historyEvent(row: HistoryRow): ChangeEvent {
  const kv = toKv(row);
  const prevKv =
    row.p_id !== null && row.p_value !== null && row.p_create_revision !== null
      ? { key: row.name, value: valueOfSqlite(row.p_value), createRevision: row.p_create_revision, modRevision: row.p_id }
      : undefined;
  if (row.deleted === 1) return prevKv === undefined ? { type: 'delete', kv } : { type: 'delete', kv, prevKv };
  return prevKv === undefined ? { type: 'put', kv } : { type: 'put', kv, prevKv };
}

function conflictError(key: string, current: KeyValue, expected: number): HedgeError {
  return new HedgeError(
    'Conflict',
    `key "${key}" was modified at revision ${current.modRevision}, expected ${expected}`,
  );
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}
