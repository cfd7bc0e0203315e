import { join } from 'node:path';
import { systemClock, type Clock } from '../client/clock.ts';
import type { KubeClient } from '../client/types.ts';
import { Resources } from '../client/resources.ts';
import { SharedInformerFactory } from '../client/shared-informers.ts';
import type { KubeObject } from '../api/object.ts';
import type { Logger } from '../lib/log.ts';
import { Registry } from '../lib/prom.ts';
import { defaultImageGCPolicy, ImageGCManager, statfsImageFs, type ImageFsStats, type ImageGCPolicy } from './image/image-gc.ts';
import type { ImageStore } from './image/types.ts';
import { NodeLease } from './lease/node-lease.ts';
import type { NetworkPlugin } from './network/types.ts';
import { defaultNodeConfig, type NodeConfig } from './node/config.ts';
import { nodeAllocatable } from './node/allocatable.ts';
import { checkReservation, enforcePodsCgroupLimits, podsCgroupLimits, readPidMax, type EnforcePodsCgroupOptions } from './node/pods-cgroup.ts';
import { HedgeError } from '../lib/errors.ts';
import { systemHostProbe, type HostProbe } from './node/host-probe.ts';
import type { PressureSource } from './node/node-status.ts';
import { EvictionManager } from './eviction/eviction-manager.ts';
import { hostSignals } from './eviction/host-signals.ts';
import { runtimePodUsage } from './eviction/pod-usage.ts';
import { DEFAULT_PRESSURE_TRANSITION_MS, parseThresholdConfig, type Threshold } from './eviction/thresholds.ts';
import { NodeRegistrar } from './node/node-registrar.ts';
import { defaultPodSyncConfig, type PodSyncConfig } from './podsync/config.ts';
import { EventRecorder } from '../client/event-recorder.ts';
import { LogRotationManager } from './logs/rotation-manager.ts';
import { PodSync } from './podsync/pod-sync.ts';
import { StaticPodSource } from './staticpods/file-source.ts';
import { MirrorPods } from './staticpods/mirror-pods.ts';
import type { PodSyncDeps } from './podsync/types.ts';
import { logStartupPhase } from './podsync/start-trace.ts';
import type { RuntimeHandler } from './runtime/types.ts';
import { startNodeServer, type NodeServer, type RouteHandler } from './server/node-server.ts';
import { apiAccessReviews } from './server/auth/access-reviews.ts';
import type { NodeServerAuth } from './server/types.ts';
import type { Snapshotter } from './snapshot/types.ts';
import { StatsCollector } from './stats/collector.ts';
import { statsRoutes } from './server/stats-routes.ts';
import { PodStorageCache } from './stats/pod-storage.ts';
import { LocalPathVolumes } from './volumes/local-path.ts';
import { systemMounter } from './volumes/mounter.ts';
import type { Mounter } from './volumes/types.ts';

export interface AgentConfig {
  nodeName: string;
  dataDir: string;
  labels: Record<string, string>;
  internalIP?: string;
  podsPerNode: number;
  /** kube-reserved + system-reserved: held back from allocatable and from the pods cgroup's limits */
  reserved: NodeConfig['reserved'];
  /**
   * the pods' parent cgroup (cgroupRoot under each v1 controller of `cgroupFs`) limited to node
   * allocatable, the kubelet's enforceNodeAllocatable (node/pods-cgroup.ts): with `enforcePods`
   * capacity − reserved, without it capacity. Unset: no limits are written (an agent in a test).
   */
  podsCgroupLimits?: { cgroupFs: string; enforcePods: boolean };
  /** node-pressure eviction and local-storage limits (eviction/): the kubelet's eviction settings */
  eviction: AgentEvictionConfig;
  statusUpdateFrequencyMs: number;
  statusReportFrequencyMs: number;
  leaseDurationSeconds: number;
  leaseRenewIntervalMs: number;
  backoff: { baseMs: number; maxMs: number; resetMs: number };
  podResyncMs: number;
  /** a steady pod's re-check period when its runtime reports exits (PodSyncConfig.idleResyncMs) */
  podIdleResyncMs?: number;
  defaultRuntimeHandler: string;
  clusterDNS: string[];
  clusterDomain: string;
  hostResolvConf: string;
  netnsDir: string;
  cgroupRoot: string;
  volumeRefreshMs: number;
  /** CRI log rotation (kubelet containerLogMaxSize / containerLogMaxFiles) */
  containerLogMaxSizeBytes?: number;
  containerLogMaxFiles?: number;
  /** image garbage collection (the kubelet's imageGC* settings); defaults: 85 %, 80 %, 2 min, off */
  imageGC?: ImageGCPolicy;
  /** a path on the filesystem holding the image store (what image GC measures); default dataDir */
  imageFsPath?: string;
  server: { host: string; port: number; tls?: { cert: string; key: string; ca?: string }; auth: NodeServerAuth };
  /** the kubelet's staticPodPath: pods run from the manifests of this directory, no apiserver needed (staticpods/) */
  staticPodPath?: string;
  /** its full re-read period beside fs.watch (the kubelet's fileCheckFrequency, 20 s) */
  staticPodRescanMs?: number;
}

