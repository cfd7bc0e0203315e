import { readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Pod, Service } from 'kubernetes-types/core/v1.js';
import { SharedInformerFactory, type SharedInformer } from '../../client/shared-informers.ts';
import { timeoutSignal } from '../../lib/signals.ts';
import { Resources } from '../../client/resources.ts';
import type { KubeObject } from '../../api/object.ts';
import { isHedgeError } from '../../lib/errors.ts';
import { isMirrorPod } from '../../api/service-account.ts';
import type { Logger } from '../../lib/log.ts';
import type { ContainerId, ContainerStatus, RuntimeHandler, SandboxId } from '../runtime/types.ts';
import { tearDownPodVolumes } from '../volumes/tear-down.ts';
import type { PreparedVolume } from '../volumes/types.ts';
import type { PodSyncConfig } from './config.ts';
import { imagesInUse } from './images-in-use.ts';
import { Labels } from './labels.ts';
import type { EvictRequest } from '../eviction/types.ts';
import { PodWorker } from './pod-worker.ts';
import { knownPodUids, loadSandbox } from './sandbox-state.ts';
import { defaultMaxConcurrentStarts, StartGate } from './start-gate.ts';
import { logStartupPhase } from './start-trace.ts';
import type { PodSyncDeps } from './types.ts';

type PodObject = Pod & KubeObject;

export interface ContainerLocation {
  pod: Pod;
  handler?: RuntimeHandler;
  id?: ContainerId;
  prevId?: ContainerId;
  logDir: string;
  restartCount: number;
}

/**
 * Watches this node's pods (fieldSelector spec.nodeName) and runs one PodWorker per pod:
 * serialized within a pod, concurrent across pods. On start it adopts containers the runtimes
 * already run and removes those of pods no longer bound here.
 */
export class PodSync {
  private readonly workers = new Map<string, PodWorker>();
  /** workers by `namespace/name` (the first in `workers` order, as a scan finds it), rebuilt after `workers` changes */
  private byName: Map<string, PodWorker> | undefined;
  private readonly runs = new Set<Promise<void>>();
  private readonly log: Logger;
  private informer?: SharedInformer<PodObject>;
  private runtimeClasses?: SharedInformer<KubeObject>;
  /** every Service, for the containers' service variables (KUBERNETES_SERVICE_HOST...) */
  private services?: SharedInformer<Service & KubeObject>;
  /** what workers get: deps plus the cached RuntimeClass lookup */
  private readonly workerDeps: PodSyncDeps;
  private adopted = false;
  private readonly pendingAdoption = new Map<string, { handler: string; containers: ContainerStatus[] }>();
  /** live pods a previous agent left a sandbox record for: their workers restore it */
  private readonly leftSandboxes = new Set<string>();
  /** static pods (staticpods/) by uid: a second source beside the API's, runs without it */
  private readonly staticPods = new Map<string, Pod>();
  /** runtime listings (adoption, the orphan sweep) one at a time: a static pod's adoption must not race the sweep */
  private serial: Promise<unknown> = Promise.resolve();
  private staticMirror: (pod: Pod) => boolean = () => false;

  constructor(
    private readonly deps: PodSyncDeps,
    private readonly cfg: PodSyncConfig,
  ) {
    this.log = deps.logger.child({ component: 'podsync' });
    this.workerDeps = {
      ...deps,
      runtimeClassHandler: deps.runtimeClassHandler ?? ((name, signal) => this.runtimeClassHandler(name, signal)),
      services: deps.services ?? (() => this.serviceList()),
      startGate: deps.startGate ?? new StartGate(cfg.maxConcurrentStarts ?? defaultMaxConcurrentStarts()),
    };
  }

  /** undefined until the Service informer has synced; [] once it stopped (no service variables then) */
  private serviceList(): Service[] | undefined {
    const i = this.services;
    if (!i) return [];
    return i.hasSynced() ? i.list() : undefined;
  }

  /** from the informer's cache when it has the class; a GET otherwise (not synced yet, or created a moment ago) */
  private async runtimeClassHandler(name: string, signal: AbortSignal): Promise<string | undefined> {
    const rc = this.runtimeClasses?.hasSynced() ? this.runtimeClasses.get(name) : undefined;
    if (rc) return handlerOf(rc);
    try {
      return handlerOf(await this.deps.client.get(Resources.runtimeclasses, name, { signal }));
    } catch (err) {
      if (isHedgeError(err, 'NotFound')) return undefined;
      throw err;
    }
  }

