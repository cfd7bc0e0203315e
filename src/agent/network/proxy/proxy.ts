import { Resources } from '../../../client/resources.ts';
import { SharedInformerFactory, type SharedInformer } from '../../../client/shared-informers.ts';
import type { KubeClient } from '../../../client/types.ts';
import { HedgeError } from '../../../lib/errors.ts';
import type { Logger } from '../../../lib/log.ts';
import { SlowSetFeed, type SlowEndpoint } from '../guard/fast-path.ts';
import { DebouncedTableSync, nftBinary, type Nft } from '../nft.ts';
import { buildModel, type EndpointSliceObject, type ProxyServicePort, type ServiceObject } from './model.ts';
import { renderDelete, renderRuleset, type RenderedNames } from './render.ts';
import type { SocketLb } from './socket-lb.ts';

export { nftBinary, type Nft } from '../nft.ts';

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
  /**
   * Told every endpoint the proxy may DNAT to, before the rules that do so are applied (and the
   * narrowed set after): the pod guard keeps what they send off its fast path, so replies reach
   * conntrack to be un-NATed (guard/fast-path.ts).
   */
  onEndpoints?: (eps: SlowEndpoint[], signal?: AbortSignal) => Promise<void>;
  /**
   * The socket-level balancer (socket-lb.ts), fed the same model after each nftables apply.
   * Started when `run` starts; one that cannot start (no BPF, bpftool or clang) is dropped with a
   * warning and the nftables path serves alone. Stopped (detached, unpinned) when `run` ends.
   */
  socketLb?: SocketLb;
  /** the node's shared informers (cluster DNS and the pods' service variables read the same Services); its own otherwise */
  informers?: SharedInformerFactory;
}

/** Every endpoint (address, protocol, port) the ruleset may DNAT to. */
export function slowEndpointsOf(model: ProxyServicePort[]): SlowEndpoint[] {
  return model.flatMap((p) => [...p.endpoints, ...(p.externalLocal?.localEndpoints ?? [])].map((e) => ({ ip: e.ip, protocol: p.protocol, port: e.port })));
}

export interface SyncStats {
  syncs: number;
  failures: number;
  lastRenderMs: number;
  lastApplyMs: number;
  servicePorts: number;
  /** which path pods' ClusterIP connections take: `socket` (the BPF balancer, for what it holds) or `nftables` */
  clusterIPPath: 'socket' | 'nftables';
  /** Service ports the socket balancer holds (the rest: nftables) */
  socketLbPorts: number;
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
  readonly stats: SyncStats = { syncs: 0, failures: 0, lastRenderMs: 0, lastApplyMs: 0, servicePorts: 0, clusterIPPath: 'nftables', socketLbPorts: 0 };
  readonly #opts: ServiceProxyOptions;
  readonly #nft: Nft;
  readonly #log: Logger;
  readonly #services: SharedInformer<ServiceObject>;
  readonly #slices: SharedInformer<EndpointSliceObject>;
  readonly #loop: DebouncedTableSync;
  /** what the last successful apply declared, per table family (`ip6` only while it exists) */
  #applied: { ip: RenderedNames; ip6?: RenderedNames } | undefined;
  readonly #endpointsFeed: SlowSetFeed<SlowEndpoint> | undefined;
  #syncedWaiters: { gen: number; resolve: () => void }[] = [];
  /** the socket balancer while it is attached */
  #socketLb: SocketLb | undefined;
  #gen = 0;

  constructor(opts: ServiceProxyOptions) {
    this.#opts = opts;
    this.table = opts.table ?? 'hedge-proxy';
    if (!/^[A-Za-z][A-Za-z0-9_-]{0,60}$/.test(this.table)) throw new HedgeError('Invalid', `service proxy table ${this.table}: letters, digits, - and _ only`);
    this.#nft = opts.nft ?? nftBinary();
    this.#log = opts.logger.child({ component: 'service-proxy' });
    const onEndpoints = opts.onEndpoints;
    this.#endpointsFeed = onEndpoints && new SlowSetFeed<SlowEndpoint>((e) => `${e.ip}/${e.protocol}/${e.port}`, onEndpoints);
    const onChange = (): void => this.#changed();
    const handlers = { onAdd: onChange, onUpdate: onChange, onDelete: onChange };
    const informers = opts.informers ?? new SharedInformerFactory({ client: opts.client, logger: this.#log });
    this.#services = informers.informer<ServiceObject>({ resource: Resources.services, ...handlers });
    this.#slices = informers.informer<EndpointSliceObject>({ resource: Resources.endpointslices, ...handlers });
    this.#loop = new DebouncedTableSync({
      what: 'service proxy',
      logger: this.#log,
      sources: [this.#services, this.#slices],
      debounceMs: opts.debounceMs,
      sync: (signal) => this.syncOnce(signal),
      removeTable: async () => {
        this.#applied = undefined;
        await this.#nft.apply(renderDelete(this.table) + renderDelete(this.table, 'ip6'));
      },
      onFailure: () => void this.stats.failures++,
    });
  }

  #changed(): void {
    this.#gen++;
    this.#loop.markDirty();
  }

