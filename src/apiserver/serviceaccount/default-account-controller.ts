import type { KubeObject } from '../../api/object.ts';
import type { ResourceDef } from '../../api/resources/types.ts';
import { DEFAULT_SERVICE_ACCOUNT } from '../../api/service-account.ts';
import type { Logger } from '../../lib/log.ts';
import type { CacheEvent, ObjectCache } from '../auth/object-cache.ts';
import { createDefaultServiceAccount } from '../bootstrap/seed.ts';
import type { Registry } from '../registry/registry.ts';
import { RetryQueue, type RetryBackoff, type SyncOutcome } from './retry-queue.ts';

/** wait after a namespace's first failed create (default 200 ms), and the longest between tries (default 60 s) */
export type DefaultAccountBackoff = RetryBackoff;

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
  readonly #queue: RetryQueue<string>;

  constructor(opts: DefaultAccountControllerOptions) {
    this.#opts = opts;
    // upstream's controller retries for as long as it takes
    const backoff = { ...DEFAULT_ACCOUNT_BACKOFF, ...opts.backoff };
    this.#queue = new RetryQueue<string>({ key: (ns) => ns, sync: (ns) => this.#sync(ns), signal: opts.signal, backoff, maxRetries: Infinity });
  }

  start(): void {
    const { namespaceCache, accountCache } = this.#opts;
    namespaceCache.listen((ev) => this.#onNamespace(ev));
    accountCache.listen((ev) => {
      if (ev.type === 'resynced') this.#enqueueAll();
      else if (ev.type === 'deleted' && ev.obj.metadata.name === DEFAULT_SERVICE_ACCOUNT) this.enqueue(ev.obj.metadata.namespace ?? '');
    });
    this.#enqueueAll();
    this.#queue.start();
  }

  /** resolves when the loop has ended (after the signal aborts) */
  stopped(): Promise<void> {
    return this.#queue.stopped();
  }

  /** namespaces waiting for a (re)try */
  get pending(): number {
    return this.#queue.pending;
  }

  enqueue(namespace: string): void {
    if (namespace !== '') this.#queue.add(namespace);
  }

  /** a namespace deleted while queued is let go by its sync (not active) */
  #onNamespace(ev: CacheEvent<KubeObject>): void {
    if (ev.type === 'resynced') this.#enqueueAll();
    else if (ev.type !== 'deleted' && active(ev.obj)) this.enqueue(ev.obj.metadata.name ?? '');
  }

  #enqueueAll(): void {
    for (const ns of this.#opts.namespaceCache.list()) if (active(ns)) this.enqueue(ns.metadata.name ?? '');
  }

  async #sync(namespace: string): Promise<SyncOutcome> {
    const { registry, serviceAccounts, namespaceCache, accountCache, signal, logger } = this.#opts;
    if (!active(namespaceCache.get('', namespace))) return 'done';
    if (accountCache.get(namespace, DEFAULT_SERVICE_ACCOUNT)) return 'done';
    try {
      // the cache may lag a create made a moment ago: AlreadyExists counts as done
      await createDefaultServiceAccount({ registry, serviceAccounts, namespace, signal });
      return 'done';
    } catch (err) {
      if (signal.aborted) return 'done';
      logger.warn({ err, namespace }, 'could not create the default service account; will retry');
      return 'retry';
    }
  }
}
