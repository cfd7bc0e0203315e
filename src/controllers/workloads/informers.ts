import type { KubeObject } from '../../api/object.ts';
import type { Clock } from '../../client/clock.ts';
import { SharedInformerFactory, type SharedInformer } from '../../client/shared-informers.ts';
import type { KubeClient, ResourceRef } from '../../client/types.ts';
import type { Logger } from '../../lib/log.ts';
import { linkedSignal } from '../../lib/signals.ts';

/**
 * One controller's (or one leadership term's) informers, by resource, over a process-wide
 * SharedInformerFactory (client-go's SharedInformerFactory as kube-controller-manager shares it):
 * the pod watch and cache are held once, however many controllers of the process use pods. `for`
 * gives a handle whose handlers are attached while this set runs (from `start` until its signal
 * aborts or `stop`); the shared informer starts with its first user and stops with its last.
 * Without a `factory`, it makes one of its own (tests, a controller run alone).
 */
export class SharedInformers {
  readonly #factory: SharedInformerFactory;
  readonly #informers = new Map<string, SharedInformer>();
  readonly #started = new Map<string, AbortController>();
  #signal: AbortSignal | undefined;
  readonly #runs: Promise<void>[] = [];

  constructor(opts: { client: KubeClient; logger: Logger; clock?: Clock; factory?: SharedInformerFactory }) {
    this.#factory = opts.factory ?? new SharedInformerFactory({ client: opts.client, logger: opts.logger, clock: opts.clock });
  }

  for<T extends KubeObject>(res: ResourceRef): SharedInformer<T> {
    const key = `${res.group}/${res.plural}`;
    let inf = this.#informers.get(key);
    if (!inf) {
      inf = this.#factory.informer<KubeObject>({ resource: res });
      this.#informers.set(key, inf);
      if (this.#signal) this.#start(key, inf, this.#signal);
    }
    return inf as unknown as SharedInformer<T>;
  }

  /** run every informer made so far (and any made later) until `signal` aborts */
  start(signal: AbortSignal): void {
    this.#signal = signal;
    for (const [key, inf] of this.#informers) this.#start(key, inf, signal);
  }

  #start(key: string, inf: SharedInformer, signal: AbortSignal): void {
    if (this.#started.has(key)) return;
    const own = new AbortController();
    this.#started.set(key, own);
    // aborting `own` (stop) also unhooks the link from `signal`
    this.#runs.push(inf.run(linkedSignal([signal, own.signal])));
  }

  /** stop using and forget the informer of `res` (a custom resource whose CRD went away) */
  stop(res: ResourceRef): void {
    const key = `${res.group}/${res.plural}`;
    this.#started.get(key)?.abort();
    this.#started.delete(key);
    this.#informers.delete(key);
  }

  async waitForSync(signal: AbortSignal): Promise<void> {
    await Promise.all([...this.#informers.values()].map((i) => i.waitForSync(signal)));
  }

  async done(): Promise<void> {
    await Promise.allSettled(this.#runs);
  }
}
