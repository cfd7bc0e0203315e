import { Informer } from '../../../client/informer.ts';
import { Resources } from '../../../client/resources.ts';
import type { KubeClient } from '../../../client/types.ts';
import { HedgeError } from '../../../lib/errors.ts';
import type { Logger } from '../../../lib/log.ts';
import { sleep } from '../../../lib/sleep.ts';
import { runCommand } from '../../host/run-command.ts';
import { buildModel, type EndpointSliceObject, type ServiceObject } from './model.ts';
import { renderDelete, renderRuleset, type RenderedNames } from './render.ts';

/** The seam to the kernel: one `nft -f -` transaction per call. */
export interface Nft {
  apply(script: string, signal?: AbortSignal): Promise<void>;
}

/** The real one: the `nft` binary, script on stdin. */
export function nftBinary(binary = 'nft'): Nft {
  return {
    async apply(script, signal) {
      const res = await runCommand(binary, ['-f', '-'], { input: script, signal, timeoutMs: 60_000 });
      if (res.code !== 0) throw new HedgeError('Internal', `nft -f - failed (${res.code}): ${res.stderr.trim().split('\n').slice(0, 6).join(' | ')}`);
    },
  };
}

export interface ServiceProxyOptions {
  client: KubeClient;
  nodeName: string;
  logger: Logger;
  /** nftables table of its own (family ip); default `hedge-proxy` */
  table?: string;
  nft?: Nft;
  /** changes arriving within this window are applied together (default 50 ms) */
  debounceMs?: number;
  /** this node's zone, for topology hints */
  zone?: string;
}

export interface SyncStats {
  syncs: number;
  failures: number;
  lastRenderMs: number;
  lastApplyMs: number;
  servicePorts: number;
}

/**
 * The node's service proxy: Services and EndpointSlices from the node's client (the hub when
 * there is one: its cache answers while the cloud is unreachable, so the last state stays
 * programmed), rendered into one nftables table and applied as one transaction per sync.
 * Changes are debounced; a failed apply is retried with backoff. `run` removes the table when it
 * ends.
 */
export class ServiceProxy {
  readonly table: string;
  readonly stats: SyncStats = { syncs: 0, failures: 0, lastRenderMs: 0, lastApplyMs: 0, servicePorts: 0 };
  readonly #opts: ServiceProxyOptions;
  readonly #nft: Nft;
  readonly #log: Logger;
  readonly #services: Informer<ServiceObject>;
  readonly #slices: Informer<EndpointSliceObject>;
  #applied: RenderedNames | undefined;
  #dirty = true;
  #wake: (() => void) | undefined;
  #syncedWaiters: { gen: number; resolve: () => void }[] = [];
  #gen = 0;

  constructor(opts: ServiceProxyOptions) {
    this.#opts = opts;
    this.table = opts.table ?? 'hedge-proxy';
    if (!/^[A-Za-z][A-Za-z0-9_-]{0,60}$/.test(this.table)) throw new HedgeError('Invalid', `service proxy table ${this.table}: letters, digits, - and _ only`);
    this.#nft = opts.nft ?? nftBinary();
    this.#log = opts.logger.child({ component: 'service-proxy' });
    const onChange = (): void => this.#changed();
    const handlers = { onAdd: onChange, onUpdate: onChange, onDelete: onChange };
    this.#services = new Informer<ServiceObject>({ client: opts.client, resource: Resources.services, logger: this.#log, ...handlers });
    this.#slices = new Informer<EndpointSliceObject>({ client: opts.client, resource: Resources.endpointslices, logger: this.#log, ...handlers });
  }

  #changed(): void {
    this.#dirty = true;
    this.#gen++;
    this.#wake?.();
  }

  /** resolves once everything seen so far is programmed */
  async waitForSync(signal?: AbortSignal): Promise<void> {
    const gen = this.#gen;
    if (!this.#dirty && this.stats.syncs > 0) return;
    await new Promise<void>((resolve, reject) => {
      this.#syncedWaiters.push({ gen, resolve });
      signal?.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
    });
  }

  /** one render + apply of the current caches */
  async syncOnce(signal?: AbortSignal): Promise<void> {
    const gen = this.#gen;
    this.#dirty = false;
    const t0 = performance.now();
    const model = buildModel(this.#services.list(), this.#slices.list(), { nodeName: this.#opts.nodeName, zone: this.#opts.zone });
    const rendered = renderRuleset(model, { table: this.table }, this.#applied);
    const t1 = performance.now();
    try {
      if (rendered.script) await this.#nft.apply(rendered.script, signal);
    } catch (err) {
      this.#dirty = true;
      // the next attempt starts from a clean table: what the failed one left is unknown
      this.#applied = undefined;
      throw err;
    }
    this.#applied = rendered.names;
    this.stats.syncs++;
    this.stats.lastRenderMs = t1 - t0;
    this.stats.lastApplyMs = performance.now() - t1;
    this.stats.servicePorts = model.length;
    this.#syncedWaiters = this.#syncedWaiters.filter((w) => {
      if (w.gen > gen) return true;
      w.resolve();
      return false;
    });
  }

  /** until `signal` aborts: informers, debounced syncs; then the table is removed */
  async run(signal: AbortSignal): Promise<void> {
    const informers = [this.#services.run(signal), this.#slices.run(signal)];
    const onAbort = (): void => this.#wake?.();
    signal.addEventListener('abort', onAbort, { once: true });
    let failures = 0;
    try {
      await Promise.all([this.#services.waitForSync(signal), this.#slices.waitForSync(signal)]);
      while (!signal.aborted) {
        if (!this.#dirty) {
          await new Promise<void>((resolve) => {
            this.#wake = resolve;
          });
          this.#wake = undefined;
          continue;
        }
        await sleep(this.#opts.debounceMs ?? 50, signal);
        if (signal.aborted) break;
        try {
          await this.syncOnce(signal);
          failures = 0;
        } catch (err) {
          if (signal.aborted) break;
          failures++;
          this.stats.failures++;
          this.#log.warn({ err, failures }, 'service proxy sync failed; retrying');
          await sleep(Math.min(30_000, 200 * 2 ** Math.min(failures, 8)), signal);
        }
      }
    } catch (err) {
      if (!signal.aborted) throw err;
    } finally {
      signal.removeEventListener('abort', onAbort);
      await Promise.allSettled(informers);
      await this.#nft.apply(renderDelete(this.table)).catch((err: unknown) => this.#log.warn({ err, table: this.table }, 'could not remove the service proxy table'));
      this.#applied = undefined;
    }
  }
}