export interface AgentEvictionConfig {
  /** evictionHard + evictionSoft (with grace periods) + evictionMinimumReclaim, parsed (parseThresholdConfig) */
  thresholds: Threshold[];
  /** evictionMaxPodGracePeriod (s) */
  maxPodGracePeriodSeconds: number;
  /** evictionPressureTransitionPeriod */
  pressureTransitionPeriodMs: number;
  /** the image store's directory (imagefs); default <dataDir>/images */
  imageDir?: string;
  /** how often the manager synchronizes (default 10 s, upstream's) */
  monitoringIntervalMs?: number;
}

export const defaultEvictionConfig = (): AgentEvictionConfig => ({
  thresholds: parseThresholdConfig({}),
  maxPodGracePeriodSeconds: 0,
  pressureTransitionPeriodMs: DEFAULT_PRESSURE_TRANSITION_MS,
});

export type AgentConfigInput = Partial<Omit<AgentConfig, 'nodeName' | 'dataDir'>> & Pick<AgentConfig, 'nodeName' | 'dataDir'>;

export function resolveAgentConfig(input: AgentConfigInput): AgentConfig {
  const node = defaultNodeConfig(input.nodeName, input.dataDir);
  const ps = defaultPodSyncConfig(input.nodeName, input.dataDir);
  return {
    labels: {},
    podsPerNode: node.maxPods,
    reserved: node.reserved,
    eviction: defaultEvictionConfig(),
    statusUpdateFrequencyMs: node.statusUpdateFrequencyMs,
    statusReportFrequencyMs: node.statusReportFrequencyMs,
    leaseDurationSeconds: 40,
    leaseRenewIntervalMs: 10_000,
    backoff: { baseMs: ps.backoffBaseMs, maxMs: ps.backoffMaxMs, resetMs: ps.backoffResetMs },
    podResyncMs: ps.resyncMs,
    podIdleResyncMs: ps.idleResyncMs,
    defaultRuntimeHandler: ps.defaultHandler,
    clusterDNS: ps.clusterDNS,
    clusterDomain: ps.clusterDomain,
    hostResolvConf: ps.hostResolvConf,
    netnsDir: ps.netnsDir,
    cgroupRoot: ps.cgroupRoot,
    volumeRefreshMs: ps.volumeRefreshMs,
    server: { host: '0.0.0.0', port: 10250, auth: { clientCerts: true, authorization: 'Webhook' } },
    ...input,
  };
}

export interface AgentDeps {
  client: KubeClient;
  runtimes: Map<string, RuntimeHandler>;
  network: NetworkPlugin;
  images: ImageStore;
  snapshotter: Snapshotter;
  logger: Logger;
  clock?: Clock;
  mounter?: Mounter;
  host?: HostProbe;
  /** extra node-server routes, e.g. /stats/summary */
  routes?: Map<string, RouteHandler>;
  /** more registries served on the node's /metrics beside the process metrics (e.g. the log shipper's) */
  metrics?: Registry[];
  /** network namespaces made ahead of the pods (PodSyncDeps.netnsPool) */
  netnsPool?: PodSyncDeps['netnsPool'];
  /**
   * The node process's shared informers (one list+watch per resource and selectors for the agent,
   * the service proxy, cluster DNS...); the agent makes its own otherwise and shuts it down when it stops.
   */
  informers?: SharedInformerFactory;
  /** usage of the image filesystem (tests); statfs of imageFsPath otherwise */
  imageFs?: () => Promise<ImageFsStats>;
}

