import Database from 'better-sqlite3';
import { closeSync, fdatasync, openSync } from 'node:fs';
import type { KubeObject } from '../api/object.ts';
import type { PatchType, ResourceRef } from '../client/types.ts';
import { HedgeError } from '../lib/errors.ts';

/**
 * One node-owned write made while the cloud was unreachable, replayed in order on reconnect.
 * `baseCloudRv` is the cloud resourceVersion the write was made on top of: replay compares it
 * with the cloud's current one to tell a conflict.
 */
export type JournalEntry =
  | {
      kind: 'patch';
      resource: ResourceRef;
      namespace: string;
      name: string;
      subresource: '' | 'status';
      patchType: PatchType;
      patch: unknown;
      baseCloudRv: string;
    }
  | { kind: 'update'; resource: ResourceRef; namespace: string; name: string; subresource: '' | 'status'; object: KubeObject; baseCloudRv: string }
  | { kind: 'create'; resource: ResourceRef; namespace: string; object: KubeObject };

export interface JournalRow {
  seq: number;
  entry: JournalEntry;
}

/** whether `err` (or what caused it) is the disk being full: SQLite's SQLITE_FULL, the kernel's ENOSPC/EDQUOT */
export function isDiskFull(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (code === 'SQLITE_FULL' || code === 'ENOSPC' || code === 'EDQUOT' || /database or disk is full/.test(e.message)) return true;
  }
  return false;
}

/**
 * The Status a local client gets when the hub cannot record its write: 503 with the reason in
 * the message and a retry hint, never a fake success (the write was not recorded anywhere).
 */
export function notRecorded(err: unknown, what: string): HedgeError {
  const why = isDiskFull(err) ? `the node's disk is full (${(err as Error).message})` : (err as Error).message;
  return new HedgeError('Unavailable', `edgehub: ${what} was not recorded: ${why}; nothing was written, retry later`, { cause: err, details: { retryAfterSeconds: 5 } });
}

/** What the replica knows of a key: the store revision it wrote and the cloud resourceVersion behind it. */
export interface CloudVersion {
  hubRev: number;
  cloudRv: string;
  /** the stored value carries node writes not yet accepted by the cloud */
  dirty: boolean;
}

/** page cache of the hub's SQLite files (KiB, per connection) */
export const HUB_CACHE_KIB = 512;

/**
 * The hub's own durable state beside the replica store: the write journal, the cloud
 * resourceVersion of every replicated key, cached TokenRequest answers and discovery documents,
 * and which reflectors have completed a list at least once. SQLite, WAL, synchronous=FULL: an
 * append is on disk when `append` returns. The cloud's own versions (`recordCloudVersion`,
 * `forgetCloudVersion`: what the reflector mirrors, on the path from a bound pod to its agent)
 * commit without a sync and are on disk when their promise resolves, after one fdatasync of the
 * WAL in libuv's thread pool shared by every commit before it: the event loop does not stop for
 * the disk there (a synchronous fsync blocked the whole node — agent included — for 0.3 ms when
 * the disk was quiet and 10+ ms when other processes' writes held ext4's journal).
 */
export class HubDb {
  private readonly db: Database.Database;
  private readonly stmts;
  /** the WAL file (same inode as SQLite's while a connection is open), fdatasync'ed off the loop */
  private readonly walFd: number | undefined;
  /** the fdatasync running, and the one queued behind it for commits made while it runs */
  private syncRunning: Promise<void> | undefined;
  private syncQueued: Promise<void> | undefined;
  private closed = false;