  /** runs until `signal` aborts */
  async run(signal: AbortSignal): Promise<void> {
    // the node's shared informers: the service proxy and cluster DNS read the same Services
    const informers = this.deps.informers ?? new SharedInformerFactory({ client: this.deps.client, logger: this.log, clock: this.deps.clock });
    const informer = informers.informer<PodObject>({ resource: Resources.pods, fieldSelector: `spec.nodeName=${this.cfg.nodeName}` });
    this.informer = informer;
    const informerRun = informer.run(signal);
    // RuntimeClasses are few and rarely change: watching them saves a GET per new pod
    this.runtimeClasses = informers.informer<KubeObject>({ resource: Resources.runtimeclasses });
    const rcRun = this.runtimeClasses.run(signal).catch((err: unknown) => {
      if (!signal.aborted) this.log.warn({ err }, 'RuntimeClass informer stopped; falling back to a GET per pod');
      this.runtimeClasses = undefined;
    });
    // the kubelet's service lister: a container waits (CreateContainerConfigError) until it has synced
    this.services = informers.informer<Service & KubeObject>({ resource: Resources.services });
    const svcRun = this.services.run(signal).catch((err: unknown) => {
      if (!signal.aborted) this.log.warn({ err }, 'Service informer stopped; containers get no service variables');
      this.services = undefined;
    });
    // a container's exit wakes its pod's worker at once: steady pods need no per-second re-check
    for (const h of this.deps.runtimes.values()) {
      const stop = h.watchExits?.((id) => {
        for (const w of this.workers.values()) {
          if (!w.hasContainer(id)) continue;
          w.handle({ type: 'tick' });
          return;
        }
      });
      if (stop) signal.addEventListener('abort', stop, { once: true });
    }
    try {
      await informer.waitForSync(signal);
      logStartupPhase(this.log, 'pods listed');
      // listed beside the pods: a first container should not wait for its service variables (bounded:
      // a Service list that cannot be read must not hold every pod back)
      const bounded = timeoutSignal(signal, 5_000);
      await this.services.waitForSync(bounded).catch(() => undefined);
      bounded.clear();
      await this.serialize(() => this.adoptAndCleanOrphans(informer.list().filter((p) => !isMirrorPod(p)), signal));
      logStartupPhase(this.log, 'adopted and cleaned');
      // after the sweep of namespaces no sandbox names (it would take the pool's for leftovers)
      const gate = this.workerDeps.startGate;
      this.deps.netnsPool?.start(gate ? () => gate.active > 0 || gate.waiting > 0 : undefined);
      informer.addHandlers({
        onAdd: (p) => this.upsert(p, signal),
        onUpdate: (_o, p) => this.upsert(p, signal),
        onDelete: (p) => this.workers.get(p.metadata.uid ?? '')?.handle({ type: 'deleted' }),
      });
    } catch (err) {
      if (!signal.aborted) throw err;
    }
    await informerRun;
    await rcRun;
    await svcRun;
    await Promise.allSettled([...this.runs]);
    await this.deps.netnsPool?.close();
  }

  /** every worker is parked (or finished): nothing is in flight */
  idle(): boolean {
    return this.adopted && [...this.workers.values()].every((w) => w.done || w.parked);
  }

  hasSynced(): boolean {
    return this.adopted;
  }

  /** every image a container on this node uses or is about to (images-in-use.ts), for the image GC */
  async imagesInUse(signal: AbortSignal): Promise<Set<string>> {
    return await imagesInUse({ runtimes: this.deps.runtimes, snapshotter: this.deps.snapshotter, pods: this.pods(), signal });
  }

  /** pods with a live worker (for the node server's /pods) */
  pods(): Pod[] {
    return [...this.workers.values()].filter((w) => !w.done).map((w) => w.currentPod);
  }

  locate(namespace: string, name: string, container?: string): ContainerLocation | undefined {
    // by name, not a scan: the metrics scrape and log rotation locate every container of every pod
    if (!this.byName) {
      this.byName = new Map();
      for (const w of this.workers.values()) {
        const key = `${w.currentPod.metadata?.namespace}/${w.currentPod.metadata?.name}`;
        if (!this.byName.has(key)) this.byName.set(key, w);
      }
    }
    const w = this.byName.get(`${namespace}/${name}`);
    if (!w) return undefined;
    const p = w.currentPod;
    const c = w.container(container || p.spec?.containers?.[0]?.name || '');
    return c ? { pod: p, ...c } : undefined;
  }

