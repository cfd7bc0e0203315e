import { systemClock, type Clock } from '../../client/clock.ts';
import { SharedInformerFactory, type SharedInformer } from '../../client/shared-informers.ts';
import { Resources } from '../../client/resources.ts';
import type { KubeClient } from '../../client/types.ts';
import { isHedgeError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import { EventRecorder } from '../common/events.ts';
import type { NodeObject } from '../common/types.ts';
import { formatCidr } from '../../lib/cidr.ts';
import { forEachConcurrent } from '../../lib/concurrent.ts';
import { CidrAllocator } from './cidr-allocator.ts';
import { parseClusterCidrs } from './cluster-cidrs.ts';

const COMPONENT = 'node-ipam-controller';
/** Node patches (or Events) in flight at once in a pass */
const WRITERS = 16;

export interface NodeIpamConfig {
  client: KubeClient;
  logger: Logger;
  clock?: Clock;
  /** the process's shared informers (default: a factory of its own) */
  informerFactory?: SharedInformerFactory;
  /** the pools node ranges come from: 10.244.0.0/16, or dual-stack 10.244.0.0/16,fd00:10:244::/56 */
  clusterCidr: string;
  /** prefix length of each node's IPv4 range, e.g. 24 */
  nodeCidrMaskSize: number;
  /** prefix length of each node's IPv6 range (dual-stack); default 64 */
  nodeCidrMaskSizeIpv6?: number;
}

const nodeCidrs = (n: NodeObject): string[] => n.spec?.podCIDRs ?? (n.spec?.podCIDR ? [n.spec.podCIDR] : []);

/**
 * upstream's node IPAM controller (range allocator): every Node without `spec.podCIDR` gets
 * the lowest free range of the cluster CIDR, written as `spec.podCIDR` + `spec.podCIDRs` by a
 * merge patch. Dual-stack (an IPv4 and an IPv6 cluster CIDR) gives one range of each family,
 * `podCIDRs` [IPv4, IPv6] with `podCIDR` the IPv4 one; a Node that already has ranges keeps them
 * as they are (upstream: podCIDRs are immutable), so nodes from before a switch to dual-stack stay
 * IPv4-only until they are re-registered. The allocation map is rebuilt from the Nodes' own
 * podCIDRs on every start (the informer's initial list is seen before the first assignment), so
 * a restart or a leader failover never hands out a range a Node already holds. A deleted Node's range is freed; an
 * exhausted pool is reported once per waiting Node as a `CIDRNotAvailable` Warning Event, and the
 * waiting Nodes are looked at again when a range is freed (not on each of their status updates).
 * A pass looks only at the Nodes queued since the last one, so registering N nodes costs O(N).
 */
export class NodeIpamController {
  readonly nodes: SharedInformer<NodeObject>;
  /** one per cluster CIDR, in --cluster-cidr order (IPv4 first) */
  readonly allocators: CidrAllocator[];
  readonly #client: KubeClient;
  readonly #log: Logger;
  readonly #events: EventRecorder;
  /** node name → the ranges held for it (what it has, or what we just patched in) */
  readonly #held = new Map<string, string[]>();
  /** nodes without a range to look at in the next pass */
  readonly #queue = new Set<string>();
  /**
   * nodes told the pool is exhausted (one Event each): they are looked at again only when a
   * range is freed, not on every update of theirs (a status update every few seconds from
   * thousands of waiting nodes would otherwise be a pass over all of them, and an Event each)
   */
  readonly #waiting = new Set<string>();
  /** waiting nodes that have had their Event (a retry that finds the pool still empty adds none) */
  readonly #told = new Set<string>();
  #pending = false;
  #running: Promise<void> = Promise.resolve();
  #signal: AbortSignal | undefined;

  constructor(cfg: NodeIpamConfig) {
    this.allocators = parseClusterCidrs(cfg.clusterCidr).map(
      (c) => new CidrAllocator({ clusterCidr: formatCidr(c), nodeMaskSize: c.family === 4 ? cfg.nodeCidrMaskSize : (cfg.nodeCidrMaskSizeIpv6 ?? 64) }),
    );
    this.#client = cfg.client;
    this.#log = cfg.logger.child({ component: COMPONENT });
    this.#events = new EventRecorder({ client: cfg.client, component: COMPONENT, clock: cfg.clock ?? systemClock, logger: this.#log });
    const factory = cfg.informerFactory ?? new SharedInformerFactory({ client: cfg.client, logger: this.#log, clock: cfg.clock });
    this.nodes = factory.informer<NodeObject>({
      resource: Resources.nodes,
      onAdd: (n) => this.#observe(n),
      onUpdate: (_, n) => this.#observe(n),
      onDelete: (n) => this.#deleted(n),
    });
  }

  async run(signal: AbortSignal): Promise<void> {
    this.#signal = signal;
    const informer = this.nodes.run(signal);
    await this.nodes.waitForSync(signal).catch(() => undefined);
    for (const n of this.nodes.list()) this.#queue.add(n.metadata.name ?? '');
    this.#schedule();
    await informer;
    await this.#running;
  }

  /** the ranges currently held, by node name (for tests and debugging) */
  held(): Map<string, string[]> {
    return new Map(this.#held);
  }

  #observe(n: NodeObject): void {
    const name = n.metadata.name ?? '';
    const has = nodeCidrs(n);
    const prior = this.#held.get(name);
    if (has.length > 0 && (prior === undefined || prior.join(',') !== has.join(','))) {
      // what the Node says wins over what we thought we gave it
      this.#waiting.delete(name);
      this.#told.delete(name);
      this.#queue.delete(name);
      for (const c of prior ?? []) this.#release(c);
      for (const c of has) {
        if (!this.allocators.some((a) => a.occupy(c))) this.#log.info({ node: name, podCIDR: c }, 'node podCIDR is outside the cluster CIDR; left alone');
      }
      this.#held.set(name, has);
    }
    if (has.length === 0 && prior === undefined && !this.#waiting.has(name) && !this.#queue.has(name)) {
      this.#queue.add(name);
      this.#schedule();
    }
  }

  #deleted(n: NodeObject): void {
    const name = n.metadata.name ?? '';
    this.#waiting.delete(name);
    this.#told.delete(name);
    this.#queue.delete(name);
    for (const c of this.#held.get(name) ?? []) this.#release(c);
    this.#held.delete(name);
  }

  /** one pass at a time; changes during a pass cause one more */
  #schedule(): void {
    if (!this.#signal || this.#signal.aborted || !this.nodes.hasSynced() || this.#pending) return;
    this.#pending = true;
    this.#running = this.#running.then(async () => {
      this.#pending = false;
      await this.syncAll();
    });
  }

  /**
   * Gives every queued Node without a range one; returns the names patched. The ranges are taken
   * in queue order first, then written by up to WRITERS patches at a time (upstream runs 30 CIDR
   * update workers): one at a time, 3,000 registering nodes waited ~30 s for the last range.
   */
  async syncAll(): Promise<string[]> {
    const patched: string[] = [];
    let exhausted: CidrAllocator | undefined;
    const writes: (() => Promise<void>)[] = [];
    const names = [...this.#queue];
    this.#queue.clear();
    for (const name of names) {
      const node = this.nodes.get(name);
      if (node === undefined || nodeCidrs(node).length > 0 || this.#held.has(name)) continue;
      // one range per family, or none at all
      const cidrs: string[] = [];
      const empty = this.allocators.find((a) => {
        const c = a.allocate();
        if (c !== undefined) cidrs.push(c);
        return c === undefined;
      });
      if (empty) {
        for (const c of cidrs) this.#free(c);
        exhausted = empty;
        this.#waiting.add(name);
        if (this.#told.has(name)) continue;
        this.#told.add(name);
        writes.push(() =>
          this.#events
            .record({ involved: { ...node, apiVersion: 'v1', kind: 'Node' }, type: 'Warning', reason: 'CIDRNotAvailable', message: `Node ${name} status is now: CIDRNotAvailable (no /${empty.nodeMaskSize} left in ${empty.toString()})` }, this.#signal)
            .catch((err: unknown) => this.#log.warn({ err, node: name }, 'could not record CIDRNotAvailable event')),
        );
        continue;
      }
      this.#held.set(name, cidrs);
      this.#told.delete(name);
      writes.push(async () => {
        try {
          await this.#client.patch(Resources.nodes, name, 'merge', { spec: { podCIDR: cidrs[0], podCIDRs: cidrs } }, { signal: this.#signal, fieldManager: COMPONENT });
          this.#log.info({ node: name, podCIDRs: cidrs }, 'assigned pod CIDR');
          patched.push(name);
        } catch (err) {
          // gone, or someone set a range meanwhile (podCIDR is immutable): the informer tells us what it holds
          if (this.#held.get(name) === cidrs) {
            for (const c of cidrs) this.#free(c);
            this.#held.delete(name);
          }
          if (!this.#signal?.aborted && !isHedgeError(err, 'NotFound')) this.#log.warn({ err, node: name, podCIDRs: cidrs }, 'could not assign pod CIDR');
        }
      });
    }
    await forEachConcurrent(writes, WRITERS, (write) => write(), this.#signal);
    if (exhausted) this.#log.warn({ waiting: this.#waiting.size, clusterCidr: exhausted.toString() }, 'no pod CIDR left: nodes wait for one to be freed');
    return patched;
  }

  /** the allocator of the range's family frees it (the others ignore it) */
  #free(cidr: string): void {
    for (const a of this.allocators) a.release(cidr);
  }

  /** frees a range a Node held: nodes waiting for one try again */
  #release(cidr: string): void {
    this.#free(cidr);
    if (this.#waiting.size === 0) return;
    for (const name of this.#waiting) this.#queue.add(name);
    this.#waiting.clear();
    this.#schedule();
  }
}
