import type { Pod } from 'kubernetes-types/core/v1.js';
import type { KubeObject } from '../../api/object.ts';
import { CONFIG_HASH_ANNOTATION, MIRROR_POD_ANNOTATION } from '../../api/static-pod.ts';
import { isMirrorPod } from '../../api/service-account.ts';
import { Resources } from '../../client/resources.ts';
import type { SharedInformer, SharedInformerFactory } from '../../client/shared-informers.ts';
import type { KubeClient } from '../../client/types.ts';
import { isHedgeError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';

type PodObject = Pod & KubeObject;

export interface MirrorPodsOptions {
  client: KubeClient;
  nodeName: string;
  /** the Node's UID for the owner reference; undefined until the node is registered (no mirror before) */
  nodeUid: () => string | undefined;
  /** the node's shared informers: the mirrors are read from this node's pods, the list PodSync watches */
  informers: SharedInformerFactory;
  logger: Logger;
  /** a mirror of this static pod was just created: its status is to be written again */
  onCreated?: (staticUid: string) => void;
  /** the re-check period that retries what failed (offline, node not registered yet) */
  resyncMs?: number;
}

const hashOf = (p: Pod): string => p.metadata?.annotations?.[CONFIG_HASH_ANNOTATION] ?? p.metadata?.uid ?? '';
const fullName = (p: Pod): string => `${p.metadata?.namespace ?? 'default'}/${p.metadata?.name ?? ''}`;

/**
 * upstream pkg/kubelet/pod/mirror_client.go with the kubelet's mirror handling in syncPod and
 * HandlePodCleanups: one mirror pod in the apiserver per static pod, a copy annotated
 * `kubernetes.io/config.mirror: <hash>` and owned (controller, no blockOwnerDeletion) by the Node.
 * A mirror that is gone or being deleted (`kubectl delete`) is re-created, one of another hash is
 * deleted and re-created, one without a static pod is deleted. The static pod itself never stops
 * for any of it. What fails (the cloud unreachable: the hub answers a create with 503) is retried
 * at the next pass: every informer event and every `resyncMs`.
 */
export class MirrorPods {
  private readonly log: Logger;
  private desired = new Map<string, Pod>();
  private wake?: () => void;
  private pending = true;
  /** the source has handed its first set: until then every mirror would look orphaned */
  private known = false;
  private readonly informer: SharedInformer<PodObject>;

  constructor(private readonly o: MirrorPodsOptions) {
    this.log = o.logger.child({ component: 'mirror-pods' });
    this.informer = o.informers.informer<PodObject>({ resource: Resources.pods, fieldSelector: `spec.nodeName=${o.nodeName}` });
  }

  /** the static pods now (the file source's whole set) */
  setStatic(pods: Pod[]): void {
    this.desired = new Map(pods.map((p) => [fullName(p), p]));
    this.known = true;
    this.poke();
  }

  /** the live mirror of `pod` (same name, its hash, not being deleted), for its status writes */
  mirrorOf(pod: Pod): PodObject | undefined {
    if (!this.informer.hasSynced()) return undefined;
    const m = this.informer.get(pod.metadata?.name ?? '', pod.metadata?.namespace);
    return m && isMirrorPod(m) && m.metadata.annotations?.[MIRROR_POD_ANNOTATION] === hashOf(pod) && !m.metadata.deletionTimestamp ? m : undefined;
  }

  private poke(): void {
    this.pending = true;
    this.wake?.();
  }

  async run(signal: AbortSignal): Promise<void> {
    this.informer.addHandlers({
      onAdd: (p) => {
        if (!isMirrorPod(p)) return;
        this.poke();
        // the mirror is in the cache now (mirrorOf sees it): its static pod's status goes to it. A
        // resend right after the create alone can run before the watch brings it, and write nothing
        const want = this.desired.get(fullName(p));
        if (want && p.metadata.annotations?.[MIRROR_POD_ANNOTATION] === hashOf(want) && !p.metadata.deletionTimestamp) this.o.onCreated?.(want.metadata?.uid ?? '');
      },
      onUpdate: (_o, p) => isMirrorPod(p) && this.poke(),
      onDelete: (p) => isMirrorPod(p) && this.poke(),
    });
    const informerRun = this.informer.run(signal);
    const resyncMs = this.o.resyncMs ?? 10_000;
    // the first pass once the mirrors are listed
    void this.informer.waitForSync(signal).then(
      () => this.poke(),
      () => undefined,
    );
    while (!signal.aborted) {
      if (this.pending && this.known && this.informer.hasSynced()) {
        this.pending = false;
        // what failed is retried at the resync (a poke meanwhile goes again at once)
        await this.sync(signal);
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          this.pending = true;
          done();
        }, resyncMs);
        const done = (): void => {
          clearTimeout(t);
          this.wake = undefined;
          signal.removeEventListener('abort', done);
          resolve();
        };
        // a poke while the pass ran: go again at once
        if (signal.aborted || (this.pending && this.known && this.informer.hasSynced())) return done();
        this.wake = done;
        signal.addEventListener('abort', done, { once: true });
      });
    }
    await informerRun;
  }

  /** one pass over every mirror and static pod; false when something is to be retried */
  async sync(signal: AbortSignal): Promise<boolean> {
    let ok = true;
    const mirrors = this.informer.list().filter((p) => isMirrorPod(p) && p.spec?.nodeName === this.o.nodeName);
    const live = new Set<string>();
    for (const m of mirrors) {
      const want = this.desired.get(fullName(m));
      const hash = m.metadata.annotations?.[MIRROR_POD_ANNOTATION];
      if (want && hash === hashOf(want) && !m.metadata.deletionTimestamp) {
        live.add(fullName(m));
        continue;
      }
      const why = !want ? 'no static pod' : m.metadata.deletionTimestamp ? 'deleted' : 'static pod changed';
      ok = (await this.delete(m, why, signal)) && ok;
    }
    for (const [name, pod] of this.desired) {
      if (live.has(name)) continue;
      ok = (await this.create(pod, signal)) && ok;
    }
    return ok;
  }

  private async delete(m: PodObject, why: string, signal: AbortSignal): Promise<boolean> {
    try {
      this.log.info({ pod: fullName(m), uid: m.metadata.uid, why }, 'deleting mirror pod');
      await this.o.client.delete(Resources.pods, m.metadata.name ?? '', { namespace: m.metadata.namespace, gracePeriodSeconds: 0, preconditions: { uid: m.metadata.uid ?? '' }, signal });
      return true;
    } catch (err) {
      if (isHedgeError(err, 'NotFound') || isHedgeError(err, 'Conflict')) return true;
      this.log.info({ err, pod: fullName(m) }, 'deleting mirror pod failed; retrying');
      return false;
    }
  }

  private async create(pod: Pod, signal: AbortSignal): Promise<boolean> {
    const nodeUid = this.o.nodeUid();
    if (!nodeUid) return false;
    const hash = hashOf(pod);
    const meta = pod.metadata ?? {};
    const mirror: PodObject = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: meta.name ?? '',
        namespace: meta.namespace ?? 'default',
        ...(meta.labels ? { labels: { ...meta.labels } } : {}),
        annotations: { ...meta.annotations, [MIRROR_POD_ANNOTATION]: hash },
        ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: this.o.nodeName, uid: nodeUid, controller: true }],
      },
      spec: structuredClone(pod.spec),
    };
    try {
      await this.o.client.create(Resources.pods, mirror, { signal });
      this.log.info({ pod: fullName(pod), hash }, 'created mirror pod');
      this.o.onCreated?.(meta.uid ?? '');
      return true;
    } catch (err) {
      // upstream: an existing mirror of the same hash is fine; another one is deleted at the next pass
      if (isHedgeError(err, 'AlreadyExists')) return true;
      this.log.info({ err, pod: fullName(pod) }, 'creating mirror pod failed; retrying');
      return false;
    }
  }
}