export interface Agent {
  /** settles once every loop stopped after `signal` aborted */
  done: Promise<void>;
  podSync: PodSync;
  registrar: NodeRegistrar;
  lease: NodeLease;
  server: NodeServer;
  /**
   * The image garbage collector: runs every 5 min on its own; `freeSpace(bytes)` and
   * `deleteUnusedImages()` are for whoever needs disk now (the eviction manager under DiskPressure).
   */
  imageGC: ImageGCManager;
  /** the node-pressure eviction manager (eviction/) */
  eviction: EvictionManager;
}

/** Wires node registration, the lease, pod sync and the node server; runs until `signal` aborts. */
export async function startAgent(input: AgentConfigInput, deps: AgentDeps, signal: AbortSignal): Promise<Agent> {
  const cfg = resolveAgentConfig(input);
  const clock = deps.clock ?? systemClock;
  const logger = deps.logger.child({ component: 'agent', node: cfg.nodeName });
  const host = deps.host ?? systemHostProbe();
  const nodeCfg: NodeConfig = {
    nodeName: cfg.nodeName,
    dataDir: cfg.dataDir,
    labels: cfg.labels,
    internalIP: cfg.internalIP,
    kubeletPort: cfg.server.port,
    maxPods: cfg.podsPerNode,
    reserved: cfg.reserved,
    hardEvictionThresholds: cfg.eviction.thresholds,
    statusUpdateFrequencyMs: cfg.statusUpdateFrequencyMs,
    statusReportFrequencyMs: cfg.statusReportFrequencyMs,
    runtimeHandlers: [...deps.runtimes.keys()],
  };
  const podCfg: PodSyncConfig = {
    nodeName: cfg.nodeName,
    dataDir: cfg.dataDir,
    defaultHandler: cfg.defaultRuntimeHandler,
    backoffBaseMs: cfg.backoff.baseMs,
    backoffMaxMs: cfg.backoff.maxMs,
    backoffResetMs: cfg.backoff.resetMs,
    resyncMs: cfg.podResyncMs,
    idleResyncMs: cfg.podIdleResyncMs,
    hostIP: cfg.internalIP,
    hostResolvConf: cfg.hostResolvConf,
    clusterDNS: cfg.clusterDNS,
    clusterDomain: cfg.clusterDomain,
    cgroupRoot: cfg.cgroupRoot,
    netnsDir: cfg.netnsDir,
    volumeRefreshMs: cfg.volumeRefreshMs,
  };
  const informers = deps.informers ?? new SharedInformerFactory({ client: deps.client, logger, clock });
  // the pressure conditions (and pod admission under them) are the eviction manager's, made below once pod sync exists
  const made: { eviction?: EvictionManager } = {};
  const pressure: PressureSource = { underPressure: (c) => made.eviction?.underPressure(c) ?? false };
  const registrar = new NodeRegistrar({ client: deps.client, cfg: nodeCfg, host, clock, logger: logger.child({ component: 'node' }), informers, pressure, images: () => deps.images.list() });
  const lease = new NodeLease({
    client: deps.client,
    nodeName: cfg.nodeName,
    clock,
    logger: logger.child({ component: 'lease' }),
    leaseDurationSeconds: cfg.leaseDurationSeconds,
    renewIntervalMs: cfg.leaseRenewIntervalMs,
    nodeUid: async () => registrar.uid,
    // heartbeats the cloud missed are journaled here and reported on reconnect (edge autonomy evidence)
    journalPath: join(cfg.dataDir, 'lease', 'offline-heartbeats.json'),
    // the controller marked the node Unknown meanwhile: post status now, not at the next report interval
    onReconnect: async (s) => {
      if (registrar.uid !== undefined) await registrar.syncStatus(s, true);
    },
  });
  const usage = await host.usage(cfg.dataDir).catch(() => undefined);
  const podsCgroupLoop = podsCgroupEnforcement(cfg, host.cpus(), usage?.memory.totalBytes, usage?.disk.totalBytes, logger);
  const localPath = new LocalPathVolumes({ dataDir: cfg.dataDir });
  const events = new EventRecorder({ client: deps.client, component: 'kubelet', host: cfg.nodeName, instance: cfg.nodeName, clock, logger, failureLevel: 'debug' });
  const podSync = new PodSync(
    {
      client: deps.client,
      informers,
      runtimes: deps.runtimes,
      network: deps.network,
      ...(deps.netnsPool ? { netnsPool: deps.netnsPool } : {}),
      images: deps.images,
      snapshotter: deps.snapshotter,
      mounter: deps.mounter ?? systemMounter(),
      localPath,
      logger,
      clock,
      events,
      // what the node status reports (the kubelet admits against node.status.allocatable)
      nodeAllocatable: nodeAllocatable({ cpuMilli: host.cpus() * 1000, memoryBytes: usage?.memory.totalBytes ?? 0, ephemeralStorageBytes: usage?.disk.totalBytes ?? 0 }, cfg.reserved, cfg.eviction.thresholds),
      // the eviction manager's admit handler: no new pod under DiskPressure/PIDPressure, no BestEffort one under MemoryPressure
      admitHandlers: [{ admit: (p) => made.eviction?.admit(p) ?? { admit: true } }],
    },
    podCfg,
  );
  // the node server's delegated TokenReview / SubjectAccessReview counts (the kubelet's names)
  const serverMetrics = new Registry();
  const imageGC = new ImageGCManager({
    images: deps.images,
    imageFs: deps.imageFs ?? statfsImageFs(cfg.imageFsPath ?? cfg.dataDir),
    imagesInUse: (s) => podSync.imagesInUse(s),
    policy: cfg.imageGC ?? defaultImageGCPolicy(),
    clock,
    logger,
    events,
    nodeName: cfg.nodeName,
    metrics: serverMetrics,
  });
  // the pods' disk figures (writable layers, logs, volumes, hosts file): walked once, for /stats/summary and the eviction manager
  const podStorage = new PodStorageCache({ pods: podSync, snapshotter: deps.snapshotter, dataDir: cfg.dataDir, clock, logger });
  // decides on local readings only: it goes on evicting while the cloud is away
  const eviction = new EvictionManager(
    {
      thresholds: cfg.eviction.thresholds,
      maxPodGracePeriodSeconds: cfg.eviction.maxPodGracePeriodSeconds,
      pressureTransitionPeriodMs: cfg.eviction.pressureTransitionPeriodMs,
      ...(cfg.eviction.monitoringIntervalMs !== undefined ? { monitoringIntervalMs: cfg.eviction.monitoringIntervalMs } : {}),
    },
    {
      nodeName: cfg.nodeName,
      signals: hostSignals({
        host,
        dataDir: cfg.dataDir,
        imageDir: cfg.eviction.imageDir ?? join(cfg.dataDir, 'images'),
        clock,
        // allocatableMemory.available: the pods' parent cgroup (every pod's <cgroupRoot>/pod<uid>) against allocatable
        podsCgroup: { root: '/sys/fs/cgroup', path: cfg.cgroupRoot },
        reservedMemoryBytes: cfg.reserved.memoryBytes,
      }),
      usage: runtimePodUsage({ pods: podSync, storage: podStorage, logger }),
      pods: podSync,
      events,
      clock,
      logger,
      metrics: serverMetrics,
      imageGC,
    },
  );
  const server = await startNodeServer({
    ...cfg.server,
    nodeName: cfg.nodeName,
    // asked as the node, through its client (the hub on an edge node)
    reviews: apiAccessReviews(deps.client),
    pods: podSync,
    localPath,
    logger,
    now: () => clock.now(),
    metrics: serverMetrics,
    routes: new Map([...statsRoutes(new StatsCollector({ nodeName: cfg.nodeName, pods: podSync, logger, fsPath: cfg.dataDir, storage: podStorage }), [serverMetrics, ...(deps.metrics ?? [])]), ...(deps.routes ?? [])]),
  });
  made.eviction = eviction;
  // port 0 = any free port: advertise the one actually bound (the registrar reads nodeCfg when it writes status)
  nodeCfg.kubeletPort = server.port;
  // container logs of every runtime that can reopen them (kubelet defaults: 10 MiB, 5 files)
  const logRotation = new LogRotationManager({
    source: podSync,
    logger: logger.child({ component: 'log-rotation' }),
    ...(cfg.containerLogMaxSizeBytes !== undefined ? { maxSizeBytes: cfg.containerLogMaxSizeBytes } : {}),
    ...(cfg.containerLogMaxFiles !== undefined ? { maxFiles: cfg.containerLogMaxFiles } : {}),
  });
  const staticLoops: Promise<void>[] = [];
  if (cfg.staticPodPath) {
    const mirrors = new MirrorPods({
      client: deps.client,
      nodeName: cfg.nodeName,
      nodeUid: () => registrar.uid,
      informers,
      logger,
      onCreated: (uid) => podSync.worker(uid)?.resendStatus(),
    });
    const source = new StaticPodSource({
      dir: cfg.staticPodPath,
      nodeName: cfg.nodeName,
      logger,
      ...(cfg.staticPodRescanMs !== undefined ? { rescanMs: cfg.staticPodRescanMs } : {}),
      now: () => clock.now(),
      // upstream only logs it; an Event on the Node says it where kubectl shows it too
      onInvalid: (file, error) =>
        events.emit({ involved: { apiVersion: 'v1', kind: 'Node', metadata: { name: cfg.nodeName, uid: cfg.nodeName } }, type: 'Warning', reason: 'FailedStaticPod', message: `${file}: ${error}` }),
    });
    // before the API gate below: static pods run whether or not the cloud was ever reached
    staticLoops.push(
      source.run(signal, (pods) => {
        mirrors.setStatic(pods);
        void podSync.setStaticPods(pods, signal, (p) => mirrors.mirrorOf(p) !== undefined).catch((err: unknown) => logger.error({ err }, 'starting static pods failed'));
      }),
      mirrors.run(signal),
    );
  }
  const loops = [
    ...staticLoops,
    ...(podsCgroupLoop ? [podsCgroupLoop({ events, clock, nodeName: cfg.nodeName }, signal)] : []),
    registrar.run(signal),
    lease.run(signal),
    logRotation.run(signal),
    imageGC.run(signal),
    eviction.run(signal),
    (async () => {
      // Pods are only run once the Node exists (the scheduler binds to it; status needs it). A
      // Node that exists already (any restart; offline, the hub's cached copy) is enough: its
      // pods start beside the registration writes instead of after them.
      const existing = deps.client.get<KubeObject>(Resources.nodes, cfg.nodeName, { signal }).then(
        (n) => n.metadata.uid ?? '',
        () => new Promise<string>(() => undefined),
      );
      const registered = await Promise.race([
        registrar.registered(),
        existing,
        new Promise<undefined>((resolve) => signal.addEventListener('abort', () => resolve(undefined), { once: true })),
      ]);
      if (registered === undefined) return;
      logStartupPhase(logger, 'node known (cached or registered)');
      await podSync.run(signal);
    })(),
  ];
  const done = Promise.allSettled(loops).then(async (results) => {
    if (informers !== deps.informers) await informers.shutdown();
    await server.close();
    for (const r of results) if (r.status === 'rejected') logger.error({ err: r.reason }, 'agent loop failed');
  });
  return { done, podSync, registrar, lease, server, imageGC, eviction };
}