  /** `maxPageCount` caps the file (SQLite pages of 4 KiB): a disk-space budget, and how tests fill the "disk" */
  constructor(path: string, opts: { maxPageCount?: number } = {}) {
    this.db = new Database(path);
    try {
      this.db.pragma('journal_mode = WAL');
      // small tables read by key: SQLite's default 2 MB page cache would mostly hold the node's RSS, not hits
      this.db.pragma(`cache_size = -${HUB_CACHE_KIB}`);
      if (opts.maxPageCount !== undefined) this.db.pragma(`max_page_count = ${Math.floor(opts.maxPageCount)}`);
      this.db.pragma('synchronous = FULL');
      this.db.exec(`
        CREATE TABLE IF NOT EXISTS journal (seq INTEGER PRIMARY KEY AUTOINCREMENT, entry TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS cloud_rv (key TEXT PRIMARY KEY, hub_rev INTEGER NOT NULL, cloud_rv TEXT NOT NULL, dirty INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS tokens (k TEXT PRIMARY KEY, body TEXT NOT NULL, expires_ms INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS documents (path TEXT PRIMARY KEY, content_type TEXT NOT NULL, body BLOB NOT NULL);
        CREATE TABLE IF NOT EXISTS synced (resource TEXT PRIMARY KEY);
        CREATE TABLE IF NOT EXISTS replayed (key TEXT PRIMARY KEY, cloud_rv TEXT NOT NULL);
      `);
      // SQLite keeps the -wal file (same inode) until the last connection closes; 'a' never writes
      this.walFd = path === ':memory:' || path === '' ? undefined : openSync(`${path}-wal`, 'a');
    } catch (err) {
      this.db.close();
      throw new HedgeError('Internal', `edgehub database ${path}: ${(err as Error).message}`, { cause: err });
    }
    this.stmts = {
      syncNormal: this.db.prepare('PRAGMA synchronous = NORMAL'),
      syncFull: this.db.prepare('PRAGMA synchronous = FULL'),
      append: this.db.prepare('INSERT INTO journal (entry) VALUES (?)'),
      pending: this.db.prepare('SELECT seq, entry FROM journal ORDER BY seq'),
      done: this.db.prepare('DELETE FROM journal WHERE seq = ?'),
      getReplayed: this.db.prepare('SELECT cloud_rv FROM replayed WHERE key = ?'),
      setReplayed: this.db.prepare('INSERT OR REPLACE INTO replayed (key, cloud_rv) VALUES (?, ?)'),
      clearReplayed: this.db.prepare('DELETE FROM replayed'),
      count: this.db.prepare('SELECT count(*) AS n FROM journal'),
      getRv: this.db.prepare('SELECT hub_rev, cloud_rv, dirty FROM cloud_rv WHERE key = ?'),
      setRv: this.db.prepare('INSERT INTO cloud_rv (key, hub_rev, cloud_rv, dirty) VALUES (?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET hub_rev = excluded.hub_rev, cloud_rv = excluded.cloud_rv, dirty = excluded.dirty'),
      delRv: this.db.prepare('DELETE FROM cloud_rv WHERE key = ?'),
      getToken: this.db.prepare('SELECT body, expires_ms FROM tokens WHERE k = ?'),
      setToken: this.db.prepare('INSERT OR REPLACE INTO tokens (k, body, expires_ms) VALUES (?, ?, ?)'),
      getDoc: this.db.prepare('SELECT content_type, body FROM documents WHERE path = ?'),
      setDoc: this.db.prepare('INSERT OR REPLACE INTO documents (path, content_type, body) VALUES (?, ?, ?)'),
      isSynced: this.db.prepare('SELECT 1 AS one FROM synced WHERE resource = ?'),
      setSynced: this.db.prepare('INSERT OR IGNORE INTO synced (resource) VALUES (?)'),
    };
  }

  /** durable once this returns; the sequence number orders replay */
  append(entry: JournalEntry): number {
    try {
      return Number(this.stmts.append.run(JSON.stringify(entry)).lastInsertRowid);
    } catch (err) {
      // SQLITE_FULL and friends: the write is refused as a whole, the journal stays as it was
      throw notRecorded(err, 'the write (edgehub journal)');
    }
  }

  pending(): JournalRow[] {
    return (this.stmts.pending.all() as { seq: number; entry: string }[]).map((r) => ({ seq: r.seq, entry: JSON.parse(r.entry) as JournalEntry }));
  }

  pendingCount(): number {
    return (this.stmts.count.get() as { n: number }).n;
  }

  done(seq: number): void {
    this.stmts.done.run(seq);
  }

  /**
   * The cloud accepted (or for good refused) entry `seq`: it leaves the journal, and the cloud
   * resourceVersion our write produced is recorded for `key`, in one transaction. A later entry on
   * the same key (this run or after a crash) then knows that resourceVersion is ours, not a
   * conflicting change. When the journal becomes empty the record is no longer needed.
   */
  applied(seq: number, ours?: { key: string; cloudRv: string }): void {
    this.db.transaction(() => {
      this.stmts.done.run(seq);
      if (ours) this.stmts.setReplayed.run(ours.key, ours.cloudRv);
      if ((this.stmts.count.get() as { n: number }).n === 0) this.stmts.clearReplayed.run();
    })();
  }

