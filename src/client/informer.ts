import type { Logger } from '../lib/log.ts';
import { isHedgeError } from '../lib/errors.ts';
import { whenAborted } from '../lib/signals.ts';
import type { KubeObject } from '../api/object.ts';
import { Backoff, type BackoffOptions } from './backoff.ts';
import { systemClock, type Clock } from './clock.ts';
import type { KubeClient, ResourceTarget } from './types.ts';

export interface InformerHandlers<T extends KubeObject> {
  onAdd?(obj: T): void;
  onUpdate?(oldObj: T, newObj: T): void;
  onDelete?(obj: T): void;
}

export interface InformerOptions<T extends KubeObject> extends InformerHandlers<T> {
  client: KubeClient;
  resource: ResourceTarget;
  logger: Logger;
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** list page size; default 500 like client-go */
  pageSize?: number;
  clock?: Clock;
  backoff?: BackoffOptions;
  /** server-side watch timeout; default random 300–600 s like the reflector */
  watchTimeoutSeconds?: number;
  /**
   * what is cached and handed to the handlers of each listed or watched object (client-go's
   * SetTransform), e.g. `stripManagedFields`; it may change the object it is given
   */
  transform?: (obj: T) => T;
}

/**
 * client-go's TransformStripManagedFields: a cache nobody reads managedFields from keeps objects
 * without them (a pod's are a few KiB, often more than its spec). A write built from such a copy
 * keeps the stored entries: absent managedFields in an update leave them as they are.
 */
export function stripManagedFields<T extends KubeObject>(obj: T): T {
  if (obj.metadata?.managedFields !== undefined) delete obj.metadata.managedFields;
  return obj;
}

export const cacheKey = (obj: KubeObject): string =>
  obj.metadata.namespace ? `${obj.metadata.namespace}/${obj.metadata.name}` : (obj.metadata.name ?? '');

/**
 * list+watch with resourceVersion continuity and a local cache, like client-go's reflector +
 * informer but without the delta FIFO: handlers run inline, in event order, after the cache
 * is updated. A 410 relists (and emits deletes for objects that vanished meanwhile); other
 * errors back off (capped, jittered) and resume from the last resourceVersion seen.
 */
export class Informer<T extends KubeObject = KubeObject> {
  private readonly cache = new Map<string, T>();
  /** client-go's NamespaceIndex: the namespaced objects by namespace, then cache key */
  private readonly byNamespace = new Map<string, Map<string, T>>();
  /** a Set: a handler removed while an event is being delivered gets no more of it */
  private readonly handlers = new Set<InformerHandlers<T>>();
  private synced = false;
  private rv = '';
  private readonly syncWaiters: (() => void)[] = [];
  private readonly clock: Clock;
  private readonly log: Logger;

  constructor(private readonly opts: InformerOptions<T>) {
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger;
    if (opts.onAdd || opts.onUpdate || opts.onDelete) this.handlers.add(opts);
  }

  /**
   * Adds handlers; once the informer has synced, they are first given every cached object as an
   * add (client-go's AddEventHandler on a running informer). Returns the function that removes
   * them (RemoveEventHandler): they get no event after it is called.
   */
  addHandlers(h: InformerHandlers<T>): () => void {
    // a copy of the object: the same handlers object added twice is two registrations
    const own: InformerHandlers<T> = { onAdd: h.onAdd?.bind(h), onUpdate: h.onUpdate?.bind(h), onDelete: h.onDelete?.bind(h) };
    this.handlers.add(own);
    if (this.synced) {
      for (const obj of this.cache.values()) {
        if (!this.handlers.has(own)) break;
        this.call(own, 'add', obj);
      }
    }
    return () => void this.handlers.delete(own);
  }

  hasSynced(): boolean {
    return this.synced;
  }

  /** the last resourceVersion the cache reflects */
  get resourceVersion(): string {
    return this.rv;
  }

  get(name: string, namespace?: string): T | undefined {
    return this.cache.get(namespace ? `${namespace}/${name}` : name);
  }

  list(): T[] {
    return [...this.cache.values()];
  }

  /** the cached objects of one namespace (a lister's `.Pods(ns).List()`, over the namespace index: not a walk of the cache) */
  listNamespace(namespace: string): T[] {
    const objs = this.byNamespace.get(namespace);
    return objs ? [...objs.values()] : [];
  }

  get size(): number {
    return this.cache.size;
  }