/**
 * The pods cgroup's limits (podsCgroupLimits): checks the reservation against the capacity first
 * (upstream's validateNodeAllocatable: a reservation larger than the node refuses the start), then
 * returns the loop that writes them, retrying while the kernel refuses. undefined when not asked,
 * or when the node's memory could not be read (logged).
 */
function podsCgroupEnforcement(
  cfg: AgentConfig,
  cpus: number,
  memoryBytes: number | undefined,
  diskBytes: number | undefined,
  logger: Logger,
): ((o: Pick<EnforcePodsCgroupOptions, 'events' | 'clock' | 'nodeName'>, signal: AbortSignal) => Promise<void>) | undefined {
  const want = cfg.podsCgroupLimits;
  if (!want) return undefined;
  if (!memoryBytes) {
    logger.warn({ cgroup: cfg.cgroupRoot }, 'node memory unknown: the pods cgroup gets no node allocatable limits');
    return undefined;
  }
  const capacity = { cpuMilli: cpus * 1000, memoryBytes, ephemeralStorageBytes: diskBytes ?? 0, pids: readPidMax() };
  const bad = checkReservation(capacity, cfg.reserved, cfg.eviction.thresholds);
  if (bad) throw new HedgeError('Invalid', bad);
  const limits = podsCgroupLimits(capacity, cfg.reserved, want.enforcePods);
  return (o, signal) => enforcePodsCgroupLimits({ ...o, cgroupFs: want.cgroupFs, cgroup: cfg.cgroupRoot, limits, logger }, signal);
}
