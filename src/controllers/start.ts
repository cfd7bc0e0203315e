import { setMaxListeners } from 'node:events';
import { hostname } from 'node:os';
import type { Logger } from '../lib/log.ts';
import type { Clock } from '../client/clock.ts';
import { stripManagedFields } from '../client/informer.ts';
import { LeaderElector } from '../client/leader-election.ts';
import { SharedInformerFactory } from '../client/shared-informers.ts';
import type { KubeClient } from '../client/types.ts';
import { ClusterRoleAggregationController } from './clusterroleaggregation/controller.ts';
import { RootCaCertPublisher } from './rootcacert/controller.ts';
import { EndpointSliceController, type EndpointSliceControllerConfig } from './endpointslice/controller.ts';
import { NodeIpamController, type NodeIpamConfig } from './ipam/controller.ts';
import { NodeLifecycleController, type NodeLifecycleConfig } from './nodelifecycle/controller.ts';
import { Scheduler, type SchedulerConfig } from './scheduler/scheduler.ts';
import { WorkloadControllers, type WorkloadControllersConfig } from './workloads/manager.ts';
import { DisruptionController } from './disruption/controller.ts';
import { HpaController, metricsApiSource, type HpaControllerConfig } from './hpa/index.ts';
import { SharedInformers } from './workloads/informers.ts';
import { ResourceQuotaController, type ResourceQuotaControllerConfig } from './resourcequota/controller.ts';
import { VolumeControllers, nodeProxyDeleter, type RawApiRequester, type VolumeControllersConfig } from './volume/index.ts';

export interface LeaderElectionOptions {
  /** default kube-system */
  namespace?: string;
  /** default: hostname + pid */
  identity?: string;
  leaseDurationSeconds?: number;
  renewDeadlineSeconds?: number;
  retryPeriodSeconds?: number;
}

type Tunables<T> = Omit<T, 'client' | 'logger' | 'clock' | 'informerFactory'>;

export interface ControllersOptions {
  client: KubeClient;
  logger: Logger;
  signal: AbortSignal;
  clock?: Clock;
  /** false disables; an object tunes it */
  scheduler?: false | Tunables<SchedulerConfig>;
  nodeLifecycle?: false | Tunables<NodeLifecycleConfig>;
  /** assigns each Node a `spec.podCIDR` from the cluster CIDR; off unless given */
  nodeIpam?: false | Tunables<NodeIpamConfig>;
  /** keeps aggregated ClusterRoles (admin, edit, view, ...) current; false disables */
  clusterRoleAggregation?: false;
  /** publishes the cluster's root CA as `kube-root-ca.crt` in every namespace (for the pods' service account volume); off unless given */
  rootCaCert?: { rootCa: string };
  /** deployment, replicaset, daemonset, statefulset, job, cronjob and garbage collection */
  workloads?: false | Tunables<WorkloadControllersConfig>;
  /** HorizontalPodAutoscalers from metrics.k8s.io (sync period, tolerance; a metrics source for tests); false disables */
  hpa?: false | Partial<Omit<HpaControllerConfig, 'client' | 'logger' | 'clock' | 'informers'>>;
  /** PodDisruptionBudget status (expected/healthy pods, disruptionsAllowed), which the eviction subresource spends; false disables */
  disruption?: false;
  /** EndpointSlices and Endpoints for Services with selectors; false disables */
  endpointSlices?: false | Tunables<EndpointSliceControllerConfig>;
  /** ResourceQuota status (hard, used), recounted on changes and every resync period; false disables */
  resourceQuota?: false | Omit<ResourceQuotaControllerConfig, 'client' | 'logger' | 'informerFactory'>;
  /**
   * the PV controller (binding, local-path provisioning, reclaim) and pvc/pv protection; false
   * disables. Local-path directories are deleted through the node proxy when the client can
   * make raw requests (HttpKubeClient), unless a `deleter` is given.
   */
  volumes?: false | Tunables<VolumeControllersConfig>;
  /**
   * when set, the scheduler runs only while it holds the Lease `hedge-scheduler` and every other
   * controller while it holds `hedge-controller-manager`, so several `hedge server`s can run side by side
   */
  leaderElection?: LeaderElectionOptions;
}

