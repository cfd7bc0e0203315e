import type { RequestInfo } from '../request-info.ts';

const SEP = '\u0000';
const key = (group: string, resource: string, namespace: string, name: string): string => group + SEP + resource + SEP + namespace + SEP + name;

/**
 * The watches open, by what they watch (upstream's WatchTracker): a write's event reaches the
 * watches of its resource type across namespaces, of its namespace, and of its object by name.
 */
export class WatchTracker {
  readonly #counts = new Map<string, number>();

  /** a watch starts; the function returned forgets it (once) */
  register(info: RequestInfo): () => void {
    if (!info.isResourceRequest || info.verb !== 'watch') return () => {};
    const k = key(info.group, info.resource, info.namespace, info.name);
    this.#counts.set(k, (this.#counts.get(k) ?? 0) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const n = (this.#counts.get(k) ?? 1) - 1;
      if (n > 0) this.#counts.set(k, n);
      else this.#counts.delete(k);
    };
  }

  /** watches that an event of this (mutating) request reaches */
  interested(info: RequestInfo): number {
    if (!info.isResourceRequest) return 0;
    const { group, resource, namespace, name } = info;
    let n = this.#counts.get(key(group, resource, '', '')) ?? 0;
    if (namespace !== '') n += this.#counts.get(key(group, resource, namespace, '')) ?? 0;
    if (name !== '') n += this.#counts.get(key(group, resource, namespace, name)) ?? 0;
    return n;
  }
}