  /** the cloud resourceVersion the last replayed write of `key` produced, while the journal is not empty */
  replayedRv(key: string): string | undefined {
    return (this.stmts.getReplayed.get(key) as { cloud_rv: string } | undefined)?.cloud_rv;
  }

  cloudVersion(key: string): CloudVersion | undefined {
    const r = this.stmts.getRv.get(key) as { hub_rev: number; cloud_rv: string; dirty: number } | undefined;
    return r ? { hubRev: r.hub_rev, cloudRv: r.cloud_rv, dirty: r.dirty === 1 } : undefined;
  }

  setCloudVersion(key: string, v: CloudVersion): void {
    this.stmts.setRv.run(key, v.hubRev, v.cloudRv, v.dirty ? 1 : 0);
  }

  dropCloudVersion(key: string): void {
    this.stmts.delRv.run(key);
  }

  /** `setCloudVersion` of a version the cloud holds (nothing to replay if lost), durable when it resolves */
  recordCloudVersion(key: string, v: CloudVersion): Promise<void> {
    this.#unsynced(() => this.stmts.setRv.run(key, v.hubRev, v.cloudRv, v.dirty ? 1 : 0));
    return this.#durable();
  }

  /** `dropCloudVersion` of a key the cloud deleted, durable when it resolves */
  forgetCloudVersion(key: string): Promise<void> {
    this.#unsynced(() => this.stmts.delRv.run(key));
    return this.#durable();
  }

  /** one commit without SQLite's fsync; `#durable` makes it (and every earlier one) durable */
  #unsynced(write: () => void): void {
    if (this.walFd === undefined) {
      write();
      return;
    }
    this.stmts.syncNormal.run();
    try {
      write();
    } finally {
      this.stmts.syncFull.run();
    }
  }

  /**
   * Resolves once every commit made before the call is on disk: one fdatasync of the WAL at a
   * time; a call made while one runs waits for the next, which covers all such calls.
   */
  #durable(): Promise<void> {
    const fd = this.walFd;
    if (fd === undefined) return Promise.resolve();
    const start = (): Promise<void> => {
      const p = new Promise<void>((resolve, reject) => {
        if (this.closed) reject(new HedgeError('Unavailable', 'edgehub database closed'));
        else fdatasync(fd, (err) => (err ? reject(err) : resolve()));
      }).finally(() => {
        if (this.syncRunning === p) this.syncRunning = undefined;
        if (this.closed && this.syncRunning === undefined && this.syncQueued === undefined) closeSync(fd);
      });
      this.syncRunning = p;
      return p;
    };
    if (this.syncRunning === undefined) return start();
    this.syncQueued ??= this.syncRunning
      .catch(() => undefined)
      .then(() => {
        this.syncQueued = undefined;
        return start();
      });
    return this.syncQueued;
  }

  token(k: string, nowMs: number): string | undefined {
    const r = this.stmts.getToken.get(k) as { body: string; expires_ms: number } | undefined;
    return r && r.expires_ms > nowMs ? r.body : undefined;
  }

  /**
   * A TokenRequest answer kept for offline use. Committed without a synchronous fsync (one per pod
   * start, on the event loop the agent shares, before the pod's volumes could be written): a copy
   * lost to a power cut costs only a fresh request online, or an older still-valid token offline.
   * The returned promise resolves once it is on disk (callers need not wait); a refused write
   * (disk full) rejects it.
   */
  async setToken(k: string, body: string, expiresMs: number): Promise<void> {
    this.#unsynced(() => this.stmts.setToken.run(k, body, expiresMs));
    await this.#durable();
  }

  document(path: string): { contentType: string; body: Buffer } | undefined {
    const r = this.stmts.getDoc.get(path) as { content_type: string; body: Buffer } | undefined;
    return r ? { contentType: r.content_type, body: r.body } : undefined;
  }

  setDocument(path: string, contentType: string, body: Buffer): void {
    this.stmts.setDoc.run(path, contentType, body);
  }

  synced(resource: string): boolean {
    return this.stmts.isSynced.get(resource) !== undefined;
  }

  markSynced(resource: string): void {
    this.stmts.setSynced.run(resource);
  }

  close(): void {
    this.db.close();
    this.closed = true;
    // a sync in flight keeps the fd until it settles (it closes it then)
    if (this.walFd !== undefined && this.syncRunning === undefined && this.syncQueued === undefined) closeSync(this.walFd);
  }
}
