import type { KubeObject } from '../api/object.ts';
import { Backoff } from '../client/backoff.ts';
import type { Clock } from '../client/clock.ts';
import { matchFields, matchLabels, parseFieldSelector, parseLabelSelector } from '../client/selectors.ts';
import type { KubeClient, ResourceRef } from '../client/types.ts';
import { isHedgeError } from '../lib/errors.ts';
import { linkedSignal } from '../lib/signals.ts';
import type { Logger } from '../lib/log.ts';
import type { HubDb } from './hub-db.ts';
import type { Replica } from './replica.ts';

/** One list+watch the hub keeps of the cloud (the node's view of one resource). */
export interface ReflectedResource {
  resource: ResourceRef;
  namespace?: string;
  fieldSelector?: string;
  labelSelector?: string;
}

/** The resources a node needs to run its pods offline, scoped as the node authorizer allows. */
export function nodeReflections(nodeName: string, resources: { pods: ResourceRef; nodes: ResourceRef; leases: ResourceRef; services: ResourceRef; endpoints: ResourceRef; endpointslices: ResourceRef; runtimeclasses: ResourceRef; networkpolicies: ResourceRef; ingresses: ResourceRef; ingressclasses: ResourceRef; namespaces: ResourceRef }): ReflectedResource[] {
  return [
    // every Node, not only this one: the pod overlay is programmed from the others' podCIDR and
    // vtep (agent/network/overlay), and keeps working from this cache while the cloud is away
    { resource: resources.nodes },
    { resource: resources.pods, fieldSelector: `spec.nodeName=${nodeName}` },
    { resource: resources.leases, namespace: 'kube-node-lease', fieldSelector: `metadata.name=${nodeName}` },
    { resource: resources.runtimeclasses },
    { resource: resources.services },
    { resource: resources.endpoints },
    // the node's service proxy (agent/network/proxy) keeps serving from these offline
    { resource: resources.endpointslices },
    // NetworkPolicy stays enforced offline (agent/network/policy)
    { resource: resources.networkpolicies },
    // the node's ingress controller keeps routing from these offline (agent/network/ingress)
    { resource: resources.ingresses },
    { resource: resources.ingressclasses },
    { resource: resources.namespaces },
  ];
}

export function reflectionId(r: ReflectedResource): string {
  return `${r.resource.group}/${r.resource.plural}`;
}

/** whether a stored object is within what the reflection lists (for reconciling deletes) */
export function inScope(r: ReflectedResource): (obj: KubeObject) => boolean {
  const fields = parseFieldSelector(r.fieldSelector);
  const labels = parseLabelSelector(r.labelSelector);
  return (obj) => matchFields(fields, obj) && matchLabels(labels, obj.metadata.labels);
}

export interface ReflectorDeps {
  cloud: KubeClient;
  replica: Replica;
  db: HubDb;
  clock: Clock;
  logger: Logger;
}

/**
 * client-go's reflector, writing into the replica: list (reconcile), then watch from the list's
 * resourceVersion, resume from the last one seen after a dropped stream, relist only on 410.
 * `state.rv` survives `run` returning (the link dropped) so the next run resumes the watch.
 */
export class Reflector {
  /** the last cloud resourceVersion applied; '' = list first */
  rv = '';
  /** resolves after the first completed list of this run */
  private syncedWaiters: (() => void)[] = [];
  synced = false;

  constructor(
    readonly spec: ReflectedResource,
    private readonly d: ReflectorDeps,
  ) {}

  waitSynced(): Promise<void> {
    return this.synced ? Promise.resolve() : new Promise((r) => this.syncedWaiters.push(r));
  }

  async run(signal: AbortSignal): Promise<void> {
    const { cloud, replica, db, logger } = this.d;
    const { resource, namespace, fieldSelector, labelSelector } = this.spec;
    const id = reflectionId(this.spec);
    const log = logger.child({ reflector: id });
    const backoff = new Backoff({ initialMs: 200, maxMs: 5_000 });
    while (!signal.aborted) {
      try {
        if (this.rv === '') {
          const list = await cloud.list(resource, { namespace, fieldSelector, labelSelector, signal });
          await replica.reconcile(resource, { namespace, matches: inScope(this.spec) }, list.items);
          this.rv = list.metadata.resourceVersion;
          db.markSynced(id);
          this.markSynced();
        } else {
          this.markSynced();
        }
        // Writes are pipelined (the replica keeps each key's writes in order) so a burst of events
        // is group-committed instead of paying one fsync each. A write leaves the set when it
        // settles: the set held every write since the last 256 and each one's stored object
        // (~2 pod copies per pod kept in the node's heap), where only the pending ones matter.
        const inflight = new Set<Promise<void>>();
        // a write the replica could not take (disk full) must not be skipped over: the watch ends at
        // once and a relist reconciles the replica with the cloud when the store takes writes again
        let lost: unknown;
        const stopWatch = new AbortController();
        const track = (write: Promise<unknown>): void => {
          const p: Promise<void> = write.then(
            () => {
              inflight.delete(p);
            },
            (err: unknown) => {
              inflight.delete(p);
              log.warn({ err }, 'replica write failed; relisting');
              lost ??= err;
              stopWatch.abort();
            },
          );
          inflight.add(p);
        };
        const settle = async (): Promise<void> => {
          await Promise.all([...inflight]);
        };
        const watchSignal = linkedSignal([signal, stopWatch.signal]);
        try {
          for await (const ev of cloud.watch(resource, { namespace, fieldSelector, labelSelector, resourceVersion: this.rv, allowWatchBookmarks: true, timeoutSeconds: 300, signal: watchSignal })) {
            switch (ev.type) {
              case 'ADDED':
              case 'MODIFIED':
                track(replica.putFromCloud(resource, ev.object));
                break;
              case 'DELETED':
                track(replica.removeFromCloud(resource, ev.object.metadata.namespace ?? '', ev.object.metadata.name ?? ''));
                break;
              case 'BOOKMARK':
                break;
            }
            if (inflight.size >= 256) await settle();
            if (lost !== undefined) break;
            if (ev.object.metadata.resourceVersion) this.rv = ev.object.metadata.resourceVersion;
            backoff.reset();
          }
        } catch (err) {
          if (lost === undefined) throw err;
        } finally {
          watchSignal.clear();
          await settle();
        }
        if (lost !== undefined) {
          this.rv = '';
          throw lost;
        }
      } catch (err) {
        if (signal.aborted) return;
        if (isHedgeError(err, 'Gone')) {
          log.info({ rv: this.rv }, 'watch expired; relisting and reconciling');
          this.rv = '';
          continue;
        }
        const delay = backoff.next();
        log.debug({ err, delayMs: delay }, 'reflector failed; retrying');
        await this.d.clock.sleep(delay, signal).catch(() => undefined);
      }
    }
  }

  private markSynced(): void {
    this.synced = true;
    for (const w of this.syncedWaiters.splice(0)) w();
  }
}