  /** resolves once everything seen so far is programmed */
  async waitForSync(signal?: AbortSignal): Promise<void> {
    const gen = this.#gen;
    if (!this.#loop.dirty && this.stats.syncs > 0) return;
    await new Promise<void>((resolve, reject) => {
      this.#syncedWaiters.push({ gen, resolve });
      signal?.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
    });
  }

  /** one render + apply of the current caches */
  async syncOnce(signal?: AbortSignal): Promise<void> {
    const gen = this.#gen;
    this.#loop.markClean();
    const t0 = performance.now();
    const where = { nodeName: this.#opts.nodeName, zone: this.#opts.zone };
    const [services, slices] = [this.#services.list(), this.#slices.list()];
    const model = buildModel(services, slices, where);
    // dual-stack Services: their IPv6 ClusterIPs in an ip6 table of the same name, in the same
    // transaction; it exists only while some Service port has one (its nat hooks would otherwise
    // put every IPv6 packet of the node through conntrack for nothing)
    const model6 = buildModel(services, slices, { ...where, family: 'IPv6' });
    const prev = this.#applied;
    const rendered = renderRuleset(model, { table: this.table }, prev?.ip);
    const rendered6 = model6.length > 0 ? renderRuleset(model6, { table: this.table, family: 'ip6' }, prev?.ip6) : undefined;
    const script = rendered.script + (rendered6?.script ?? (!prev || prev.ip6 ? renderDelete(this.table, 'ip6') : ''));
    const t1 = performance.now();
    const apply = async (): Promise<void> => {
      if (script) await this.#nft.apply(script, signal);
    };
    try {
      if (this.#endpointsFeed) await this.#endpointsFeed.around(slowEndpointsOf([...model, ...model6]), apply, signal);
      else await apply();
      // after the rules: what the balancer stops holding (endpoints gone) has its DNAT in place
      if (this.#socketLb) this.stats.socketLbPorts = await this.#socketLb.sync(model, model6, signal);
    } catch (err) {
      this.#loop.markDirty();
      // the next attempt starts from a clean table: what the failed one left is unknown
      this.#applied = undefined;
      throw err;
    }
    this.#applied = { ip: rendered.names, ...(rendered6 ? { ip6: rendered6.names } : {}) };
    this.stats.syncs++;
    this.stats.lastRenderMs = t1 - t0;
    this.stats.lastApplyMs = performance.now() - t1;
    this.stats.servicePorts = model.length + model6.length;
    this.#syncedWaiters = this.#syncedWaiters.filter((w) => {
      if (w.gen > gen) return true;
      w.resolve();
      return false;
    });
  }

  /** until `signal` aborts: informers, debounced syncs; then the table is removed and the socket balancer detached */
  async run(signal: AbortSignal): Promise<void> {
    const lb = this.#opts.socketLb;
    if (lb) {
      try {
        await lb.start(signal);
        this.#socketLb = lb;
        this.stats.clusterIPPath = 'socket';
        this.#log.info({ pinDir: lb.pinDir, cgroup: lb.cgroup }, "socket balancer on: pods' connections to a ClusterIP go straight to an endpoint (gVisor, microVM, host and NodePort traffic: nftables DNAT)");
      } catch (err) {
        this.#log.warn({ err }, 'socket balancer unavailable: ClusterIP traffic takes the nftables DNAT path');
      }
    } else this.#log.info('socket balancer off: ClusterIP traffic takes the nftables DNAT path');
    try {
      await this.#loop.run(signal);
    } finally {
      // one that failed to start cleaned up after itself
      const started = this.#socketLb;
      this.#socketLb = undefined;
      this.stats.clusterIPPath = 'nftables';
      await started?.close();
    }
  }
}
