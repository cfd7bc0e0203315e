import type { Container, Pod, PodStatus } from 'kubernetes-types/core/v1.js';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Resources } from '../../client/resources.ts';
import type { EventInput } from '../../client/event-recorder.ts';
import { isHedgeError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import { whenAborted } from '../../lib/signals.ts';
import type { RegistryCredentials } from '../image/types.ts';
import type { NetworkSandbox } from '../network/types.ts';
import type { ContainerId, ContainerState, ContainerStatus, RuntimeHandler, SandboxId, SandboxPersistentVolume } from '../runtime/types.ts';
import { isVolumeNotReady, unableToMountMessage } from '../volumes/persistent-volume.ts';
import type { PreparedVolume } from '../volumes/types.ts';
import { adoptContainers } from './adopt.ts';
import type { PodSyncConfig } from './config.ts';
import { pullCredentials } from './image-pull.ts';
import { dropEarlyRootfs, prepareRootfsEarly, startAttempt, type EarlyRootfs } from './container-start.ts';
import type { ContainerKind } from './labels.ts';
import { logTailMessage } from '../logs/cri-log.ts';
import { runProbes } from './probe-runner.ts';
import { buildPodStatus, computePhase, containerSpecOf, readinessGateChanged, rejectedPodStatus, statusPatch } from './pod-status.ts';
import { PodVolumes } from './pod-volumes.ts';
import { afterExit, crashLoopMessage, mayRetry, type BackoffPolicy } from './restart-backoff.ts';
import { createPodSandbox, createPodSandboxBeside, networkSandbox, podAddresses, resolveRuntimeHandler } from './pod-sandbox.ts';
import { DEFAULT_NETWORK_ANNOTATION, NETWORK_STATUS_ANNOTATION, NETWORKS_ANNOTATION, renderNetworkStatus } from '../../api/annotations/multus.ts';
import { deleteSandboxState, loadSandbox, saveSandbox } from './sandbox-state.ts';
import type { ContainerRecord, PodEvent, PodPhase, PodSyncDeps, SandboxRecord } from './types.ts';
import { MIN_GRACE_SECONDS, stopPodContainers } from './pod-termination.ts';
import { StartTrace } from './start-trace.ts';
import type { EvictRequest } from '../eviction/types.ts';
import { isRestartableInit } from '../../api/containers.ts';

/** directory of CRI logs, kubelet layout: <dataDir>/logs/pods/<ns>_<name>_<uid>/<container>/<restart>.log */
export const podLogDir = (dataDir: string, pod: { namespace: string; name: string; uid: string }): string =>
  join(dataDir, 'logs', 'pods', `${pod.namespace}_${pod.name}_${pod.uid}`);

/** upstream's status.message (and Event) for a pod past spec.activeDeadlineSeconds */
const DEADLINE_MESSAGE = 'Pod was active on the node longer than the specified deadline';

/**
 * One pod's reconcile loop. Desired state comes from the PodSpec, observed state from the
 * runtime; each pass (`reconcile`) moves one step closer and writes status if it changed.
 * Passes are serialized per pod; events only wake the loop.
 */
export class PodWorker {
  private pod: Pod;
  private gone = false;
  private readonly records = new Map<string, ContainerRecord>();
  private sandbox?: SandboxRecord;
  private sandboxError?: { reason: string; message: string };
  private readonly volumes: PodVolumes;
  private finalPhase?: PodPhase;
  /**
   * every init container of this sandbox has completed (a sidecar: started) once: a sidecar that
   * exits later is restarted beside the app containers, which go on, and Initialized stays True
   */
  private initDone = false;
  /** set once spec.activeDeadlineSeconds ran out: the pod is Failed, DeadlineExceeded */
  private deadlineExceeded = false;
  /** the eviction manager asked for this pod to go (evict()); `evicted` once it is Failed, Evicted */
  private evictRequest?: EvictRequest;
  private evicted?: EvictRequest;
  private evictWaiters: ((ok: boolean) => void)[] = [];
  /** the node refused the pod at admission (reject()): written Failed with this, never started */
  private rejection?: { reason: string; message: string };
  /** the write of the final phase failed (offline without a hub): later passes retry it */
  private finalWritePending = false;
  private startTime: number;
  private lastStatusJson?: string;
  private wake?: () => void;
  private pendingWake = false;
  /** the last pass threw (e.g. a status write the cloud refused): retry on the resync period */
  private lastPassFailed = false;
  private finished = false;
  private parkedFlag = false;
  private readonly log: Logger;
  private credentials?: Map<string, RegistryCredentials>;
  /** spans of the first start, for the debug log (see start-trace.ts) */
  private readonly trace = new StartTrace();
  /** the start slot (start-gate.ts) this pass holds, if any */
  private slot?: () => void;
  /** ends a wait for a start slot: the pod was deleted meanwhile */
  private slotWake?: () => void;
  /** the network being attached beside the first containers' creation (createPodSandboxBeside) */
  private attaching?: Promise<void>;
  /** the runtime's sandbox exists though the record is not `created` yet (its network is attaching, or failed) */
  private runtimeSandbox = false;
  /** containers' rootfs prepared while the sandbox is made (by `kind/name`), each taken by its first attempt */
  private early = new Map<string, Promise<EarlyRootfs | undefined>>();
  /**
   * Events raised once a container of this pass has started (its Started, ...): sent after the
   * pass's status write, so that the write a client waits on for Running does not queue behind an
   * Event's on the node's link and in the apiserver (bench/pod-start.ts: the Started event's POST
   * went out first and the status write reached the apiserver ~5 ms later). Events stay best
   * effort and unordered against status, as the kubelet's recorder sends them.
   */
  private heldEvents?: EventInput[];

  constructor(
    pod: Pod,
    private readonly deps: PodSyncDeps,
    private readonly cfg: PodSyncConfig,
    /**
     * A static pod (staticpods/): not an API object. Its status goes to its mirror pod, only while
     * `mirror()` says one of its hash exists; its termination deletes nothing in the API.
     */
    private readonly staticPod?: { mirror: () => boolean },
  ) {
    this.pod = pod;
    this.log = deps.logger.child({ pod: `${pod.metadata?.namespace}/${pod.metadata?.name}`, uid: pod.metadata?.uid });
    this.startTime = Date.parse(pod.status?.startTime ?? '') || deps.clock.now();
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') this.finalPhase = phase;
    // a Running pod keeps its trace: after a reboot its worker starts it again (bench/reboot-offline.ts)
    if (phase === 'Succeeded' || phase === 'Failed') this.trace.abandon();
    this.volumes = new PodVolumes({
      deps,
      dataDir: cfg.dataDir,
      nodeName: cfg.nodeName,
      refreshMs: cfg.volumeRefreshMs,
      logger: this.log,
      warn: (reason, message) => this.event('Warning', reason, message),
      span: (name, fn) => this.trace.span(name, fn),
    });
  }

  get uid(): string {
    return this.pod.metadata?.uid ?? '';
  }

  private event(type: 'Normal' | 'Warning', reason: string, message: string): void {
    const ev = { involved: { ...this.pod, apiVersion: 'v1', kind: 'Pod' }, type, reason, message };
    if (this.heldEvents) this.heldEvents.push(ev);
    else this.deps.events.emit(ev);
  }

  /** sends the events held through this pass's status write (heldEvents) */
  private releaseEvents(): void {
    const held = this.heldEvents;
    this.heldEvents = undefined;
    for (const ev of held ?? []) this.deps.events.emit(ev);
  }

  get currentPod(): Pod {
    return this.pod;
  }

  /** the static pod's mirror was (re)created without status: write it again at the next pass, now */
  resendStatus(): void {
    this.lastStatusJson = undefined;
    this.handle({ type: 'tick' });
  }

  get done(): boolean {
    return this.finished;
  }

  /** Succeeded or Failed here, whether or not the status write has reached the API yet */
  get terminal(): boolean {
    return this.finalPhase !== undefined;
  }

  /** waiting for the next resync or event (tests use it to drive a fake clock deterministically) */
  get parked(): boolean {
    return this.parkedFlag && !this.pendingWake;
  }

  /** the pod's set-up local-path PVC volumes (stats/pod-storage.ts walks them) */
  localPathClaims(): PreparedVolume[] {
    return this.volumes.localPathClaims();
  }

  /** the runtime container currently backing `name` (for logs/exec) */
  container(name: string): { handler?: RuntimeHandler; id?: ContainerId; prevId?: ContainerId; logDir: string; restartCount: number } | undefined {
    // names are unique across the three kinds (API validation); an ephemeral one for kubectl exec/logs of a debug container
    const r = this.records.get(`app/${name}`) ?? this.records.get(`init/${name}`) ?? this.records.get(`ephemeral/${name}`);
    if (!r) return undefined;
    return {
      handler: this.sandbox ? this.deps.runtimes.get(this.sandbox.handler) : undefined,
      id: r.id,
      prevId: r.prevId,
      logDir: this.logDir(r.name),
      restartCount: r.restartCount,
    };
  }

  /** each container's log dir (the pod's namespace, name and uid are fixed): built once, not per metrics scrape or rotation pass */
  private readonly logDirs = new Map<string, string>();
  private logDir(name: string): string {
    let d = this.logDirs.get(name);
    if (d === undefined) {
      d = join(podLogDir(this.cfg.dataDir, this.podRef()), name);
      this.logDirs.set(name, d);
    }
    return d;
  }

  handle(ev: PodEvent): void {
    switch (ev.type) {
      case 'updated': {
        const old = this.pod;
        this.pod = ev.pod;
        // Our own status writes come back as updates; spec or deletion changes need a pass now, and
        // so does a readiness gate's condition (another controller's status write): Ready follows it
        const changed =
          old.metadata?.deletionTimestamp !== ev.pod.metadata?.deletionTimestamp ||
          JSON.stringify(old.spec) !== JSON.stringify(ev.pod.spec) ||
          readinessGateChanged(ev.pod, old.status as PodStatus | undefined, ev.pod.status as PodStatus | undefined);
        if (!changed) return;
        break;
      }
      case 'deleted':
        this.gone = true;
        break;
      case 'tick':
        break;
      default: {
        const never: never = ev;
        throw new Error(`unhandled pod event ${JSON.stringify(never)}`);
      }
    }
    this.pendingWake = true;
    this.wake?.();
    // a deleted pod waiting for a start slot goes straight to its termination
    if (this.gone || this.pod.metadata?.deletionTimestamp) this.slotWake?.();
  }

  /**
   * Picks up the sandbox a previous agent left for this pod (sandbox.json) when the runtime holds
   * no containers for it (image still pulling, pod finished, agent killed mid-create): reuse it,
   * or free a half-made one, rather than make a second netns and leak the first.
   */
  async restore(signal: AbortSignal): Promise<void> {
    const saved = await loadSandbox(this.cfg.dataDir, this.uid);
    if (!saved) return;
    this.sandbox = saved;
    if (!saved.created || this.finalPhase) {
      await this.releaseSandbox(signal).catch((err: unknown) => this.log.warn({ err }, 'freeing the previous sandbox failed'));
    }
  }

  /**
   * The node's admission refused the pod (upstream's rejectPod): a Warning event with the reason
   * and message now, and the first pass writes it Failed with `Pod was rejected: <message>` — a
   * status write like any other, so offline the hub journals it and it reaches the API when the
   * link returns. Nothing of the pod is made: no sandbox, no volumes, no container.
   */
  reject(reason: string, message: string): void {
    this.rejection = { reason, message: `Pod was rejected: ${message}` };
    this.finalPhase = 'Failed';
    this.finalWritePending = true;
    this.trace.abandon();
    this.event('Warning', reason, message);
  }

  /** takes over containers found in the runtime at agent start, without restarting them */
  async adopt(handler: string, containers: ContainerStatus[], signal: AbortSignal): Promise<void> {
    const saved = await loadSandbox(this.cfg.dataDir, this.uid);
    // The pod's netns pin is gone: the host rebooted (its containers died with it). Like the
    // kubelet, free the dead sandbox and run the containers again in a new one.
    let dead = false;
    if (saved?.created && saved.netnsPath) {
      this.sandbox = saved;
      // undefined = no attachment in a live netns; an error says nothing either way
      dead = (await this.deps.network.status(this.netSandbox(), signal).then((n) => n === undefined, () => false));
    } else if (saved && !saved.created && saved.netnsPath && containers.length > 0) {
      // stopped while the network attached beside the first containers' creation: none of them
      // started; free the half-made sandbox and start over, as after a reboot
      this.sandbox = saved;
      this.runtimeSandbox = true;
      dead = true;
    }
    // containers taken over are not started: no start to trace (a dead sandbox is started again: traced)
    if (!dead) this.trace.abandon();
    if (dead && saved) {
      this.log.info({ sandbox: saved.id }, 'sandbox network namespace gone (host reboot?); recreating the sandbox');
      await this.trace.span('dead sandbox release', () => this.releaseSandbox(signal, { netnsGone: true })).catch((err: unknown) => this.log.warn({ err }, 'freeing the dead sandbox failed'));
    }
    const sandboxId = dead ? undefined : (saved?.id ?? containers[0]?.sandboxId);
    if (sandboxId) {
      this.sandbox = saved ?? { id: sandboxId, handler, created: true, pod: this.podRef() };
      const net = this.sandbox.netnsPath ? await this.deps.network.status(this.netSandbox(), signal).catch(() => undefined) : undefined;
      if (net?.ips[0]) {
        this.sandbox.podIPs = podAddresses(net);
        this.sandbox.podIP = this.sandbox.podIPs[0];
      }
      if (net?.networkStatus) this.sandbox.networkStatus = renderNetworkStatus(net.networkStatus);
      this.sandbox.podIP ??= this.pod.status?.podIP;
    }
    const extras = adoptContainers({
      pod: this.pod,
      containers,
      record: (name, kind) => this.record(name, kind),
      logDir: (name) => this.logDir(name),
      now: this.deps.clock.now(),
    });
    for (const extra of extras) await this.deps.runtimes.get(handler)?.remove(extra.id, signal).catch(() => undefined);
    this.lastStatusJson = JSON.stringify(this.pod.status ?? {});
  }

  /** is `id` one of this pod's containers (current or the one before a restart)? */
  hasContainer(id: string): boolean {
    for (const r of this.records.values()) if (r.id === id) return true;
    return false;
  }

  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted && !this.finished) {
      this.pendingWake = false;
      try {
        await this.reconcile(signal);
        this.lastPassFailed = false;
      } catch (err) {
        if (signal.aborted) break;
        this.lastPassFailed = true;
        this.log.error({ err }, 'pod sync failed');
      }
      if (this.finished || signal.aborted) break;
      if (this.pendingWake) continue;
      await this.waitWake(signal);
    }
  }

  private async waitWake(signal: AbortSignal): Promise<void> {
    const ac = new AbortController();
    // a follower of the node's signal, on which every parked pod worker waits
    const forget = whenAborted(signal, () => ac.abort());
    this.wake = () => ac.abort();
    this.parkedFlag = true;
    try {
      await this.deps.clock.sleep(this.parkMs(), ac.signal);
    } catch {
      // woken early
    } finally {
      this.parkedFlag = false;
      this.wake = undefined;
      forget();
    }
  }

  /**
   * How long to park: the resync period, or — for a steady pod whose runtime reports exits as
   * events — the idle resync, cut short by the next probe due and the next refresh of its volumes'
   * contents (an exit event wakes it earlier).
   */
  private parkMs(): number {
    const base = this.cfg.resyncMs;
    const idle = this.cfg.idleResyncMs ?? base;
    if (idle <= base || !this.steady()) return base;
    const now = this.deps.clock.now();
    let at = Math.min(now + idle, this.volumes.nextRefreshAt(this.pod) ?? Infinity, this.deadlineAt());
    for (const r of this.records.values()) for (const t of Object.values(r.probes)) if (t) at = Math.min(at, t.nextAt);
    return Math.max(base, at - now);
  }

  /** nothing to do until something happens: every container up, started and ready, its probes scheduled, the last pass clean */
  private steady(): boolean {
    if (this.gone || this.finalPhase || this.lastPassFailed || this.pod.metadata?.deletionTimestamp || !this.sandbox?.created || this.sandboxError) return false;
    if (!this.deps.runtimes.get(this.sandbox.handler)?.watchExits) return false;
    const apps = this.pod.spec?.containers ?? [];
    if (apps.length === 0) return false;
    const settled = (c: Container, r: ContainerRecord | undefined): boolean =>
      // not ready yet: its readiness is what the cluster waits for, so keep looking every second
      !!r?.id && r.observed?.state === 'running' && r.started && r.ready && !r.waiting &&
      // a probe that has not run yet has no due time for parkMs to wait for
      !((c.startupProbe && !r.probes.startup) || (c.livenessProbe && !r.probes.liveness) || (c.readinessProbe && !r.probes.readiness));
    for (const c of this.pod.spec?.initContainers ?? []) {
      const r = this.records.get(`init/${c.name}`);
      if (isRestartableInit(c) ? !settled(c, r) : !(r?.observed?.state === 'exited' && r.observed.exitCode === 0)) return false;
    }
    for (const c of apps) if (!settled(c, this.records.get(`app/${c.name}`))) return false;
    return true;
  }

  /**
   * The eviction manager's way in: the pod's containers are killed within `req.gracePeriodSeconds`,
   * it is written Failed with reason Evicted (and the DisruptionTarget condition) and its sandbox
   * freed, by this worker's own loop. Resolves true once the containers are stopped and the
   * sandbox freed, false when the pod finished or went first. The status write may fail offline
   * without a hub; it is retried on the resync period like any other.
   */
  evict(req: EvictRequest, signal: AbortSignal): Promise<boolean> {
    if (this.finished || this.finalPhase || this.gone) return Promise.resolve(false);
    this.evictRequest ??= req;
    return new Promise<boolean>((resolve, reject) => {
      const forget = whenAborted(signal, (reason) => {
        this.evictWaiters = this.evictWaiters.filter((w) => w !== done);
        reject(reason);
      });
      const done = (ok: boolean): void => {
        forget();
        resolve(ok);
      };
      this.evictWaiters.push(done);
      this.pendingWake = true;
      this.wake?.();
      this.slotWake?.();
    });
  }

  private settleEviction(ok: boolean): void {
    const ws = this.evictWaiters;
    this.evictWaiters = [];
    for (const w of ws) w(ok);
  }

  /** One pass: terminate if deleted, else move containers one step toward the spec. */
  async reconcile(signal: AbortSignal): Promise<void> {
    if (this.gone || this.pod.metadata?.deletionTimestamp) {
      this.settleEviction(false);
      await this.terminate(signal);
      return;
    }
    if (this.evictRequest && !this.finalPhase) {
      await this.evictNow(this.evictRequest, signal);
      return;
    }
    if (this.finalPhase) this.settleEviction(this.evicted !== undefined);
    if (this.finalPhase) {
      // a release interrupted by an agent restart is finished here
      if (this.sandbox) await this.releaseSandbox(signal);
      await this.writeStatus(signal, this.finalWritePending ? this.finalPhase : undefined);
      this.finalWritePending = false;
      return;
    }
    const handler = await this.trace.span('runtime class', () => this.resolveHandler(signal));
    if (!handler) {
      await this.writeStatus(signal);
      return;
    }
    if (this.deadlineAt() <= this.deps.clock.now()) {
      await this.failPastDeadline(handler, signal);
      return;
    }
    if (this.needsStart() && !(await this.takeSlot(signal))) return; // deleted while waiting: the next pass terminates
    try {
      await this.sync(handler, signal);
    } finally {
      this.releaseSlot();
      this.releaseEvents();
    }
  }

  /** the pass after the handler is known: sandbox, volumes, observe, containers, phase, status */
  private async sync(handler: RuntimeHandler, signal: AbortSignal): Promise<void> {
    if (!this.sandbox?.created && !this.volumes.ready && !this.volumes.followCreate(this.pod, handler)) {
      // volumes need no sandbox (a TokenRequest, configMap GETs, files): ready them while the network
      // comes up; or, when the first containers need only their directories at create, as the create begins
      this.volumes.setUp(this.pod, signal).catch(() => undefined);
    }
    if (!this.sandbox?.created) this.prepareRootfsEarly(signal);
    if (!(await this.ensureSandbox(handler, signal))) {
      await this.writeStatus(signal);
      return;
    }
    await this.volumes.refresh(this.pod, signal);
    await this.trace.span('observe', () => this.observe(handler, signal));
    const policy = this.pod.spec?.restartPolicy ?? 'Always';
    const { initialized, initFailed } = await this.syncInitContainers(handler, policy, signal);
    if (initialized && !initFailed) {
      for (const c of this.pod.spec?.containers ?? []) await this.syncContainer(handler, c, this.record(c.name, 'app'), policy, signal);
      // kubectl debug's: each started once, when asked for, and never restarted (upstream)
      for (const e of this.pod.spec?.ephemeralContainers ?? []) {
        const r = this.record(e.name, 'ephemeral');
        if (r.id) continue;
        const target = e.targetContainerName ? (this.records.get(`app/${e.targetContainerName}`) ?? this.records.get(`init/${e.targetContainerName}`)) : undefined;
        await this.startContainer(handler, e as Container, r, signal, r.restartCount, target?.observed?.state === 'running' ? target.id : undefined);
      }
    }
    // a pass ends with the sandbox whole (or failed and freed), whether or not a container started
    if (this.attaching && !(await this.networkAttached(signal))) {
      await this.writeStatus(signal);
      return;
    }
    const phase = computePhase({ restartPolicy: policy, initFailed, initialized, apps: this.appRecords() });
    if (phase === 'Succeeded' || phase === 'Failed') {
      this.finalPhase = phase;
      // what still runs (sidecars, ephemeral containers) stops now, gracefully, as upstream's
      // sidecars do once the app containers are done: their exits are in the final status
      await this.stopContainers(handler, this.pod.spec?.terminationGracePeriodSeconds ?? 30, signal);
      for (const r of this.records.values()) r.ready = false;
      await this.writeStatus(signal, phase, initialized);
      // A finished pod keeps its object (and logs) but not its sandbox, network or volumes.
      await this.releaseSandbox(signal);
      return;
    }
    await this.trace.span('status write', () => this.writeStatus(signal, phase, initialized));
    if (phase === 'Running' && this.trace.active) this.trace.finish(this.log);
  }

  /** when spec.activeDeadlineSeconds runs out, counted from the pod's start time (upstream's pastActiveDeadline) */
  private deadlineAt(): number {
    const s = this.pod.spec?.activeDeadlineSeconds;
    return typeof s === 'number' && s > 0 ? this.startTime + s * 1000 : Infinity;
  }

  /**
   * Upstream's active deadline: every container is killed with the pod's grace period, the pod is
   * Failed with reason DeadlineExceeded, and, finished, it keeps its object but not its sandbox.
   */
  private async failPastDeadline(handler: RuntimeHandler, signal: AbortSignal): Promise<void> {
    this.deadlineExceeded = true;
    this.event('Normal', 'DeadlineExceeded', DEADLINE_MESSAGE);
    await this.stopContainers(handler, this.pod.spec?.terminationGracePeriodSeconds ?? 30, signal);
    this.finalPhase = 'Failed';
    for (const r of this.records.values()) r.ready = false;
    await this.writeStatus(signal, 'Failed');
    await this.releaseSandbox(signal);
  }

  /**
   * upstream's killPodFunc for an eviction: every container stopped within the override, the pod
   * Failed/Evicted (status first, as the kubelet's status manager has it before the cleanup), then
   * its sandbox, network and volumes freed. A status write that fails (offline, no hub) is
   * retried by the next pass, which finds finalPhase set; the sandbox is freed either way.
   */
  private async evictNow(req: EvictRequest, signal: AbortSignal): Promise<void> {
    const handler = this.sandbox ? this.deps.runtimes.get(this.sandbox.handler) : undefined;
    if (handler) await this.stopContainers(handler, req.gracePeriodSeconds, signal);
    this.evicted = req;
    this.finalPhase = 'Failed';
    for (const r of this.records.values()) r.ready = false;
    let writeErr: unknown;
    await this.writeStatus(signal, 'Failed').catch((err: unknown) => {
      writeErr = err;
      this.finalWritePending = true;
    });
    try {
      await this.releaseSandbox(signal);
    } finally {
      this.settleEviction(true);
    }
    if (writeErr !== undefined) throw writeErr;
  }

  /** every running container stopped (preStop first) within `graceSeconds`, Killing events raised */
  private stopContainers(handler: RuntimeHandler, graceSeconds: number, signal: AbortSignal): Promise<void> {
    return stopPodContainers({
      pod: this.pod,
      handler,
      record: (kind, name) => this.records.get(`${kind}/${name}`),
      graceSeconds,
      podIP: this.sandbox?.podIP,
      clock: this.deps.clock,
      logger: this.log,
      onKilling: (message) => this.event('Normal', 'Killing', message),
      signal,
    });
  }

  /** the pod still has something to start: its sandbox, or a container never created */
  private needsStart(): boolean {
    if (!this.sandbox?.created) return true;
    for (const c of this.pod.spec?.initContainers ?? []) if (!this.records.get(`init/${c.name}`)?.id) return true;
    for (const c of this.pod.spec?.containers ?? []) if (!this.records.get(`app/${c.name}`)?.id) return true;
    for (const c of this.pod.spec?.ephemeralContainers ?? []) if (!this.records.get(`ephemeral/${c.name}`)?.id) return true;
    return false;
  }

  /**
   * Waits for a start slot (start-gate.ts), oldest pod first; false when the pod was deleted
   * meanwhile. Without a gate (tests that build a worker alone) every start proceeds at once.
   */
  private async takeSlot(signal: AbortSignal): Promise<boolean> {
    const gate = this.deps.startGate;
    if (!gate || this.slot) return true;
    if (this.gone || this.pod.metadata?.deletionTimestamp) return false;
    const ac = new AbortController();
    // a follower of the node's signal, which every pod worker waiting for a slot shares
    const forget = whenAborted(signal, (reason) => ac.abort(reason));
    this.slotWake = () => ac.abort();
    try {
      const createdAt = Date.parse(this.pod.metadata?.creationTimestamp ?? '') || this.startTime;
      this.slot = await this.trace.span('start slot', () => gate.acquire(createdAt, ac.signal));
      return true;
    } catch (err) {
      if (signal.aborted) throw err;
      return false;
    } finally {
      this.slotWake = undefined;
      forget();
    }
  }

  private releaseSlot(): void {
    this.slot?.();
    this.slot = undefined;
  }

  private podRef(): { uid: string; namespace: string; name: string } {
    return { uid: this.uid, namespace: this.pod.metadata?.namespace ?? 'default', name: this.pod.metadata?.name ?? '' };
  }

  private record(name: string, kind: ContainerKind): ContainerRecord {
    const key = `${kind}/${name}`;
    let r = this.records.get(key);
    if (!r) {
      r = { name, kind, restartCount: 0, backoffMs: 0, retryAt: 0, waitingDelayMs: 0, pullFailures: 0, started: false, ready: false, probes: {} };
      this.records.set(key, r);
    }
    return r;
  }

  private appRecords(): ContainerRecord[] {
    return (this.pod.spec?.containers ?? []).map((c) => this.record(c.name, 'app'));
  }

  private initRecords(): ContainerRecord[] {
    return (this.pod.spec?.initContainers ?? []).map((c) => this.record(c.name, 'init'));
  }

  private async resolveHandler(signal: AbortSignal): Promise<RuntimeHandler | undefined> {
    const r = await resolveRuntimeHandler({ pod: this.pod, sandbox: this.sandbox, deps: this.deps, cfg: this.cfg, signal });
    return r.kind === 'found' ? r.handler : this.sandboxFailed(r.reason, r.message);
  }

  private sandboxFailed(reason: string, message: string): undefined {
    if (this.sandboxError?.message !== message) {
      this.event('Warning', 'FailedCreatePodSandBox', `Failed to create pod sandbox: ${message}`);
      this.log.warn({ reason }, message);
    }
    this.sandboxError = { reason, message };
    return undefined;
  }

  private netSandbox(): NetworkSandbox {
    return networkSandbox(this.pod, this.sandbox, this.podRef());
  }

  private async ensureSandbox(handler: RuntimeHandler, signal: AbortSignal): Promise<boolean> {
    if (this.sandbox?.created) return true;
    if (this.attaching) return this.networkAttached(signal);
    const persistentVolumes = await this.persistentVolumesFor(handler, signal);
    if (!persistentVolumes) return false;
    const ref = this.podRef();
    const hostNetwork = this.pod.spec?.hostNetwork ?? false;
    // a cluster network made ahead (netns-pool.ts) when one is ready: the sandbox takes its id, so
    // the record, the CNI cache and the guard all name it, and it is freed like one made here
    const pooled = this.sandbox || !this.mayTakePooledNetwork() ? undefined : this.deps.netnsPool?.take();
    const id = (pooled?.id ?? this.sandbox?.id ?? `${ref.uid.replace(/-/g, '').slice(0, 12)}${randomBytes(4).toString('hex')}`) as SandboxId;
    const netnsPath = hostNetwork ? undefined : (pooled?.netnsPath ?? join(this.cfg.netnsDir, id));
    const sb: SandboxRecord = { id, handler: handler.name, netnsPath, created: false, pod: ref };
    this.sandbox = sb;
    try {
      const args = { pod: this.pod, ref, sb, handler, deps: this.deps, cfg: this.cfg, trace: this.trace, signal, persistentVolumes };
      if (this.mayAttachBeside(handler)) {
        // a failure may leave the runtime sandbox made: the release below removes it (idempotent)
        this.runtimeSandbox = true;
        this.attaching = (await createPodSandboxBeside(args)).attached;
      } else {
        await createPodSandbox(args);
      }
      this.sandboxError = undefined;
      return true;
    } catch (err) {
      if (signal.aborted) throw err;
      this.sandboxFailed('SandboxCreateError', (err as Error).message);
      // Free what was made so a retry starts clean and nothing leaks.
      await this.releaseSandbox(signal).catch(() => undefined);
      return false;
    }
  }

  /**
   * A handler that shares PVC directories at sandbox creation (microvm) gets them resolved first;
   * a claim not ready (not bound, no PV) keeps the pod in ContainerCreating with FailedMount, as
   * for other runtimes, and no sandbox is made until the next pass resolves it: undefined then.
   */
  private async persistentVolumesFor(handler: RuntimeHandler, signal: AbortSignal): Promise<SandboxPersistentVolume[] | undefined> {
    if (!handler.persistentVolumesAtCreate || !(this.pod.spec?.volumes ?? []).some((v) => v.persistentVolumeClaim || v.ephemeral)) return [];
    try {
      const prepared = await this.volumes.setUp(this.pod, signal);
      return [...prepared.values()].filter((v) => v.persistent).map((v) => ({ name: v.name, hostPath: v.hostPath, readOnly: v.readOnly }));
    } catch (err) {
      if (signal.aborted) throw err;
      const message = isVolumeNotReady(err) ? unableToMountMessage(err) : (err as Error).message;
      if (this.sandboxError?.message !== message) this.event('Warning', 'FailedMount', message);
      this.sandboxError = { reason: 'FailedMount', message };
      return undefined;
    }
  }

  /** the pod's network is the cluster network alone, as a pooled one is: no hostNetwork, host ports or Multus networks */
  private mayTakePooledNetwork(): boolean {
    const spec = this.pod.spec;
    if (spec?.hostNetwork) return false;
    if ((spec?.containers ?? []).some((c) => c.ports?.some((p) => p.hostPort))) return false;
    const ann = this.pod.metadata?.annotations ?? {};
    return ann[NETWORKS_ANNOTATION] === undefined && ann[DEFAULT_NETWORK_ANNOTATION] === undefined;
  }

  /**
   * Can the pod's network be attached while its first containers are created (pod-sandbox.ts,
   * createPodSandboxBeside)? Only on a first start (no container made yet), with a runtime that
   * reads the hosts file at start and a network plugin that makes the netns on its own, and when no
   * container's env asks the downward API for the pod's IP (needed before create).
   */
  private mayAttachBeside(handler: RuntimeHandler): boolean {
    if (!handler.setSandboxHosts || !this.deps.network.prepare || this.pod.spec?.hostNetwork) return false;
    for (const r of this.records.values()) if (r.id) return false;
    const all = [...(this.pod.spec?.initContainers ?? []), ...(this.pod.spec?.containers ?? [])];
    return !all.some((c) => c.env?.some((e) => e.valueFrom?.fieldRef?.fieldPath?.startsWith('status.podIP')));
  }

  /**
   * Waits for the network attaching beside container creation: true once the sandbox is whole.
   * On failure the sandbox (with the containers made meanwhile) is freed and the records start
   * over, as if the sandbox had failed before any container was created.
   */
  private async networkAttached(signal: AbortSignal): Promise<boolean> {
    const attaching = this.attaching;
    const sb = this.sandbox;
    if (!attaching || !sb) return this.sandbox?.created === true;
    try {
      await this.trace.span('network wait', () => attaching);
    } catch (err) {
      this.attaching = undefined;
      if (signal.aborted) throw err;
      this.sandboxFailed('SandboxCreateError', (err as Error).message);
      await this.releaseSandbox(signal).catch(() => undefined);
      this.records.clear();
      this.initDone = false;
      return false;
    }
    this.attaching = undefined;
    sb.created = true;
    await this.trace.span('sandbox record', () => saveSandbox(this.cfg.dataDir, sb));
    return true;
  }

  private async observe(handler: RuntimeHandler, signal: AbortSignal): Promise<void> {
    for (const r of this.records.values()) {
      if (!r.id) continue;
      try {
        const st = await handler.status(r.id, signal);
        r.observed = st.status;
        if (st.status.state === 'exited') await this.messageFromLogs(r, st.status, signal);
      } catch (err) {
        if (!isHedgeError(err, 'NotFound')) throw err;
        // Vanished (e.g. removed by hand): treat as exited so restart policy applies.
        if (r.observed?.state !== 'exited') {
          r.observed = { state: 'exited', finishedAt: new Date(this.deps.clock.now()), exitCode: 137, reason: 'ContainerStatusUnknown', message: 'The container could not be located when the pod was synced' };
        }
      }
    }
  }

  /**
   * terminationMessagePolicy FallbackToLogsOnError: a container that failed without a message of
   * its own gets the tail of its log (upstream: the last 80 lines, at most 2 KiB), read once per
   * attempt.
   */
  private async messageFromLogs(r: ContainerRecord, o: Extract<ContainerState, { state: 'exited' }>, signal: AbortSignal): Promise<void> {
    if (o.exitCode === 0 || o.message || !r.id || !r.logPath) return;
    const spec = containerSpecOf(this.pod, r.kind, r.name);
    if (spec?.terminationMessagePolicy !== 'FallbackToLogsOnError') return;
    if (r.logMessage?.id !== r.id) r.logMessage = { id: r.id, message: await logTailMessage(r.logPath, signal) };
    if (r.logMessage.message) o.message = r.logMessage.message;
  }

  private async syncInitContainers(handler: RuntimeHandler, policy: string, signal: AbortSignal): Promise<{ initialized: boolean; initFailed: boolean }> {
    for (const c of this.pod.spec?.initContainers ?? []) {
      const r = this.record(c.name, 'init');
      if (isRestartableInit(c)) {
        // a sidecar (KEP-753): kept running and probed as an app container, restarted whatever the
        // pod's policy; the next init container waits only for it to have started (its startup probe)
        await this.syncContainer(handler, c, r, 'Always', signal);
        if (!this.initDone && !(r.observed?.state === 'running' && r.started)) return { initialized: false, initFailed: false };
        continue;
      }
      const o = r.observed;
      if (r.id && o?.state === 'exited' && o.exitCode === 0) {
        r.waiting = undefined;
        continue;
      }
      if (r.id && (o?.state === 'running' || o?.state === 'created')) return { initialized: false, initFailed: false };
      if (r.id && o?.state === 'exited') {
        // init containers restart unless the pod's policy is Never
        if (policy === 'Never') {
          r.waiting = undefined;
          return { initialized: false, initFailed: true };
        }
        await this.restartAfterBackoff(handler, c, r, signal);
        return { initialized: false, initFailed: false };
      }
      await this.startContainer(handler, c, r, signal);
      return { initialized: false, initFailed: false };
    }
    this.initDone = true;
    return { initialized: true, initFailed: false };
  }

  /** an app container, or a sidecar (with policy Always): started, probed, restarted per `policy` */
  private async syncContainer(handler: RuntimeHandler, c: Container, r: ContainerRecord, policy: string, signal: AbortSignal): Promise<void> {
    const o = r.observed;
    if (!r.id || !o) {
      await this.startContainer(handler, c, r, signal);
      return;
    }
    switch (o.state) {
      case 'running':
        r.waiting = undefined;
        {
          const { kill } = await runProbes({
            handler,
            container: c,
            record: r,
            podIP: this.sandbox?.podIP,
            now: this.deps.clock.now(),
            signal,
            onFailure: (message) => this.event('Warning', 'Unhealthy', message),
          });
          if (kill) await this.kill(handler, r, kill, signal);
        }
        return;
      case 'created':
      case 'unknown':
        return;
      case 'exited': {
        r.ready = false;
        r.started = false;
        const restart = policy === 'Always' || (policy === 'OnFailure' && o.exitCode !== 0);
        if (!restart) {
          this.noteExit(r);
          r.waiting = undefined;
          return;
        }
        await this.restartAfterBackoff(handler, c, r, signal);
        return;
      }
      default: {
        const never: never = o;
        throw new Error(`unknown container state ${JSON.stringify(never)}`);
      }
    }
  }

  /** account for an exit once: lastState, back-off for the next start */
  private noteExit(r: ContainerRecord): void {
    const o = r.observed;
    if (!r.id || o?.state !== 'exited' || r.handledExit === r.id) return;
    r.handledExit = r.id;
    const started = o.startedAt?.getTime();
    const message = r.killReason ?? o.message;
    r.killReason = undefined;
    r.lastTerminated = { exitCode: o.exitCode, reason: o.reason, message, startedAt: started, finishedAt: o.finishedAt.getTime(), containerId: r.id };
    Object.assign(r, afterExit(r, { startedAt: started, finishedAt: o.finishedAt.getTime() }, this.backoffPolicy()));
  }

  private async restartAfterBackoff(handler: RuntimeHandler, c: Container, r: ContainerRecord, signal: AbortSignal): Promise<void> {
    this.noteExit(r);
    if (!mayRetry(r, this.deps.clock.now())) {
      r.waiting = { reason: 'CrashLoopBackOff', message: crashLoopMessage(r, c.name, this.podRef()) };
      return;
    }
    await this.startContainer(handler, c, r, signal, r.restartCount + 1);
  }

  /**
   * On a first start, each container's rootfs (a local image's snapshot) is prepared while the
   * sandbox and its network are made, instead of after them in the container's attempt.
   */
  private prepareRootfsEarly(signal: AbortSignal): void {
    for (const r of this.records.values()) if (r.id) return;
    const all: [ContainerKind, Container[]][] = [['init', this.pod.spec?.initContainers ?? []], ['app', this.pod.spec?.containers ?? []]];
    for (const [kind, list] of all) {
      for (const c of list) {
        const key = `${kind}/${c.name}`;
        if (this.early.has(key)) continue;
        this.early.set(key, prepareRootfsEarly({ pod: this.pod, container: c, deps: this.deps, trace: this.trace, signal }));
      }
    }
  }

  /** the rootfs prepared ahead that no attempt took, removed */
  private async dropEarlyRootfs(): Promise<void> {
    const left = [...this.early.values()];
    this.early.clear();
    await Promise.all(left.map((e) => dropEarlyRootfs(this.deps, e)));
  }

  /** pull, resolve config, create and start one attempt; failures land in waiting reasons */
  private async startContainer(handler: RuntimeHandler, c: Container, r: ContainerRecord, signal: AbortSignal, restartCount = r.restartCount, pidNamespaceOf?: ContainerId): Promise<void> {
    const sandbox = this.sandbox;
    if (!sandbox) return;
    const key = `${r.kind}/${c.name}`;
    const early = this.early.get(key);
    this.early.delete(key);
    await startAttempt({
      pod: this.pod,
      logDir: this.logDir(c.name),
      sandbox,
      handler,
      container: c,
      record: r,
      restartCount,
      ...(pidNamespaceOf ? { pidNamespaceOf } : {}),
      deps: this.deps,
      hostIP: this.cfg.hostIP,
      backoff: this.backoffPolicy(),
      trace: this.trace,
      credentials: async () => (this.credentials ??= await pullCredentials(this.pod, this.deps.client, signal)),
      volumes: () => this.volumes.setUp(this.pod, signal),
      volumeDirsAhead: () => this.volumes.dirsAhead(this.pod),
      ...(early ? { early } : {}),
      beforeStart: async () => {
        if (!(await this.networkAttached(signal))) return false;
        this.heldEvents ??= [];
        return true;
      },
      // a slot is not held through an image pull (minutes on a slow link): others start meanwhile
      pull: async (f) => {
        // nor are the pass's events held through it (a container started before this one)
        this.releaseEvents();
        const held = this.slot !== undefined;
        this.releaseSlot();
        try {
          return await f();
        } finally {
          if (held) await this.takeSlot(signal);
        }
      },
      event: (type, reason, message) => this.event(type, reason, message),
      noteExit: () => this.noteExit(r),
      removeOld: (id) => void this.removeContainer(handler, id, signal),
      signal,
    });
  }

  private async removeContainer(handler: RuntimeHandler, id: ContainerId, signal: AbortSignal): Promise<void> {
    try {
      await handler.remove(id, signal);
      await this.deps.snapshotter.remove(id).catch(() => undefined);
    } catch (err) {
      this.log.warn({ err, container: id }, 'removing an old container failed');
    }
  }

  private backoffPolicy(): BackoffPolicy {
    return { baseMs: this.cfg.backoffBaseMs, maxMs: this.cfg.backoffMaxMs, resetMs: this.cfg.backoffResetMs };
  }

  private async kill(handler: RuntimeHandler, r: ContainerRecord, reason: string, signal: AbortSignal): Promise<void> {
    if (!r.id) return;
    this.event('Normal', 'Killing', reason);
    r.killReason = reason;
    r.ready = false;
    const grace = this.pod.spec?.terminationGracePeriodSeconds ?? 30;
    await handler.stop(r.id, { timeoutSeconds: Math.max(grace, MIN_GRACE_SECONDS), signal });
    r.observed = (await handler.status(r.id, signal)).status;
  }

  private async writeStatus(signal: AbortSignal, phase?: PodPhase, initialized = false): Promise<void> {
    if (this.gone) return;
    const inits = this.initRecords();
    const status = this.rejection
      ? rejectedPodStatus(this.pod, this.rejection, this.startTime)
      : buildPodStatus({
        pod: this.pod,
        phase: phase ?? this.finalPhase ?? 'Pending',
        inits,
        apps: this.appRecords(),
        ephemerals: (this.pod.spec?.ephemeralContainers ?? []).map((c) => this.record(c.name, 'ephemeral')),
        sandboxReady: this.sandbox?.created === true && !this.sandboxError,
        sandboxError: this.sandboxError,
        // a finished pod's sidecars were stopped with it: they do not undo Initialized
        initialized: initialized || (this.finalPhase !== undefined && inits.every((r) => (r.observed?.state === 'exited' && r.observed.exitCode === 0) || isRestartableInit(containerSpecOf(this.pod, 'init', r.name)))),
        podIP: this.sandbox?.podIP ?? this.pod.status?.podIP,
        podIPs: this.sandbox?.podIPs ?? this.pod.status?.podIPs?.flatMap((p) => (p.ip ? [p.ip] : [])),
        hostIP: this.cfg.hostIP,
        startTime: this.startTime,
        now: this.deps.clock.now(),
        previous: this.pod.status as PodStatus | undefined,
        ...(this.deadlineExceeded ? { reason: { reason: 'DeadlineExceeded', message: DEADLINE_MESSAGE } } : {}),
        ...(this.evicted ? { reason: { reason: 'Evicted', message: this.evicted.message }, ...(this.evicted.condition ? { extraConditions: [this.evicted.condition] } : {}) } : {}),
      });
    // Multus' network-status goes with the status write (pods/status may set annotations)
    const netStatus = this.sandbox?.networkStatus;
    const annotate = netStatus !== undefined && this.pod.metadata?.annotations?.[NETWORK_STATUS_ANNOTATION] !== netStatus;
    const json = JSON.stringify(status) + (netStatus ?? '');
    if (json === this.lastStatusJson) return;
    if (this.finalPhase && this.lastStatusJson && phase === undefined) return;
    if (this.staticPod) {
      // the static pod's own copy is the agent's: its conditions' transition times carry on from it
      this.pod = { ...this.pod, status };
      // no mirror (yet, offline, deleted): written when MirrorPods makes one (resendStatus)
      if (!this.staticPod.mirror()) return;
    }
    try {
      const updated = await this.deps.client.patch(
        Resources.pods,
        this.pod.metadata?.name ?? '',
        'strategic',
        { ...(annotate ? { metadata: { annotations: { [NETWORK_STATUS_ANNOTATION]: netStatus } } } : {}), status: statusPatch(status, this.evicted?.condition ? [this.evicted.condition.type] : []) },
        { namespace: this.pod.metadata?.namespace, subresource: 'status', signal },
      );
      this.lastStatusJson = json;
      if (updated.metadata.uid === this.uid && !this.staticPod) {
        this.pod = { ...this.pod, status: updated.status as PodStatus, ...(annotate ? { metadata: { ...this.pod.metadata, annotations: updated.metadata.annotations } } : {}) };
      }
    } catch (err) {
      if (isHedgeError(err, 'NotFound')) return;
      throw err;
    }
  }

  /** stop what runs, free sandbox, network and volumes; records (status) stay */
  /**
   * Frees the sandbox, its snapshots, network and volumes. `netnsGone` (a host reboot took the
   * pod's netns and every process with it): nothing runs in the netns any more, so the runtime's
   * removal and the CNI teardown (which releases the IP) run side by side, off the pod's restart path.
   */
  private async releaseSandbox(signal: AbortSignal, o: { netnsGone?: boolean } = {}): Promise<void> {
    // a set-up still writing must finish before its files are torn down
    await this.volumes.settle();
    await this.dropEarlyRootfs();
    // an attachment still running must finish before its teardown (the guard is set after CNI ADD)
    await this.attaching?.catch(() => undefined);
    this.attaching = undefined;
    const sb = this.sandbox;
    if (!sb) return;
    const handler = this.deps.runtimes.get(sb.handler);
    const runtimeMade = sb.created || this.runtimeSandbox;
    const runtimeSide = async (): Promise<void> => {
      if (runtimeMade && handler) await handler.removeSandbox(sb.id, signal);
      for (const r of this.records.values()) {
        if (r.id) await this.deps.snapshotter.remove(r.id).catch(() => undefined);
        if (r.prevId) await this.deps.snapshotter.remove(r.prevId).catch(() => undefined);
      }
    };
    const networkSide = async (): Promise<void> => {
      if (sb.netnsPath) await this.deps.network.tearDown(this.netSandbox(), signal);
    };
    if (o.netnsGone) {
      const results = await Promise.allSettled([runtimeSide(), networkSide()]);
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    } else {
      await runtimeSide();
      await networkSide();
    }
    await this.volumes.tearDown(this.uid, signal);
    await deleteSandboxState(this.cfg.dataDir, this.uid);
    this.sandbox = undefined;
    this.runtimeSandbox = false;
    this.initDone = false;
  }

  /** graceful termination: preStop, SIGTERM/grace/SIGKILL, sandbox, network, volumes, then the API object */
  private async terminate(signal: AbortSignal): Promise<void> {
    const spec = this.pod.spec;
    const grace = this.gone ? 0 : (this.pod.metadata?.deletionGracePeriodSeconds ?? spec?.terminationGracePeriodSeconds ?? 30);
    const handler = this.sandbox ? this.deps.runtimes.get(this.sandbox.handler) : undefined;
    if (handler) {
      await this.stopContainers(handler, grace, signal);
    }
    await this.releaseSandbox(signal);
    await rm(podLogDir(this.cfg.dataDir, this.podRef()), { recursive: true, force: true });
    // a static pod's mirror is MirrorPods' to delete (the file is gone)
    if (!this.gone && !this.staticPod) {
      try {
        await this.deps.client.delete(Resources.pods, this.pod.metadata?.name ?? '', {
          namespace: this.pod.metadata?.namespace,
          gracePeriodSeconds: 0,
          preconditions: { uid: this.uid },
          signal,
        });
      } catch (err) {
        if (!isHedgeError(err, 'NotFound') && !isHedgeError(err, 'Conflict')) throw err;
      }
    }
    this.finished = true;
  }
}