  /** the pod's set-up local-path PVC volumes: their claim and directory (stats/pod-storage.ts) */
  localPathClaims(uid: string): PreparedVolume[] {
    return this.workers.get(uid)?.localPathClaims() ?? [];
  }

  worker(uid: string): PodWorker | undefined {
    return this.workers.get(uid);
  }

  /** runs `fn` after every listing queued before it */
  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.serial.then(fn, fn);
    this.serial = next.catch(() => undefined);
    return next;
  }

  /**
   * The static pods now (the file source's whole set). New ones start at once, whether or not the
   * API was ever reached (their containers a previous agent left are adopted first), ones gone
   * are stopped with their grace period, and a changed spec under the same UID is an update.
   * `mirror` says whether a pod's mirror exists (its status is written there only then).
   */
  async setStaticPods(pods: Pod[], signal: AbortSignal, mirror?: (pod: Pod) => boolean): Promise<void> {
    if (mirror) this.staticMirror = mirror;
    const next = new Map(pods.map((p) => [p.metadata?.uid ?? '', p]));
    for (const [uid, old] of this.staticPods) {
      if (next.has(uid)) continue;
      this.staticPods.delete(uid);
      const w = this.workers.get(uid);
      if (!w) continue;
      this.log.info({ pod: `${old.metadata?.namespace}/${old.metadata?.name}`, uid }, 'static pod removed');
      const grace = w.currentPod.spec?.terminationGracePeriodSeconds ?? 30;
      w.handle({ type: 'updated', pod: { ...w.currentPod, metadata: { ...w.currentPod.metadata, deletionTimestamp: new Date(this.deps.clock.now()).toISOString(), deletionGracePeriodSeconds: grace } } });
    }
    const added: Pod[] = [];
    for (const [uid, p] of next) {
      const had = this.staticPods.get(uid);
      this.staticPods.set(uid, p);
      if (!had) added.push(p);
      else if (JSON.stringify(had.spec) !== JSON.stringify(p.spec)) this.workers.get(uid)?.handle({ type: 'updated', pod: { ...p, status: this.workers.get(uid)?.currentPod.status } });
    }
    if (added.length === 0) return;
    // before the sweep has run, a previous agent's containers of these pods are theirs to adopt
    if (!this.adopted) await this.serialize(() => this.collectAdoptions(new Set(added.map((p) => p.metadata?.uid ?? '')), signal));
    for (const p of added) {
      if (signal.aborted || !this.staticPods.has(p.metadata?.uid ?? '')) continue;
      this.upsert(p as PodObject, signal);
    }
  }

  /** what the runtimes and sandbox records hold for `uids`, handed to their workers when made */
  private async collectAdoptions(uids: Set<string>, signal: AbortSignal): Promise<void> {
    for (const [name, h] of this.deps.runtimes) {
      const list = await h.list(signal).catch(() => []);
      for (const c of list) {
        const uid = c.labels[Labels.podUid];
        if (!uid || !uids.has(uid)) continue;
        const e = this.pendingAdoption.get(uid) ?? { handler: name, containers: [] };
        e.containers.push(c);
        this.pendingAdoption.set(uid, e);
      }
    }
    for (const uid of uids) if (!this.pendingAdoption.has(uid) && (await loadSandbox(this.cfg.dataDir, uid))) this.leftSandboxes.add(uid);
  }

  /** pods not finished (the eviction manager's candidates): by the worker's own verdict, which an offline status write has not carried yet */
  activePods(): Pod[] {
    return [...this.workers.values()].filter((w) => !w.done && !w.terminal && !w.currentPod.metadata?.deletionTimestamp).map((w) => w.currentPod);
  }

  /** the eviction manager's entry point (EvictionTarget): the pod's own worker stops it and writes it Failed/Evicted */
  async evict(uid: string, req: EvictRequest, signal: AbortSignal): Promise<boolean> {
    const w = this.workers.get(uid);
    if (!w || w.done) return false;
    return await w.evict(req, signal);
  }

  private upsert(p: PodObject, signal: AbortSignal): void {
    // a mirror is the API's picture of a static pod (MirrorPods keeps it), never run itself
    if (isMirrorPod(p)) return;
    const uid = p.metadata.uid ?? '';
    const existing = this.workers.get(uid);
    if (existing) {
      existing.handle({ type: 'updated', pod: p });
      return;
    }
    const w: PodWorker = new PodWorker(p, this.workerDeps, this.cfg, this.staticPods.has(uid) ? { mirror: (): boolean => this.staticMirror(w.currentPod) } : undefined);
    this.workers.set(uid, w);
    this.byName = undefined;
    const adopt = this.pendingAdoption.get(uid);
    this.pendingAdoption.delete(uid);
    const left = !adopt && this.leftSandboxes.delete(uid);
    // a pod this node already runs (its containers, or a sandbox a previous agent left) was admitted then
    if (!adopt && !left) this.admit(w);
    const run = (async () => {
      if (adopt) await w.adopt(adopt.handler, adopt.containers, signal);
      else if (left) await w.restore(signal);
      await w.run(signal);
    })()
      .catch((err: unknown) => {
        if (!signal.aborted) this.log.error({ err, uid }, 'pod worker crashed');
      })
      .finally(() => {
        if (this.workers.get(uid) === w && w.done) {
          this.workers.delete(uid);
          this.byName = undefined;
        }
        this.runs.delete(run);
      });
    this.runs.add(run);
  }

  /**
   * The kubelet's admission (canAdmitPod): each admit handler in turn (the eviction manager's,
   * deps.admitHandlers) may refuse a pod about to start for the first time here; the first refusal
   * is the pod's (PodWorker.reject: a Warning event, Failed with `Pod was rejected: …`, nothing
   * started). Pods already finished or being deleted are not asked about.
   */
  private admit(w: PodWorker): void {
    const p = w.currentPod;
    const handlers = this.deps.admitHandlers ?? [];
    if (handlers.length === 0 || w.terminal || p.metadata?.deletionTimestamp) return;
    const others = this.activePods().filter((o) => o.metadata?.uid !== w.uid);
    for (const h of handlers) {
      const r = h.admit(p, others);
      if (r.admit) continue;
      this.log.info({ pod: `${p.metadata?.namespace}/${p.metadata?.name}`, reason: r.reason, message: r.message }, 'pod rejected at admission');
      w.reject(r.reason, r.message);
      return;
    }
  }

  /**
   * Stops and removes every pod on this node with all it holds on the host (containers, sandboxes
   * and microVMs, pod networks, volumes, snapshots), as a start's orphan sweep removes pods no longer
   * bound here: containers get `timeoutSeconds` after SIGTERM. Only once `run` has returned (no
   * worker left). For `hedge up` on its way out; a plain `hedge node` that stops keeps its pods.
   * Resolves with the number of pods removed.
   */
  async removeAll(opts: { timeoutSeconds: number; signal: AbortSignal }): Promise<number> {
    this.staticPods.clear();
    return this.adoptAndCleanOrphans([], opts.signal, { stopTimeoutSeconds: opts.timeoutSeconds, why: 'node teardown' });
  }

  /** containers already running are handed to their pod's worker; everything else is cleaned */
  private async adoptAndCleanOrphans(pods: PodObject[], signal: AbortSignal, o = { stopTimeoutSeconds: 2, why: 'orphaned' }): Promise<number> {
    const live = new Map<string, Pod>(pods.map((p) => [p.metadata.uid ?? '', p]));
    // static pods are live whatever the API says; those with a worker already adopted theirs
    for (const [uid, p] of this.staticPods) live.set(uid, p);
    const running = new Set(this.workers.keys());
    const removed = new Set<string>();
    const orphanSandboxes = new Map<string, { handler: RuntimeHandler; ids: Set<SandboxId> }>();
    // every handler's list at once: after a reboot each is a state check per container
    /** every container any runtime holds (a snapshot of one of them is not an orphan) */
    const containerIds = new Set<string>();
    const lists = await Promise.all(
      [...this.deps.runtimes].map(async ([name, h]) => ({
        name,
        h,
        list: await h.list(signal).catch((err: unknown) => {
          this.log.error({ err, handler: name }, 'listing containers failed; skipping adoption for this handler');
          return undefined;
        }),
      })),
    );
    for (const { name, h, list } of lists) {
      if (!list) continue;
      for (const c of list) {
        containerIds.add(c.id);
        const uid = c.labels[Labels.podUid];
        if (!uid) continue; // not ours
        if (live.has(uid)) {
          if (running.has(uid)) continue;
          const e = this.pendingAdoption.get(uid) ?? { handler: name, containers: [] };
          e.containers.push(c);
          this.pendingAdoption.set(uid, e);
          continue;
        }
        this.log.info({ uid, container: c.name, why: o.why }, 'removing container');
        removed.add(uid);
        await h.stop(c.id, { timeoutSeconds: o.stopTimeoutSeconds, signal }).catch(() => undefined);
        await h.remove(c.id, signal).catch((err: unknown) => this.log.warn({ err }, 'orphan remove failed'));
        await this.deps.snapshotter.remove(c.id).catch(() => undefined);
        const e = orphanSandboxes.get(uid) ?? { handler: h, ids: new Set<SandboxId>() };
        e.ids.add(c.sandboxId);
        orphanSandboxes.set(uid, e);
      }
    }
    for (const [uid, e] of orphanSandboxes) {
      for (const id of e.ids) await e.handler.removeSandbox(id, signal).catch((err: unknown) => this.log.warn({ err }, 'orphan sandbox remove failed'));
      if (!(await loadSandbox(this.cfg.dataDir, uid))) await tearDownPodVolumes({ dataDir: this.cfg.dataDir, uid, mounter: this.deps.mounter, signal });
    }
    // Sandboxes (and netns) left without containers, e.g. the agent died mid-create.
    const recordedNetns = new Set<string>();
    for (const uid of await knownPodUids(this.cfg.dataDir)) {
      const sb = await loadSandbox(this.cfg.dataDir, uid);
      if (live.has(uid)) {
        if (sb && !this.pendingAdoption.has(uid) && !running.has(uid)) this.leftSandboxes.add(uid);
        if (sb?.netnsPath) recordedNetns.add(basename(sb.netnsPath));
        continue;
      }
      removed.add(uid);
      if (sb) {
        this.log.info({ uid, sandbox: sb.id, why: o.why }, 'removing sandbox');
        const h = this.deps.runtimes.get(sb.handler);
        if (sb.created && h) await h.removeSandbox(sb.id, signal).catch(() => undefined);
        if (sb.netnsPath) {
          await this.deps.network
            .tearDown({ id: sb.id, pod: sb.pod, netnsPath: sb.netnsPath, portMappings: [] }, signal)
            .catch((err: unknown) => this.log.warn({ err }, 'orphan network teardown failed'));
        }
      }
      await tearDownPodVolumes({ dataDir: this.cfg.dataDir, uid, mounter: this.deps.mounter, signal });
    }
    // a static pod's worker may be making its sandbox right now: its netns (named by the sandbox id, which starts with the uid's) is not an orphan
    const making = [...running].map((uid) => uid.replace(/-/g, '').slice(0, 12)).filter((p) => p !== '');
    await this.removeUnrecordedNetns(recordedNetns, signal, making);
    // only when every runtime answered: a snapshot of an unlisted runtime's container is not known to be an orphan
    if (lists.every((l) => l.list)) await this.removeOrphanSnapshots(containerIds, running);
    this.adopted = true;
    return removed.size;
  }

  /**
   * A container's writable snapshot that no runtime's container uses: the agent stopped between
   * preparing it (beside the sandbox or the volumes) and the runtime's create. Skipped for pods
   * whose worker runs (a static pod's may be preparing one right now).
   */
  private async removeOrphanSnapshots(containerIds: Set<string>, running: Set<string>): Promise<void> {
    const snapshots = await this.deps.snapshotter.list().catch(() => []);
    for (const s of snapshots) {
      const uid = s.labels[Labels.podUid];
      if (s.kind !== 'active' || !uid || containerIds.has(s.key) || running.has(uid) || this.workers.has(uid)) continue;
      this.log.info({ uid, snapshot: s.key }, 'removing a snapshot no container uses');
      await this.deps.snapshotter.remove(s.key).catch((err: unknown) => this.log.warn({ err, snapshot: s.key }, 'orphan snapshot remove failed'));
    }
  }

  /** a netns no sandbox record names (e.g. an agent that died between netns and record) */
  private async removeUnrecordedNetns(recorded: Set<string>, signal: AbortSignal, keepPrefixes: string[] = []): Promise<void> {
    const entries = await readdir(this.cfg.netnsDir).catch(() => [] as string[]);
    for (const id of entries) {
      if (recorded.has(id) || keepPrefixes.some((p) => id.startsWith(p))) continue;
      this.log.info({ netns: id }, 'removing unrecorded netns');
      await this.deps.network
        .tearDown({ id, pod: { uid: '', namespace: '', name: '' }, netnsPath: join(this.cfg.netnsDir, id), portMappings: [] }, signal)
        .catch((err: unknown) => this.log.warn({ err, netns: id }, 'unrecorded netns teardown failed'));
    }
  }
}

const handlerOf = (rc: KubeObject): string => (typeof rc.handler === 'string' ? rc.handler : '');
