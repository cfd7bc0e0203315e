/**
 * The storage seam, with etcd v3 semantics: one global, monotonically increasing
 * revision; every write gets the next revision; watches replay from any revision
 * that has not been compacted. Values are opaque strings (the apiserver stores JSON).
 *
 * Implementations: memory/ (tests, hub caches), sqlite/ (default), etcd/ (scale-out).
 * All of them pass the shared suite in contract.ts.
 */

export interface KeyValue {
  key: string;
  value: string;
  /** revision at which this key was (last) created */
  createRevision: number;
  /** revision of the last change; for a delete event, the revision of the delete */
  modRevision: number;
}

export interface ListOptions {
  /** at most this many items; 0/undefined = all */
  limit?: number;
  /** return keys strictly greater than this key (pagination cursor) */
  startAfter?: string;
  /** read as of this revision (consistent pagination); ErrCompacted if compacted away. Default: current. */
  revision?: number;
  signal?: AbortSignal;
}

export interface ListResult {
  items: KeyValue[];
  /** the revision the list was read at */
  revision: number;
  /** true when more keys under the prefix follow the last returned item */
  more: boolean;
  /** number of keys under the prefix after the last returned item (when more) */
  remaining: number;
}

export type WatchEvent =
  | { type: 'put'; kv: KeyValue; prevKv?: KeyValue }
  /** kv.value is the value before deletion, kv.modRevision the delete's revision */
  | { type: 'delete'; kv: KeyValue; prevKv?: KeyValue }
  /** no events for the prefix up to this revision; used for watch bookmarks */
  | { type: 'progress'; revision: number };

export interface WatchOptions {
  /**
   * deliver every event with modRevision >= fromRevision (etcd semantics).
   * Undefined: only events after the current revision.
   * Throws HedgeError('Gone') (from the iterator) if fromRevision is compacted.
   */
  fromRevision?: number;
  /** emit {type:'progress'} at this interval when idle (ms); 0/undefined = never */
  progressIntervalMs?: number;
  signal: AbortSignal;
  /** a hint to skip events that cannot concern this watcher; a store may ignore it */
  trigger?: WatchTrigger;
}

/**
 * Upstream's watch-cache "trigger functions": a node's `spec.nodeName=<node>` pod watch needs only
 * the events of that node's pods, so with 5,000 nodes watching pods a pod write should wake one
 * watcher, not 5,000. `values` gives the indexed values an event concerns (the object's and, for
 * an update, its previous value's); a watcher with a trigger gets only the events whose values
 * include its `value`. Every watcher of one index passes the same `values` function object, so a
 * store computes it once per event, not once per watcher. Only a hint: events it lets through are
 * still filtered by the watcher, and a store may deliver more (history replay, etcd).
 */
export interface WatchTrigger {
  values: (ev: Extract<WatchEvent, { type: 'put' | 'delete' }>) => readonly string[];
  value: string;
}

export interface WriteOptions {
  signal?: AbortSignal;
}

export interface UpdateOptions extends WriteOptions {
  /** the modRevision the caller read; mismatch -> HedgeError('Conflict') */
  expectedRevision: number;
}

export interface DeleteOptions extends WriteOptions {
  /** when set, delete only if modRevision matches; mismatch -> HedgeError('Conflict') */
  expectedRevision?: number;
}

export interface Store {
  get(key: string, opts?: { revision?: number; signal?: AbortSignal }): Promise<KeyValue | undefined>;
  /** keys with the given prefix, in key order */
  list(prefix: string, opts?: ListOptions): Promise<ListResult>;
  /** count of keys under a prefix at the current revision */
  count(prefix: string): Promise<number>;
  /** create if absent; HedgeError('AlreadyExists') if present */
  create(key: string, value: string, opts?: WriteOptions): Promise<KeyValue>;
  /** compare-and-swap on modRevision; HedgeError('NotFound') / ('Conflict') */
  update(key: string, value: string, opts: UpdateOptions): Promise<KeyValue>;
  /** returns the deleted kv (value before deletion, modRevision = delete revision); HedgeError('NotFound') */
  delete(key: string, opts?: DeleteOptions): Promise<KeyValue>;
  watch(prefix: string, opts: WatchOptions): AsyncIterable<WatchEvent>;
  currentRevision(): Promise<number>;
  /** oldest revision still readable/watchable */
  compactedRevision(): Promise<number>;
  /** drop history older than `revision` */
  compact(revision: number): Promise<void>;
  close(): Promise<void>;
}
