import type { KubeObject } from '../../api/object.ts';
import type { ResourceDef } from '../../api/resources/types.ts';
import { DEFAULT_SERVICE_ACCOUNT } from '../../api/service-account.ts';
import type { Logger } from '../../lib/log.ts';
import { whenAborted } from '../../lib/signals.ts';
import type { CacheEvent, ObjectCache } from '../auth/object-cache.ts';
import { createDefaultServiceAccount } from '../bootstrap/seed.ts';
import type { Registry } from '../registry/registry.ts';

export interface DefaultAccountBackoff {
  /** wait after a namespace's first failed create (default 200 ms) */
  initialMs: number;
  /** the longest wait between tries (default 60 s) */
  maxMs: number;
}

export const DEFAULT_ACCOUNT_BACKOFF: DefaultAccountBackoff = { initialMs: 200, maxMs: 60_000 };

export interface DefaultAccountControllerOptions {
  registry: Registry;
  serviceAccounts: ResourceDef;
  /** started caches of the namespaces and the service accounts */
  namespaceCache: ObjectCache;
  accountCache: ObjectCache;
  logger: Logger;
  signal: AbortSignal;
  backoff?: Partial<DefaultAccountBackoff>;
}

const active = (ns: KubeObject | undefined): boolean =>
  ns !== undefined && !ns.metadata.deletionTimestamp && (ns.status as { phase?: string } | undefined)?.phase !== 'Terminating';

/**
 * Upstream's serviceaccounts controller (pkg/controller/serviceaccount): every active namespace
 * has a `default` ServiceAccount. Namespaces added or changed, a `default` account deleted, and
 * every namespace at a (re)list are queued; a namespace's create that fails is tried again after
 * a per-namespace exponential backoff (upstream's workqueue rate limiter), so a create that
 * failed while the server runs (the store briefly unwritable) is not missing until a restart.
 * The apiserver's hooks still make the account at once when they can; this is what converges.
 */
export class DefaultAccountController {
  readonly #opts: DefaultAccountControllerOptions;
  readonly #backoff: DefaultAccountBackoff;
  /** namespace → when it may be tried next (ms) */
  readonly #due = new Map<string, number>();
  readonly #failures = new Map<string, number>();
  #wake: (() => void) | undefined;
  #running: Promise<void> | undefined;

  constructor(opts: DefaultAccountControllerOptions) {
    this.#opts = opts;
    this.#backoff = { ...DEFAULT_ACCOUNT_BACKOFF, ...opts.backoff };
  }

  start(): void {
    const { namespaceCache, accountCache } = this.#opts;
    namespaceCache.listen((ev) => this.#onNamespace(ev));
    accountCache.listen((ev) => {
      if (ev.type === 'resynced') this.#enqueueAll();
      else if (ev.type === 'deleted' && ev.obj.metadata.name === DEFAULT_SERVICE_ACCOUNT) this.enqueue(ev.obj.metadata.namespace ?? '');
    });
    this.#enqueueAll();
    this.#running ??= this.#run();
  }

  /** resolves when the loop has ended (after the signal aborts) */
  stopped(): Promise<void> {
    return this.#running ?? Promise.resolve();
  }

  /** namespaces waiting for a (re)try */
  get pending(): number {
    return this.#due.size;
  }

  enqueue(namespace: string): void {
    if (namespace === '' || this.#due.has(namespace)) return;
    this.#due.set(namespace, 0);
    this.#wake?.();
  }

  #onNamespace(ev: CacheEvent<KubeObject>): void {
    if (ev.type === 'resynced') this.#enqueueAll();
    else if (ev.type === 'deleted') this.#forget(ev.obj.metadata.name ?? '');
    else if (active(ev.obj)) this.enqueue(ev.obj.metadata.name ?? '');
  }

  #enqueueAll(): void {
    for (const ns of this.#opts.namespaceCache.list()) if (active(ns)) this.enqueue(ns.metadata.name ?? '');
  }

  #forget(namespace: string): void {
    this.#due.delete(namespace);
    this.#failures.delete(namespace);
  }

  async #run(): Promise<void> {
    const { signal } = this.#opts;
    while (!signal.aborted) {
      const now = Date.now();
      let next = Infinity;
      for (const [ns, at] of [...this.#due]) {
        if (signal.aborted) return;
        if (at > now) {
          next = Math.min(next, at);
          continue;
        }
        this.#due.delete(ns);
        await this.#sync(ns);
        if (this.#due.has(ns)) next = Math.min(next, this.#due.get(ns)!);
      }
      if (this.#due.size > 0 && [...this.#due.values()].some((at) => at <= Date.now())) continue;
      await this.#idle(next === Infinity ? undefined : next - Date.now());
    }
  }

  /** until something is queued, or `ms` pass, or the signal aborts */
  #idle(ms: number | undefined): Promise<void> {
    return new Promise<void>((resolve) => {
      if (this.#opts.signal.aborted) return resolve();
      const done = (): void => {
        clearTimeout(timer);
        forget();
        this.#wake = undefined;
        resolve();
      };
      const timer = ms === undefined ? undefined : setTimeout(done, Math.max(0, ms));
      const forget = whenAborted(this.#opts.signal, done);
      this.#wake = done;
    });
  }

  async #sync(namespace: string): Promise<void> {
    const { registry, serviceAccounts, namespaceCache, accountCache, signal, logger } = this.#opts;
    if (!active(namespaceCache.get('', namespace))) return this.#forget(namespace);
    if (accountCache.get(namespace, DEFAULT_SERVICE_ACCOUNT)) return this.#forget(namespace);
    try {
      // the cache may lag a create made a moment ago: AlreadyExists counts as done
      await createDefaultServiceAccount({ registry, serviceAccounts, namespace, signal });
      this.#failures.delete(namespace);
    } catch (err) {
      if (signal.aborted) return;
      const failures = (this.#failures.get(namespace) ?? 0) + 1;
      this.#failures.set(namespace, failures);
      const waitMs = Math.min(this.#backoff.maxMs, this.#backoff.initialMs * 2 ** (failures - 1));
      logger.warn({ err, namespace, failures, retryInMs: waitMs }, 'could not create the default service account; will retry');
      this.#due.set(namespace, Date.now() + waitMs);
    }
  }
}
