import { systemClock, type Clock } from '../../client/clock.ts';
import { Informer } from '../../client/informer.ts';
import { Resources } from '../../client/resources.ts';
import type { KubeClient } from '../../client/types.ts';
import { isHedgeError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import { EventRecorder } from '../common/events.ts';
import type { NodeObject } from '../common/types.ts';
import { CidrAllocator } from './cidr-allocator.ts';

const COMPONENT = 'node-ipam-controller';

export interface NodeIpamConfig {
  client: KubeClient;
  logger: Logger;
  clock?: Clock;
  /** the pool node ranges come from, e.g. 10.244.0.0/16 */
  clusterCidr: string;
  /** prefix length of each node's range, e.g. 24 */
  nodeCidrMaskSize: number;
}

const nodeCidrs = (n: NodeObject): string[] => n.spec?.podCIDRs ?? (n.spec?.podCIDR ? [n.spec.podCIDR] : []);

/**
 * upstream's node IPAM controller (range allocator): every Node without `spec.podCIDR` gets
 * the lowest free range of the cluster CIDR, written as `spec.podCIDR` + `spec.podCIDRs` by a
 * merge patch. The allocation map is rebuilt from the Nodes' own podCIDRs on every start (the
 * informer's initial list is seen before the first assignment), so a restart or a leader
 * failover never hands out a range a Node already holds. A deleted Node's range is freed; an
 * exhausted pool is reported as a `CIDRNotAvailable` Warning Event on the waiting Node.
 */
export class NodeIpamController {
  readonly nodes: Informer<NodeObject>;
  readonly allocator: CidrAllocator;
  readonly #client: KubeClient;
  readonly #log: Logger;
  readonly #events: EventRecorder;
  /** node name → the ranges held for it (what it has, or what we just patched in) */
  readonly #held = new Map<string, string[]>();
  #pending = false;
  #running: Promise<void> = Promise.resolve();
  #signal: AbortSignal | undefined;

  constructor(cfg: NodeIpamConfig) {
    this.allocator = new CidrAllocator({ clusterCidr: cfg.clusterCidr, nodeMaskSize: cfg.nodeCidrMaskSize });
    this.#client = cfg.client;
    this.#log = cfg.logger.child({ component: COMPONENT });
    this.#events = new EventRecorder({ client: cfg.client, component: COMPONENT, clock: cfg.clock ?? systemClock, logger: this.#log });
    this.nodes = new Informer<NodeObject>({
      client: cfg.client,
      resource: Resources.nodes,
      logger: this.#log,
      onAdd: (n) => this.#observe(n),
      onUpdate: (_, n) => this.#observe(n),
      onDelete: (n) => this.#deleted(n),
    });
  }

  async run(signal: AbortSignal): Promise<void> {
    this.#signal = signal;
    const informer = this.nodes.run(signal);
    await this.nodes.waitForSync(signal).catch(() => undefined);
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
      for (const c of prior ?? []) this.allocator.release(c);
      for (const c of has) {
        if (!this.allocator.occupy(c)) this.#log.info({ node: name, podCIDR: c }, 'node podCIDR is outside the cluster CIDR; left alone');
      }
      this.#held.set(name, has);
    }
    if (has.length === 0 && prior === undefined) this.#schedule();
  }

  #deleted(n: NodeObject): void {
    const name = n.metadata.name ?? '';
    for (const c of this.#held.get(name) ?? []) this.allocator.release(c);
    this.#held.delete(name);
    // a Node waiting on an exhausted pool may fit now
    this.#schedule();
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

  /** Give every Node without a range one; returns the names patched. */
  async syncAll(): Promise<string[]> {
    const patched: string[] = [];
    for (const node of this.nodes.list()) {
      const name = node.metadata.name ?? '';
      if (this.#signal?.aborted) break;
      if (nodeCidrs(node).length > 0 || this.#held.has(name)) continue;
      const cidr = this.allocator.allocate();
      if (cidr === undefined) {
        this.#log.warn({ node: name, clusterCidr: this.#clusterCidr() }, 'no pod CIDR left for node');
        await this.#events
          .record({ involved: { ...node, apiVersion: 'v1', kind: 'Node' }, type: 'Warning', reason: 'CIDRNotAvailable', message: `Node ${name} status is now: CIDRNotAvailable (no /${this.allocator.nodeMaskSize} left in ${this.#clusterCidr()})` }, this.#signal)
          .catch((err: unknown) => this.#log.warn({ err, node: name }, 'could not record CIDRNotAvailable event'));
        continue;
      }
      this.#held.set(name, [cidr]);
      try {
        await this.#client.patch(Resources.nodes, name, 'merge', { spec: { podCIDR: cidr, podCIDRs: [cidr] } }, { signal: this.#signal, fieldManager: COMPONENT });
        this.#log.info({ node: name, podCIDR: cidr }, 'assigned pod CIDR');
        patched.push(name);
      } catch (err) {
        // gone, or someone set a range meanwhile (podCIDR is immutable): the informer tells us what it holds
        if (this.#held.get(name)?.[0] === cidr) {
          this.allocator.release(cidr);
          this.#held.delete(name);
        }
        if (this.#signal?.aborted) break;
        if (!isHedgeError(err, 'NotFound')) this.#log.warn({ err, node: name, podCIDR: cidr }, 'could not assign pod CIDR');
      }
    }
    return patched;
  }

  #clusterCidr(): string {
    const c = this.allocator.cluster;
    return `${[24, 16, 8, 0].map((s) => Math.floor(c.base / 2 ** s) % 256).join('.')}/${c.bits}`;
  }
}
