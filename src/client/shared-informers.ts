import type { KubeObject } from '../api/object.ts';
import { HedgeError } from '../lib/errors.ts';
import type { Logger } from '../lib/log.ts';
import { linkedSignal, whenAborted } from '../lib/signals.ts';
import type { BackoffOptions } from './backoff.ts';
import type { Clock } from './clock.ts';
import { Informer, type InformerHandlers } from './informer.ts';
import { resolveResource } from './resources.ts';
import type { KubeClient, ResourceRef, ResourceTarget } from './types.ts';

/** What one shared informer lists and watches: consumers asking for the same get the same one. */
export interface InformerScope {
  resource: ResourceTarget;
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
}

export type SharedInformerOptions<T extends KubeObject> = InformerScope & InformerHandlers<T>;

export interface SharedInformerFactoryOptions {
  client: KubeClient;
  logger: Logger;
  clock?: Clock;
  backoff?: BackoffOptions;
  /** server-side watch timeout of every informer (InformerOptions.watchTimeoutSeconds) */
  watchTimeoutSeconds?: number;
  pageSize?: number;
  /** what every informer caches of each object (InformerOptions.transform) */
  transform?: (obj: KubeObject) => KubeObject;
}

interface Entry {
  key: string;
  informer: Informer<KubeObject>;
  /** handles running on it */
  users: number;
  stop: AbortController;
  done: Promise<void>;
}

/**
 * client-go's SharedInformerFactory for one process: one Informer (one list+watch, one cache)
 * per resource, namespace and selectors, however many consumers ask for it. Each consumer holds a
 * `SharedInformer` (an Informer's reading API plus its own handlers); the shared one starts when
 * the first consumer runs and stops (its cache dropped) when the last one stops, or at `shutdown`.
 *
 * Handlers of all consumers run inline on the one watch, in event order: keep them cheap (mark
 * dirty, queue) and do not mutate the objects they are given, which every consumer shares.
 */
export class SharedInformerFactory {
  readonly #opts: SharedInformerFactoryOptions;
  readonly #entries = new Map<string, Entry>();
  readonly #shutdown = new AbortController();

  constructor(opts: SharedInformerFactoryOptions) {
    this.#opts = opts;
  }

