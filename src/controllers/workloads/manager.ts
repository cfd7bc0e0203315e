import type { Clock } from '../../client/clock.ts';
import type { SharedInformerFactory } from '../../client/shared-informers.ts';
import type { KubeClient } from '../../client/types.ts';
import type { Logger } from '../../lib/log.ts';
import { CronJobController } from './cronjob.ts';
import { DaemonSetController } from './daemonset.ts';
import { DeploymentController } from './deployment.ts';
import { GarbageCollector } from './garbage-collector.ts';
import { SharedInformers } from './informers.ts';
import { JobController } from './job.ts';
import { ReplicaSetController } from './replicaset.ts';
import { StatefulSetController } from './statefulset.ts';

export interface WorkloadControllersConfig {
  client: KubeClient;
  logger: Logger;
  clock?: Clock;
  /** the process's shared informers (default: a factory of its own) */
  informerFactory?: SharedInformerFactory;
  /** pods a ReplicaSet creates or deletes per sync at most (default 500) */
  burst?: number;
}

/**
 * The workload controllers of kube-controller-manager, sharing one set of informers and run
 * under one leadership term: a fresh instance per term, whose handlers leave the process's shared
 * informers with it (the last user of an informer stops it, so no cache outlives the terms using it).
 */
export class WorkloadControllers {
  readonly informers: SharedInformers;
  readonly replicaSets: ReplicaSetController;
  readonly deployments: DeploymentController;
  readonly gc: GarbageCollector;
  readonly daemonSets: DaemonSetController;
  readonly statefulSets: StatefulSetController;
  readonly jobs: JobController;
  readonly cronJobs: CronJobController;

  constructor(cfg: WorkloadControllersConfig) {
    const log = cfg.logger;
    this.informers = new SharedInformers({ client: cfg.client, logger: log, clock: cfg.clock, factory: cfg.informerFactory });
    const common = { client: cfg.client, logger: log, clock: cfg.clock, informers: this.informers };
    this.replicaSets = new ReplicaSetController({ ...common, burst: cfg.burst });
    this.deployments = new DeploymentController(common);
    this.gc = new GarbageCollector(common);
    this.daemonSets = new DaemonSetController(common);
    this.statefulSets = new StatefulSetController(common);
    this.jobs = new JobController(common);
    this.cronJobs = new CronJobController(common);
  }

  async run(signal: AbortSignal): Promise<void> {
    this.informers.start(signal);
    await Promise.all([
      this.replicaSets.run(signal),
      this.deployments.run(signal),
      this.gc.run(signal),
      this.daemonSets.run(signal),
      this.statefulSets.run(signal),
      this.jobs.run(signal),
      this.cronJobs.run(signal),
    ]);
    await this.informers.done();
  }
}