export interface RunningControllers {
  /** resolves when every controller has stopped (after `signal` aborts) */
  done: Promise<void>;
  scheduler?: Scheduler;
  nodeLifecycle?: NodeLifecycleController;
  nodeIpam?: NodeIpamController;
  clusterRoleAggregation?: ClusterRoleAggregationController;
  rootCaCert?: RootCaCertPublisher;
  workloads?: WorkloadControllers;
  hpa?: HpaController;
  disruption?: DisruptionController;
  endpointSlices?: EndpointSliceController;
  resourceQuota?: ResourceQuotaController;
  volumes?: VolumeControllers;
}

/** the scheduler's Lease, and the one every other controller runs under (kube-scheduler's and kube-controller-manager's) */
export const SCHEDULER_LEASE = 'hedge-scheduler';
export const CONTROLLER_MANAGER_LEASE = 'hedge-controller-manager';

/** Start the cloud-side controllers. Nothing here reads env or flags: the CLI passes config. */
export function startControllers(opts: ControllersOptions): RunningControllers {
  const { client, logger, signal, clock } = opts;
  const identity = opts.leaderElection?.identity ?? `${hostname()}_${process.pid}`;
  const runs: Promise<void>[] = [];
  const out: RunningControllers = { done: Promise.resolve() };
  // kube-controller-manager's one informer factory: one watch and cache per resource for every
  // controller of this process. An informer runs while some controller that leads uses it (a
  // follower holds no watch), each controller's handlers come and go with its terms. No
  // controller reads managedFields, so the caches keep objects without them (client-go's
  // TransformStripManagedFields; a write built from a cached copy keeps the stored entries).
  // They are a large part of a Node's objects: with 10,000 nodes, every major GC of
  // `hedge server`, which runs these controllers, marked them.
  const informerFactory = new SharedInformerFactory({ client, logger: logger.child({ component: 'shared-informers' }), clock, transform: stripManagedFields });

  // kube-scheduler's and kube-controller-manager's leader election: one Lease for the scheduler
  // (`hedge-scheduler`) and one for every other controller (`hedge-controller-manager`), each
  // controller's term run while its group's Lease is held (two renewals a retry period, not one
  // per controller: each is a write the store syncs)
  const groups = new Map<string, { name: string; runTerm: (s: AbortSignal) => Promise<void> }[]>();
  const supervise = (name: string, runTerm: (s: AbortSignal) => Promise<void>, lease = CONTROLLER_MANAGER_LEASE): void => {
    let group = groups.get(lease);
    if (!group) groups.set(lease, (group = []));
    group.push({ name, runTerm });
  };
  // one term signal is shared by every informer, sync wait and retry of a controller: many listeners is normal
  const term = (c: { name: string; runTerm: (s: AbortSignal) => Promise<void> }, s: AbortSignal): Promise<void> => {
    setMaxListeners(0, s);
    return Promise.resolve()
      .then(() => c.runTerm(s))
      .catch((err: unknown) => logger.error({ err, controller: c.name }, 'controller stopped with an error'));
  };
  const startGroups = (): void => {
    const le = opts.leaderElection;
    for (const [lease, members] of groups) {
      if (!le) {
        for (const c of members) runs.push(term(c, signal));
        continue;
      }
      const elector = new LeaderElector({
        client,
        logger: logger.child({ component: `${lease}-election` }),
        clock,
        namespace: le.namespace ?? 'kube-system',
        name: lease,
        identity,
        leaseDurationSeconds: le.leaseDurationSeconds,
        renewDeadlineSeconds: le.renewDeadlineSeconds,
        retryPeriodSeconds: le.retryPeriodSeconds,
      });
      runs.push(
        elector
          .run(signal, async (s) => {
            await Promise.all(members.map((c) => term(c, s)));
          })
          .catch((err: unknown) => logger.error({ err, lease }, 'leader election stopped with an error')),
      );
    }
  };

  if (opts.scheduler !== false) {
    const cfg = { ...opts.scheduler, client, logger, clock, identity, informerFactory };
    // A fresh Scheduler per leadership term: its caches must not outlive the term.
    supervise(
      'scheduler',
      async (s) => {
        out.scheduler = new Scheduler(cfg);
        await out.scheduler.run(s);
      },
      SCHEDULER_LEASE,
    );
  }
  if (opts.nodeLifecycle !== false) {
    const cfg = { ...opts.nodeLifecycle, client, logger, clock, informerFactory };
    supervise('node-lifecycle', async (s) => {
      out.nodeLifecycle = new NodeLifecycleController(cfg);
      await out.nodeLifecycle.run(s);
    });
  }
  if (opts.nodeIpam) {
    const cfg = { ...opts.nodeIpam, client, logger, clock, informerFactory };
    // a fresh allocator per term, rebuilt from the Nodes: a failover never double-assigns
    supervise('node-ipam', async (s) => {
      out.nodeIpam = new NodeIpamController(cfg);
      await out.nodeIpam.run(s);
    });
  }
  if (opts.clusterRoleAggregation !== false) {
    supervise('clusterrole-aggregation', async (s) => {
      out.clusterRoleAggregation = new ClusterRoleAggregationController({ client, logger });
      await out.clusterRoleAggregation.run(s);
    });
  }
  if (opts.rootCaCert) {
    const { rootCa } = opts.rootCaCert;
    supervise('root-ca-cert-publisher', async (s) => {
      out.rootCaCert = new RootCaCertPublisher({ client, logger, rootCa, informerFactory });
      await out.rootCaCert.run(s);
    });
  }
  if (opts.workloads !== false) {
    const cfg = { ...opts.workloads, client, logger, clock, informerFactory };
    supervise('workloads', async (s) => {
      out.workloads = new WorkloadControllers(cfg);
      await out.workloads.run(s);
    });
  }
  if (opts.hpa !== false) {
    const tun = opts.hpa ?? {};
    supervise('hpa', async (s) => {
      // its handles on the shared informers, per term: the HPA's handlers run only while it leads
      const informers = new SharedInformers({ client, logger, clock, factory: informerFactory });
      out.hpa = new HpaController({ ...tun, metrics: tun.metrics ?? metricsApiSource(client), client, logger, clock, informers });
      informers.start(s);
      await out.hpa.run(s);
      await informers.done();
    });
  }
  if (opts.disruption !== false) {
    supervise('disruption', async (s) => {
      // its handles per term, as the HPA's: pods, budgets and the scalable controllers
      const informers = new SharedInformers({ client, logger, clock, factory: informerFactory });
      out.disruption = new DisruptionController({ client, logger, clock, informers });
      informers.start(s);
      await out.disruption.run(s);
      await informers.done();
    });
  }
  if (opts.endpointSlices !== false) {
    const cfg = { ...opts.endpointSlices, client, logger, clock, informerFactory };
    supervise('endpointslice', async (s) => {
      out.endpointSlices = new EndpointSliceController(cfg);
      await out.endpointSlices.run(s);
    });
  }
  if (opts.resourceQuota !== false) {
    const cfg = { ...opts.resourceQuota, client, logger, informerFactory };
    supervise('resourcequota', async (s) => {
      out.resourceQuota = new ResourceQuotaController(cfg);
      await out.resourceQuota.run(s);
    });
  }
  if (opts.volumes !== false) {
    const raw = 'request' in client ? (client as KubeClient & RawApiRequester) : undefined;
    const cfg = { ...opts.volumes, deleter: opts.volumes?.deleter ?? (raw ? nodeProxyDeleter(raw) : undefined), client, logger, clock, informerFactory };
    supervise('persistentvolume', async (s) => {
      out.volumes = new VolumeControllers(cfg);
      await out.volumes.run(s);
    });
  }
  startGroups();
  out.done = Promise.all(runs).then(() => undefined);
  return out;
}