  /** a consumer's handle on the shared informer of `opts`' scope, with `opts`' handlers (attached while it runs) */
  informer<T extends KubeObject>(opts: SharedInformerOptions<T>): SharedInformer<T> {
    const res = resolveResource(opts.resource);
    const scope: InformerScope = { resource: res, namespace: opts.namespace, labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector };
    return new SharedInformer<T>(
      { what: res.plural, join: () => this.#acquire(res, scope), leave: (e) => this.#release(e), stopped: this.#shutdown.signal },
      opts,
    );
  }

  /** informers running now (for tests and debugging) */
  get running(): number {
    return this.#entries.size;
  }

  /** stops every informer (their consumers' `run` resolve) and waits for their watches to end */
  async shutdown(): Promise<void> {
    this.#shutdown.abort();
    const entries = [...this.#entries.values()];
    this.#entries.clear();
    for (const e of entries) e.stop.abort();
    await Promise.all(entries.map((e) => e.done));
  }

  /** the entry of `scope`, made and started when it has no user; undefined after shutdown */
  #acquire(res: ResourceRef, scope: InformerScope): Entry | undefined {
    if (this.#shutdown.signal.aborted) return undefined;
    const key = scopeKey(res, scope);
    let e = this.#entries.get(key);
    if (!e) {
      const o = this.#opts;
      const informer = new Informer<KubeObject>({
        client: o.client,
        resource: res,
        namespace: scope.namespace,
        labelSelector: scope.labelSelector,
        fieldSelector: scope.fieldSelector,
        logger: o.logger.child({ informer: res.plural, ...pick(scope) }),
        clock: o.clock,
        backoff: o.backoff,
        watchTimeoutSeconds: o.watchTimeoutSeconds,
        pageSize: o.pageSize,
        transform: o.transform,
      });
      const stop = new AbortController();
      e = { key, informer, users: 0, stop, done: informer.run(stop.signal) };
      this.#entries.set(key, e);
    }
    e.users++;
    return e;
  }

  /** one user of `e` left: the last one stops it */
  #release(e: Entry): Promise<void> {
    e.users--;
    if (e.users > 0) return Promise.resolve();
    if (this.#entries.get(e.key) === e) this.#entries.delete(e.key);
    e.stop.abort();
    return e.done;
  }
}

function pick(scope: InformerScope): Record<string, string> {
  const out: Record<string, string> = {};
  if (scope.namespace) out.namespace = scope.namespace;
  if (scope.labelSelector) out.labelSelector = scope.labelSelector;
  if (scope.fieldSelector) out.fieldSelector = scope.fieldSelector;
  return out;
}

function scopeKey(res: ResourceRef, scope: InformerScope): string {
  return JSON.stringify([res.group, res.version, res.plural, scope.namespace ?? '', scope.labelSelector ?? '', scope.fieldSelector ?? '']);
}

/** how a handle joins and leaves its entry (closures over the factory's private state) */
interface Membership {
  what: string;
  join(): Entry | undefined;
  leave(e: Entry): Promise<void>;
  stopped: AbortSignal;
}

interface Registration<T extends KubeObject> {
  handlers: InformerHandlers<T>;
  /** set while attached to the running informer */
  detach?: () => void;
}

/**
 * One consumer's view of a shared informer, with the Informer's API: `run` joins it (its handlers
 * get the cache as adds if it has synced already, then every event) until `signal` aborts, then
 * leaves it (the last to leave stops it). Reads (`list`, `get`, `hasSynced`) answer from the
 * shared cache while it runs; before and after, an empty one that has not synced.
 */
export class SharedInformer<T extends KubeObject = KubeObject> {
  readonly #membership: Membership;
  readonly #registrations: Registration<T>[] = [];
  #entry: Entry | undefined;
  #startWaiters: (() => void)[] = [];

  /** made by SharedInformerFactory.informer */
  constructor(membership: Membership, opts: InformerHandlers<T>) {
    this.#membership = membership;
    if (opts.onAdd || opts.onUpdate || opts.onDelete) this.#registrations.push({ handlers: { onAdd: opts.onAdd, onUpdate: opts.onUpdate, onDelete: opts.onDelete } });
  }

  get #informer(): Informer<T> | undefined {
    return this.#entry?.informer as Informer<T> | undefined;
  }

  /** Until `signal` aborts or the factory shuts down; never rejects for API errors (the informer retries them). */
  async run(signal: AbortSignal): Promise<void> {
    const m = this.#membership;
    if (this.#entry) throw new HedgeError('Internal', `informer of ${m.what} is running already`);
    if (signal.aborted) return;
    const entry = m.join();
    if (!entry) return;
    this.#entry = entry;
    for (const r of this.#registrations) this.#attach(r);
    for (const w of this.#startWaiters.splice(0)) w();
    // cleared by its own abort: nothing is left following the long-lived signals
    const until = linkedSignal([signal, m.stopped]);
    await new Promise<void>((resolve) => whenAborted(until, () => resolve()));
    for (const r of this.#registrations) {
      r.detach?.();
      r.detach = undefined;
    }
    this.#entry = undefined;
    await m.leave(entry);
  }

  #attach(r: Registration<T>): void {
    r.detach = this.#informer?.addHandlers(r.handlers);
  }

  /** adds handlers (given the cache as adds once synced); returns the function that removes them */
  addHandlers(handlers: InformerHandlers<T>): () => void {
    const r: Registration<T> = { handlers };
    this.#registrations.push(r);
    if (this.#entry) this.#attach(r);
    return () => {
      r.detach?.();
      r.detach = undefined;
      const i = this.#registrations.indexOf(r);
      if (i >= 0) this.#registrations.splice(i, 1);
    };
  }

  hasSynced(): boolean {
    return this.#informer?.hasSynced() ?? false;
  }

  /** the last resourceVersion the shared cache reflects ('' while not running) */
  get resourceVersion(): string {
    return this.#informer?.resourceVersion ?? '';
  }

  get(name: string, namespace?: string): T | undefined {
    return this.#informer?.get(name, namespace);
  }

  list(): T[] {
    return this.#informer?.list() ?? [];
  }

  /** one namespace's cached objects, over the shared informer's namespace index */
  listNamespace(namespace: string): T[] {
    return this.#informer?.listNamespace(namespace) ?? [];
  }

  get size(): number {
    return this.#informer?.size ?? 0;
  }

  /** resolves once the shared informer has listed (waiting for `run` to join it first) */
  async waitForSync(signal?: AbortSignal): Promise<void> {
    if (!this.#entry) {
      await new Promise<void>((resolve, reject) => {
        const started = (): void => {
          forget();
          resolve();
        };
        const forget = signal
          ? whenAborted(signal, () => {
              this.#startWaiters = this.#startWaiters.filter((w) => w !== started);
              reject(signal.reason);
            })
          : () => undefined;
        if (!signal?.aborted) this.#startWaiters.push(started);
      });
    }
    const informer = this.#informer;
    if (informer) await informer.waitForSync(signal);
  }
}
