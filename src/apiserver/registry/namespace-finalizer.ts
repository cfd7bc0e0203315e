import type { Logger } from '../../lib/log.ts';
import { isHedgeError } from '../../lib/errors.ts';
import type { UserInfo } from '../auth/types.ts';
import type { Registry } from './registry.ts';

const systemUser: UserInfo = { username: 'system:serviceaccount:kube-system:namespace-controller', groups: ['system:serviceaccounts'] };

/**
 * A small in-process namespace controller: empties terminating namespaces, then removes them.
 * Content that takes time to go (graceful pods, finalizers) is retried until gone.
 */
export class NamespaceFinalizer {
  readonly #registry: Registry;
  readonly #log: Logger;
  readonly #retryMs: number;
  readonly #pending = new Set<string>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #abort = new AbortController();
  #running: Promise<void> | undefined;

  constructor(opts: { registry: Registry; logger: Logger; retryMs?: number }) {
    this.#registry = opts.registry;
    this.#log = opts.logger;
    this.#retryMs = opts.retryMs ?? 1000;
  }

  /** Pick up namespaces that were terminating when the server last stopped. */
  async resume(): Promise<void> {
    const def = this.#registry.defFor('', 'namespaces');
    if (!def) return;
    const list = await this.#registry.storeFor(def).list(undefined, {});
    for (const kv of list.items) {
      const ns = this.#registry.codec.decode(kv).obj;
      if (ns.metadata.deletionTimestamp && ns.metadata.name) this.enqueue(ns.metadata.name);
    }
  }

  enqueue(name: string): void {
    if (this.#abort.signal.aborted) return;
    this.#pending.add(name);
    this.#kick();
  }

  /** Resolves when no namespace is waiting (for tests). */
  async idle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  close(): void {
    this.#abort.abort();
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    this.#pending.clear();
  }

  #kick(): void {
    if (this.#running) return;
    this.#running = this.#drain().finally(() => {
      this.#running = undefined;
      if (this.#pending.size > 0 && !this.#abort.signal.aborted) this.#kick();
    });
  }

  async #drain(): Promise<void> {
    while (this.#pending.size > 0 && !this.#abort.signal.aborted) {
      const [name] = this.#pending;
      this.#pending.delete(name);
      try {
        const done = await this.#finalize(name);
        if (!done) this.#retryLater(name);
      } catch (err) {
        if (this.#abort.signal.aborted) return;
        this.#log.warn({ err, namespace: name }, 'namespace finalization failed; will retry');
        this.#retryLater(name);
      }
    }
  }

  #retryLater(name: string): void {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      this.enqueue(name);
    }, this.#retryMs);
    this.#timers.add(t);
  }

  /** true when the namespace is gone (or no longer terminating) */
  async #finalize(name: string): Promise<boolean> {
    const reg = this.#registry;
    const nsDef = reg.defFor('', 'namespaces');
    if (!nsDef) return true;
    const ctx = { user: systemUser, dryRun: false, signal: this.#abort.signal };
    const cur = await reg.storeFor(nsDef).tryGet('', name);
    if (!cur || !cur.obj.metadata.deletionTimestamp) return true;
    let remaining = 0;
    for (const def of reg.resources.all()) {
      if (!def.namespaced) continue;
      const rs = reg.storeFor(def);
      const list = await rs.list(name, {});
      for (const kv of list.items) {
        const obj = reg.codec.decode(kv).obj;
        try {
          const out = await reg.delete(def, name, obj.metadata.name ?? '', {}, ctx);
          if (!out.deleted) remaining++;
        } catch (err) {
          if (!isHedgeError(err, 'NotFound')) throw err;
        }
      }
    }
    if (remaining > 0) return false;
    try {
      await reg.transform(nsDef, '', name, 'finalize', ctx, (ns) => {
        const spec = (ns.spec ?? {}) as { finalizers?: string[] };
        spec.finalizers = (spec.finalizers ?? []).filter((f) => f !== 'kubernetes');
        ns.spec = spec;
        return ns;
      });
    } catch (err) {
      if (isHedgeError(err, 'NotFound')) return true;
      throw err;
    }
    const after = await reg.storeFor(nsDef).tryGet('', name);
    if (!after) return true;
    if ((after.obj.metadata.finalizers ?? []).length > 0) return false;
    await reg.storeFor(nsDef).remove(after, false).catch((err: unknown) => {
      if (!isHedgeError(err, 'NotFound')) throw err;
    });
    this.#log.info({ namespace: name }, 'namespace removed');
    return true;
  }
}
