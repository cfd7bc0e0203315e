import type { KubeObject } from '../../../api/object.ts';
import type { ResourceDef } from '../../../api/resources/types.ts';
import type { Logger } from '../../../lib/log.ts';
import { linkedSignal, type ClearableSignal } from '../../../lib/signals.ts';
import { ObjectCache } from '../../auth/object-cache.ts';
import type { Registry } from '../../registry/registry.ts';
import type { ParamSource } from './plugin.ts';

interface Followed {
  cache: ObjectCache;
  synced: boolean;
  stop: AbortController;
  signal: ClearableSignal;
}

export interface PolicyParamCachesOptions {
  registry: Registry;
  logger: Logger;
  /** the server's closing signal: every cache stops with it */
  signal: AbortSignal;
  /** the store read a request makes while its kind's cache has not had its first list */
  read: Pick<ParamSource, 'get' | 'list'>;
}

/**
 * Policies' params served from caches that follow the store, one per paramKind (upstream's
 * dynamic informers in the policy plugin): the first request that needs a kind starts its cache
 * and reads the store itself; once the cache has listed, requests read only the cache. `retain`
 * stops the caches of kinds no policy names any more.
 */
export class PolicyParamCaches {
  readonly #caches = new Map<string, Followed>();
  readonly #opts: PolicyParamCachesOptions;

  constructor(opts: PolicyParamCachesOptions) {
    this.#opts = opts;
  }

  async get(def: ResourceDef, namespace: string, name: string): Promise<KubeObject | undefined> {
    const f = this.#follow(def);
    return f?.synced ? f.cache.get(namespace, name) : this.#opts.read.get(def, namespace, name);
  }

  async list(def: ResourceDef, namespace: string): Promise<KubeObject[]> {
    const f = this.#follow(def);
    return f?.synced ? f.cache.inNamespace(namespace) : this.#opts.read.list(def, namespace);
  }

  /** the kinds followed now (group/resource) */
  followed(): string[] {
    return [...this.#caches.keys()];
  }

  /** Stop following every kind but these (the paramKinds of the policies there are now). */
  retain(defs: Iterable<ResourceDef | undefined>): void {
    const keep = new Set<string>();
    for (const d of defs) if (d) keep.add(keyOf(d));
    for (const [k, f] of this.#caches) {
      if (keep.has(k)) continue;
      f.stop.abort();
      f.signal.clear();
      this.#caches.delete(k);
    }
  }

  #follow(def: ResourceDef): Followed | undefined {
    if (this.#opts.signal.aborted) return undefined;
    const key = keyOf(def);
    let f = this.#caches.get(key);
    if (f) return f;
    const stop = new AbortController();
    const signal = linkedSignal([this.#opts.signal, stop.signal]);
    const cache = new ObjectCache({ registry: this.#opts.registry, def, logger: this.#opts.logger, signal });
    const followed: Followed = { cache, synced: false, stop, signal };
    f = followed;
    this.#caches.set(key, f);
    cache.start().then(
      () => {
        followed.synced = true;
      },
      (err: unknown) => {
        // a later request starts it again; until then requests read the store
        if (this.#caches.get(key) === followed) this.#caches.delete(key);
        signal.clear();
        if (!signal.aborted) this.#opts.logger.warn({ err, resource: def.plural }, 'policy param cache did not start');
      },
    );
    return f;
  }
}

function keyOf(def: ResourceDef): string {
  return `${def.group}/${def.plural}`;
}
