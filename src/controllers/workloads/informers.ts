import type { KubeObject } from '../../api/object.ts';
import type { Clock } from '../../client/clock.ts';
import { Informer } from '../../client/informer.ts';
import type { KubeClient, ResourceRef } from '../../client/types.ts';
import type { Logger } from '../../lib/log.ts';
import { linkedSignal } from '../../lib/signals.ts';

/**
 * One informer per resource, shared by the workload controllers (client-go's
 * SharedInformerFactory): the pod cache is held once, however many controllers watch pods.
 */
export class SharedInformers {
  readonly #informers = new Map<string, Informer>();
  readonly #started = new Map<string, AbortController>();
  #signal: AbortSignal | undefined;
  readonly #runs: Promise<void>[] = [];

  constructor(private readonly opts: { client: KubeClient; logger: Logger; clock?: Clock }) {}

  for<T extends KubeObject>(res: ResourceRef): Informer<T> {
    const key = `${res.group}/${res.plural}`;
    let inf = this.#informers.get(key);
    if (!inf) {
      inf = new Informer<KubeObject>({ client: this.opts.client, logger: this.opts.logger.child({ informer: res.plural }), clock: this.opts.clock, resource: res });
      this.#informers.set(key, inf);
      if (this.#signal) this.#start(key, inf, this.#signal);
    }
    return inf as unknown as Informer<T>;
  }

  /** run every informer made so far (and any made later) until `signal` aborts */
  start(signal: AbortSignal): void {
    this.#signal = signal;
    for (const [key, inf] of this.#informers) this.#start(key, inf, signal);
  }

  #start(key: string, inf: Informer, signal: AbortSignal): void {
    if (this.#started.has(key)) return;
    const own = new AbortController();
    this.#started.set(key, own);
    // aborting `own` (stop) also unhooks the link from `signal`
    this.#runs.push(inf.run(linkedSignal([signal, own.signal])));
  }

  /** stop and forget the informer of `res` (a custom resource whose CRD went away) */
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
