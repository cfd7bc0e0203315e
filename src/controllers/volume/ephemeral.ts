import { volumeClaimName, type PersistentVolumeClaimObject } from '../../api/storage/claims.ts';
import { Resources } from '../../client/resources.ts';
import { systemClock, type Clock } from '../../client/clock.ts';
import type { KubeClient } from '../../client/types.ts';
import { isHedgeError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import { EventRecorder } from '../common/events.ts';
import type { PodObject } from '../common/types.ts';
import type { SharedInformers } from '../workloads/informers.ts';
import { WorkQueue } from '../workloads/queue.ts';

export interface EphemeralVolumeConfig {
  client: KubeClient;
  logger: Logger;
  informers: SharedInformers;
  clock?: Clock;
}

const COMPONENT = 'ephemeral-volume-controller';


/** the claim is the pod's own: it names the pod as its controller (upstream's ephemeral.VolumeIsForPod) */
export function claimIsForPod(pvc: PersistentVolumeClaimObject, pod: PodObject): boolean {
  return (pvc.metadata.ownerReferences ?? []).some((o) => o.controller && o.kind === 'Pod' && o.uid === pod.metadata.uid);
}

/**
 * Upstream's ephemeral volume controller: every `ephemeral` volume of a pod gets its claim
 * `<pod>-<volume>` made from the volume's `volumeClaimTemplate`, owned by the pod (controller,
 * blockOwnerDeletion), so the claim goes with the pod through garbage collection and its volume is
 * reclaimed as any other. A claim of that name that is not the pod's is left alone with a Warning
 * event: the pod cannot use it (the scheduler and the node refuse it).
 */
export class EphemeralVolumeController {
  readonly queue = new WorkQueue();
  readonly #cfg: EphemeralVolumeConfig;
  readonly #log: Logger;
  readonly #pods;
  readonly #claims;
  readonly #events: EventRecorder;

  constructor(cfg: EphemeralVolumeConfig) {
    this.#cfg = cfg;
    this.#log = cfg.logger.child({ component: COMPONENT });
    this.#events = new EventRecorder({ client: cfg.client, component: COMPONENT, clock: cfg.clock ?? systemClock, logger: this.#log });
    this.#pods = cfg.informers.for<PodObject>(Resources.pods);
    this.#claims = cfg.informers.for<PersistentVolumeClaimObject>(Resources.persistentvolumeclaims);
    const pod = (p: PodObject): void => {
      if (!p.metadata.deletionTimestamp && p.spec?.volumes?.some((v) => v.ephemeral)) this.queue.add(`${p.metadata.namespace}/${p.metadata.name}`);
    };
    this.#pods.addHandlers({ onAdd: pod, onUpdate: (_, p) => pod(p) });
    // a claim deleted under a pod that still needs it is made again
    this.#claims.addHandlers({
      onDelete: (c) => {
        for (const o of c.metadata.ownerReferences ?? []) if (o.kind === 'Pod' && o.controller) this.queue.add(`${c.metadata.namespace}/${o.name}`);
      },
    });
  }

  async run(signal: AbortSignal): Promise<void> {
    await this.#cfg.informers.waitForSync(signal);
    await this.queue.run(signal, (k) => this.sync(k, signal), { workers: 1, logger: this.#log });
  }

  async sync(key: string, signal: AbortSignal): Promise<void> {
    const [namespace, name] = key.split('/');
    const pod = this.#pods.get(name, namespace);
    if (!pod || pod.metadata.deletionTimestamp) return;
    for (const v of pod.spec?.volumes ?? []) {
      const tmpl = v.ephemeral?.volumeClaimTemplate;
      if (!tmpl) continue;
      const claimName = volumeClaimName(pod, v) ?? '';
      const existing = this.#claims.get(claimName, namespace);
      if (existing) {
        if (!claimIsForPod(existing, pod)) {
          await this.#events.record(
            { involved: { ...pod, apiVersion: 'v1', kind: 'Pod' }, type: 'Warning', reason: 'FailedBinding', message: `PVC ${namespace}/${claimName} was not created for pod ${namespace}/${name} (pod is not owner)` },
            signal,
          );
        }
        continue;
      }
      const claim: PersistentVolumeClaimObject = {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: {
          ...tmpl.metadata,
          name: claimName,
          namespace,
          ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name, uid: pod.metadata.uid ?? '', controller: true, blockOwnerDeletion: true }],
        },
        spec: tmpl.spec,
      };
      await this.#cfg.client.create(Resources.persistentvolumeclaims, claim, { signal, fieldManager: COMPONENT }).catch((err: unknown) => {
        // made meanwhile (an earlier pass, another leader): the informer shows it
        if (!isHedgeError(err, 'AlreadyExists')) throw err;
      });
    }
  }
}