  waitForSync(signal?: AbortSignal): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const done = (): void => {
        forget();
        resolve();
      };
      // a follower of `signal`, not a listener on it: every controller waits for its informers on
      // the one stop signal at once (a listener each put more than ten on it: MaxListenersExceeded)
      const forget = signal
        ? whenAborted(signal, () => {
            const i = this.syncWaiters.indexOf(done);
            if (i >= 0) this.syncWaiters.splice(i, 1);
            reject(signal.reason);
          })
        : () => undefined;
      if (!signal?.aborted) this.syncWaiters.push(done);
    });
  }

  /** Runs until `signal` aborts; never rejects for API errors (they are logged and retried). */
  async run(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff({ initialMs: 800, maxMs: 30_000, ...this.opts.backoff });
    let needList = true;
    while (!signal.aborted) {
      try {
        if (needList) {
          await this.relist(signal);
          needList = false;
          backoff.reset();
        }
        await this.watchOnce(signal, backoff);
      } catch (err) {
        if (signal.aborted) break;
        if (isHedgeError(err, 'Gone')) {
          this.log.info({ resourceVersion: this.rv }, 'watch expired; relisting');
          needList = true;
          continue;
        }
        const delay = backoff.next();
        this.log.warn({ err, delayMs: delay }, 'list/watch failed; retrying');
        try {
          await this.clock.sleep(delay, signal);
        } catch {
          break;
        }
      }
    }
  }

  private async relist(signal: AbortSignal): Promise<void> {
    const fresh = new Map<string, T>();
    let cont: string | undefined;
    let rv: string;
    do {
      const page = await this.opts.client.list<T>(this.opts.resource, {
        namespace: this.opts.namespace,
        labelSelector: this.opts.labelSelector,
        fieldSelector: this.opts.fieldSelector,
        limit: this.opts.pageSize ?? 500,
        continue: cont,
        signal,
      });
      const transform = this.opts.transform;
      for (const item of page.items) fresh.set(cacheKey(item), transform ? transform(item) : item);
      cont = page.metadata.continue || undefined;
      rv = page.metadata.resourceVersion;
    } while (cont);
    // Replace: what disappeared while we were not watching is a delete.
    for (const [k, old] of this.cache) {
      if (!fresh.has(k)) {
        this.remove(k, old);
        this.emit('delete', old);
      }
    }
    for (const [k, obj] of fresh) {
      const old = this.cache.get(k);
      this.put(k, obj);
      if (!old) this.emit('add', obj);
      else if (old.metadata.resourceVersion !== obj.metadata.resourceVersion) this.emit('update', obj, old);
    }
    this.rv = rv;
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncWaiters.splice(0)) w();
    }
  }

  private async watchOnce(signal: AbortSignal, backoff: Backoff): Promise<void> {
    const timeoutSeconds = this.opts.watchTimeoutSeconds ?? Math.floor(300 + Math.random() * 300);
    const events = this.opts.client.watch<T>(this.opts.resource, {
      namespace: this.opts.namespace,
      labelSelector: this.opts.labelSelector,
      fieldSelector: this.opts.fieldSelector,
      resourceVersion: this.rv,
      allowWatchBookmarks: true,
      timeoutSeconds,
      signal,
    });
    for await (const ev of events) {
      backoff.reset();
      const obj = ev.type !== 'BOOKMARK' && this.opts.transform ? this.opts.transform(ev.object) : ev.object;
      const k = cacheKey(obj);
      switch (ev.type) {
        case 'BOOKMARK':
          break;
        case 'ADDED':
        case 'MODIFIED': {
          const old = this.cache.get(k);
          this.put(k, obj);
          if (old) this.emit('update', obj, old);
          else this.emit('add', obj);
          break;
        }
        case 'DELETED': {
          const old = this.cache.get(k);
          if (old) this.remove(k, old);
          this.emit('delete', old ?? obj);
          break;
        }
      }
      if (obj.metadata.resourceVersion) this.rv = obj.metadata.resourceVersion;
    }
  }

  private put(k: string, obj: T): void {
    this.cache.set(k, obj);
    const ns = obj.metadata.namespace;
    if (!ns) return;
    let objs = this.byNamespace.get(ns);
    if (!objs) this.byNamespace.set(ns, (objs = new Map()));
    objs.set(k, obj);
  }

  private remove(k: string, old: T): void {
    this.cache.delete(k);
    const ns = old.metadata.namespace;
    const objs = ns ? this.byNamespace.get(ns) : undefined;
    if (!objs) return;
    objs.delete(k);
    if (objs.size === 0) this.byNamespace.delete(ns!);
  }

  private emit(kind: 'add' | 'update' | 'delete', obj: T, old?: T): void {
    // over a copy: a handler added by a handler got this object in its replay already
    for (const h of [...this.handlers]) if (this.handlers.has(h)) this.call(h, kind, obj, old);
  }

  private call(h: InformerHandlers<T>, kind: 'add' | 'update' | 'delete', obj: T, old?: T): void {
    try {
      if (kind === 'add') h.onAdd?.(obj);
      else if (kind === 'update') h.onUpdate?.(old as T, obj);
      else h.onDelete?.(obj);
    } catch (err) {
      // A failing handler must not stop the informer for the other handlers.
      this.log.error({ err, object: cacheKey(obj) }, 'informer handler threw');
    }
  }
}
