import type { Clock } from '../../client/clock.ts';
import type { SharedInformerFactory } from '../../client/shared-informers.ts';
import type { KubeClient } from '../../client/types.ts';
import type { Logger } from '../../lib/log.ts';
import { SharedInformers } from '../workloads/informers.ts';
import { EphemeralVolumeController } from './ephemeral.ts';
import type { LocalPathVolumeDeleter } from './local-path-deleter.ts';
import { StorageProtectionController } from './protection.ts';
import { PersistentVolumeController } from './pv-controller.ts';

export interface VolumeControllersConfig {
  client: KubeClient;
  logger: Logger;
  clock?: Clock;
  /** the process's shared informers (default: a factory of its own) */
  informerFactory?: SharedInformerFactory;
  deleter?: LocalPathVolumeDeleter;
  reclaimMaxBackoffMs?: number;
}

/** The PV controller, the pvc/pv protection controllers and the ephemeral volume controller on one set of informers, one leadership term. */
export class VolumeControllers {
  readonly informers: SharedInformers;
  readonly persistentVolumes: PersistentVolumeController;
  readonly protection: StorageProtectionController;
  readonly ephemeral: EphemeralVolumeController;

  constructor(cfg: VolumeControllersConfig) {
    this.informers = new SharedInformers({ client: cfg.client, logger: cfg.logger, clock: cfg.clock, factory: cfg.informerFactory });
    this.persistentVolumes = new PersistentVolumeController({ ...cfg, informers: this.informers });
    this.protection = new StorageProtectionController({ client: cfg.client, logger: cfg.logger, informers: this.informers });
    this.ephemeral = new EphemeralVolumeController({ client: cfg.client, logger: cfg.logger, clock: cfg.clock, informers: this.informers });
  }

  async run(signal: AbortSignal): Promise<void> {
    this.informers.start(signal);
    await Promise.all([this.persistentVolumes.run(signal), this.protection.run(signal), this.ephemeral.run(signal)]);
    await this.informers.done();
  }
}
