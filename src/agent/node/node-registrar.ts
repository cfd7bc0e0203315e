import type { Node, NodeStatus } from 'kubernetes-types/core/v1.js';
import type { KubeObject } from '../../api/object.ts';
import { Backoff } from '../../client/backoff.ts';
import type { Clock } from '../../client/clock.ts';
import { SharedInformerFactory, type SharedInformer } from '../../client/shared-informers.ts';
import { Resources } from '../../client/resources.ts';
import type { KubeClient } from '../../client/types.ts';
import { isHedgeError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import { jitteredPeriod } from '../../lib/sleep.ts';
import type { ImageInfo } from '../image/types.ts';
import type { NodeConfig } from './config.ts';
import type { HostProbe } from './host-probe.ts';
import { nodeStatus, statusFingerprint, type PressureSource } from './node-status.ts';

type NodeObject = Node & KubeObject;

/** the conditions this agent posts (node-status.ts); others on the Node are someone else's */
const OWN_CONDITIONS = new Set(['MemoryPressure', 'DiskPressure', 'PIDPressure', 'Ready']);

/**
 * Registers the Node and keeps its status current: every statusUpdateFrequency (+ up to 4 %) it recomputes
 * status and patches when it changed, when the Node as stored disagrees with what it last posted
 * (the lifecycle controller set Ready to Unknown), and at least every statusReportFrequency as a
 * heartbeat. The patch is a strategic merge, as the kubelet's: conditions merge by type, so those
 * others own (the lifecycle controller's EdgeAutonomy, node-problem-detector's) stay.
 */
export class NodeRegistrar {
  private lastFingerprint = '';
  private lastReport = 0;
  private conditions: NodeStatus['conditions'] = [];
  /** this Node as the cluster stores it (a watch of it alone), once `run` has registered */
  private stored?: SharedInformer<NodeObject>;
  private uidValue?: string;
  private readonly waiters: ((uid: string) => void)[] = [];
  /** when set, Ready is False with this message */
  notReady?: string;

  constructor(
    /** `informers`: the node's shared informers; its own otherwise */
    private readonly opts: {
      client: KubeClient;
      cfg: NodeConfig;
      host: HostProbe;
      clock: Clock;
      logger: Logger;
      informers?: SharedInformerFactory;
      /** the image store's images, for NodeStatus.images */
      images?: () => Promise<ImageInfo[]>;
      /** the eviction manager: MemoryPressure, DiskPressure and PIDPressure follow its thresholds */
      pressure?: PressureSource;
    },
  ) {}

  get uid(): string | undefined {
    return this.uidValue;
  }

  /** resolves with the Node's uid once registered */
  registered(): Promise<string> {
    if (this.uidValue) return Promise.resolve(this.uidValue);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  labels(id: { hostname: string; architecture: string }): Record<string, string> {
    return {
      'kubernetes.io/hostname': this.opts.cfg.nodeName,
      'kubernetes.io/os': 'linux',
      'kubernetes.io/arch': id.architecture,
      'beta.kubernetes.io/os': 'linux',
      'beta.kubernetes.io/arch': id.architecture,
      ...this.opts.cfg.labels,
    };
  }

  /** create the Node, or adopt an existing one (labels merged); then write the first status */
  async register(signal: AbortSignal): Promise<void> {
    const { client, cfg, host } = this.opts;
    const id = await host.identity();
    const labels = this.labels(id);
    let node: NodeObject;
    try {
      node = await client.create<NodeObject>(Resources.nodes, { apiVersion: 'v1', kind: 'Node', metadata: { name: cfg.nodeName, labels } }, { signal });
    } catch (err) {
      if (!isHedgeError(err, 'AlreadyExists')) throw err;
      // adopt: a restart with unchanged labels writes nothing, so it also works offline from
      // the edgehub's cache (which refuses label changes until the cloud is back)
      node = await client.get<NodeObject>(Resources.nodes, cfg.nodeName, { signal });
      const have = node.metadata.labels ?? {};
      if (Object.entries(labels).some(([k, v]) => have[k] !== v)) {
        node = await client.patch<NodeObject>(Resources.nodes, cfg.nodeName, 'merge', { metadata: { labels } }, { signal });
      }
      this.conditions = node.status?.conditions ?? [];
    }
    await this.syncStatus(signal, true);
    this.uidValue = node.metadata.uid ?? '';
    for (const w of this.waiters.splice(0)) w(this.uidValue);
  }

  /**
   * The stored Node's conditions when one of ours there differs from what this agent last posted:
   * someone else wrote it (the lifecycle controller's Unknown while it saw no renewals). The
   * kubelet compares with the Node it fetched the same way, so it re-posts Ready within a status
   * period; comparing with our own last post alone left Unknown until the next report (5 min).
   */
  private storedIfDiffers(): NodeStatus['conditions'] | undefined {
    const node = this.stored?.get(this.opts.cfg.nodeName);
    if (!node) return undefined;
    const stored = new Map((node.status?.conditions ?? []).map((c) => [c.type, c.status]));
    const differs = (this.conditions ?? []).some((c) => OWN_CONDITIONS.has(c.type) && stored.get(c.type) !== c.status);
    return differs ? node.status?.conditions : undefined;
  }

  /** one status check; patches when changed, when the stored Node disagrees, or when the report interval passed (or `force`) */
  async syncStatus(signal: AbortSignal, force = false): Promise<boolean> {
    const { client, cfg, host, clock } = this.opts;
    const now = clock.now();
    const stored = this.storedIfDiffers();
    const status = nodeStatus({
      cfg,
      cpus: host.cpus(),
      id: await host.identity(),
      usage: await host.usage(cfg.dataDir),
      now,
      // from the stored conditions when they differ: Unknown → True is a transition, now
      previous: stored ?? this.conditions,
      notReady: this.notReady,
      ...(this.opts.images ? { images: await this.opts.images().catch(() => undefined) } : {}),
      ...(this.opts.pressure ? { pressure: this.opts.pressure } : {}),
    });
    const fp = statusFingerprint(status);
    if (!force && !stored && fp === this.lastFingerprint && now - this.lastReport < cfg.statusReportFrequencyMs) return false;
    // addresses are merged by type in the schema, which cannot drop one: replaced whole, as the kubelet does
    const patch = { status: { ...status, addresses: [...(status.addresses ?? []), { $patch: 'replace' }] } };
    await client.patch(Resources.nodes, cfg.nodeName, 'strategic', patch, { subresource: 'status', signal });
    this.lastFingerprint = fp;
    this.lastReport = now;
    this.conditions = status.conditions;
    return true;
  }

  /** register (retrying with back-off) then keep status current until `signal` aborts */
  async run(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff({ initialMs: 200, maxMs: 7_000 });
    const log = this.opts.logger;
    while (!signal.aborted && this.uidValue === undefined) {
      try {
        await this.register(signal);
      } catch (err) {
        if (signal.aborted) return;
        const d = backoff.next();
        log.warn({ err, delayMs: d }, 'node registration failed; retrying');
        await this.opts.clock.sleep(d, signal).catch(() => undefined);
      }
    }
    if (signal.aborted) return;
    // the kubelet's node informer: its own Node alone (served by the edgehub's replica offline)
    const informers = this.opts.informers ?? new SharedInformerFactory({ client: this.opts.client, logger: log, clock: this.opts.clock });
    this.stored = informers.informer<NodeObject>({ resource: Resources.nodes, fieldSelector: `metadata.name=${this.opts.cfg.nodeName}` });
    const watching = this.stored.run(signal);
    try {
      await this.statusLoop(signal);
    } finally {
      await watching;
    }
  }

  private async statusLoop(signal: AbortSignal): Promise<void> {
    const log = this.opts.logger;
    while (!signal.aborted) {
      try {
        // jittered as the kubelet's status loop (wait.JitterUntil, 0.04), for the reason NodeLease is
        await this.opts.clock.sleep(jitteredPeriod(this.opts.cfg.statusUpdateFrequencyMs), signal);
      } catch {
        return;
      }
      try {
        await this.syncStatus(signal);
      } catch (err) {
        if (signal.aborted) return;
        log.warn({ err }, 'node status update failed');
      }
    }
  }
}
