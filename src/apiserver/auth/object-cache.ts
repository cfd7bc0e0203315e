import type { KubeObject } from '../../api/object.ts';
import type { ResourceDef } from '../../api/resources/types.ts';
import { isHedgeError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import type { KeyValue, WatchEvent } from '../../store/types.ts';
import type { Registry } from '../registry/registry.ts';

export type CacheEvent<T extends KubeObject> =
  | { type: 'added'; obj: T }
  | { type: 'updated'; obj: T; old: T }
  | { type: 'deleted'; obj: T }
  /** the cache was rebuilt from a fresh list (start, or a watch that fell behind compaction) */
  | { type: 'resynced' };

export interface ObjectCacheOptions<T extends KubeObject> {
  registry: Registry;
  def: ResourceDef;
  logger: Logger;
  signal: AbortSignal;
  onEvent?(ev: CacheEvent<T>): void;
  /** pause after an unexpected watch failure (default 1 s) */
  retryMs?: number;
  /**
   * what is kept of each object (default: the decoded object): a cache that needs a few fields of
   * a heavy kind (the service account token validator's Secrets and Nodes) keeps only those; the
   * object it is made from is not kept in the decode cache either (`ObjectCodec.peek`)
   */
  project?: (obj: KubeObject) => T;
}

/**
 * An informer over the apiserver's own storage, for what the apiserver decides on per request
 * (RBAC rules, the node authorizer's graph): list once, then follow the store's watch from that
 * revision, like upstream's loopback informers feeding the RBAC and node authorizers. Requests
 * read the map, never the store; objects are the codec's shared decoded values (read-only).
 * A watch that falls behind compaction relists.
 */
export class ObjectCache<T extends KubeObject = KubeObject> {
  readonly #items = new Map<string, T>();
  readonly #opts: ObjectCacheOptions<T>;
  readonly #listeners = new Set<(ev: CacheEvent<T>) => void>();
  #synced: Promise<void> | undefined;

  constructor(opts: ObjectCacheOptions<T>) {
    this.#opts = opts;
  }

  /** Starts following the store; resolves once the first list is in. */
  start(): Promise<void> {
    this.#synced ??= new Promise<void>((resolve, reject) => {
      this.#run(resolve).catch((err: unknown) => {
        if (!this.#opts.signal.aborted) this.#opts.logger.error({ err, resource: this.#opts.def.plural }, 'object cache stopped');
        reject(err as Error);
      });
    });
    return this.#synced;
  }

  /**
   * Another follower of the events (beside `onEvent`), for a cache two parts share (the pods the
   * node authorizer's graph and the token validator both read). One added after the first list
   * rebuilds from `list()` itself: it gets no `resynced` for what is already in.
   */
  listen(fn: (ev: CacheEvent<T>) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  #emit(ev: CacheEvent<T>): void {
    this.#opts.onEvent?.(ev);
    for (const fn of this.#listeners) fn(ev);
  }

  get(namespace: string, name: string): T | undefined {
    return this.#items.get(this.#opts.registry.storeFor(this.#opts.def).key(namespace, name));
  }

  list(): IterableIterator<T> {
    return this.#items.values();
  }

  /** the objects of one namespace (a pass over all: for kinds a cluster has few of, e.g. quotas) */
  inNamespace(namespace: string): T[] {
    const out: T[] = [];
    for (const o of this.#items.values()) if ((o.metadata.namespace ?? '') === namespace) out.push(o);
    return out;
  }

  get size(): number {
    return this.#items.size;
  }

  async #relist(): Promise<number> {
    const { registry, def } = this.#opts;
    const rs = registry.storeFor(def);
    const res = await registry.store.list(rs.prefix(), { signal: this.#opts.signal });
    this.#items.clear();
    for (const kv of res.items) {
      const obj = this.#decoded(kv);
      if (obj) this.#items.set(kv.key, obj);
    }
    this.#emit({ type: 'resynced' });
    return res.revision;
  }

  async #run(synced: () => void): Promise<void> {
    const { registry, def, signal } = this.#opts;
    const prefix = registry.storeFor(def).prefix();
    let rev = await this.#relist();
    synced();
    while (!signal.aborted) {
      try {
        for await (const ev of registry.store.watch(prefix, { fromRevision: rev + 1, signal })) {
          if (ev.type === 'progress') continue;
          this.#apply(ev);
          rev = ev.kv.modRevision;
        }
      } catch (err) {
        if (signal.aborted) return;
        if (isHedgeError(err, 'Gone')) {
          rev = await this.#relist();
          continue;
        }
        this.#opts.logger.warn({ err, resource: def.plural }, 'object cache watch failed; resuming');
        await new Promise<void>((resolve) => {
          const done = (): void => {
            clearTimeout(t);
            signal.removeEventListener('abort', done);
            resolve();
          };
          const t = setTimeout(done, this.#opts.retryMs ?? 1000);
          signal.addEventListener('abort', done, { once: true });
        });
      }
    }
  }

  #apply(ev: Exclude<WatchEvent, { type: 'progress' }>): void {
    const { registry } = this.#opts;
    if (ev.type === 'put') {
      const obj = this.#decoded(ev.kv);
      const old = this.#items.get(ev.kv.key);
      if (!obj) {
        // unreadable now: as if gone, so nothing decides on its older state
        this.#items.delete(ev.kv.key);
        if (old) this.#emit({ type: 'deleted', obj: old });
        return;
      }
      this.#items.set(ev.kv.key, obj);
      this.#emit(old ? { type: 'updated', obj, old } : { type: 'added', obj });
      return;
    }
    const old = this.#items.get(ev.kv.key);
    this.#items.delete(ev.kv.key);
    this.#emit({ type: 'deleted', obj: old ?? this.#kept(registry.codec.decodeDeleted(ev.kv).obj) });
  }

  /**
   * The kept object of a stored value, or undefined when it cannot be decoded (a value encrypted
   * at rest with a key this server lacks): left out and logged, so one such object neither stops
   * the cache (nor the server's start) nor hides the others; a request for it reads the store and
   * gets the error there.
   */
  #decoded(kv: KeyValue): T | undefined {
    const { codec } = this.#opts.registry;
    try {
      // a projection keeps a few fields: the whole object, parsed for it, is not kept in the decode cache either
      const { project } = this.#opts;
      return project ? project(codec.peek(kv)) : (codec.decode(kv).obj as T);
    } catch (err) {
      this.#opts.logger.warn({ err, key: kv.key, resource: this.#opts.def.plural }, 'object cache: value cannot be decoded; left out');
      return undefined;
    }
  }

  #kept(obj: KubeObject): T {
    return this.#opts.project ? this.#opts.project(obj) : (obj as T);
  }
}
