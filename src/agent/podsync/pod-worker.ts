import type { Container, Pod, PodStatus, Probe } from 'kubernetes-types/core/v1.js';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Resources } from '../../client/resources.ts';
import { isHedgeError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import type { RegistryCredentials } from '../image/types.ts';
import type { NetworkSandbox } from '../network/types.ts';
import type { ContainerId, ContainerStatus, RuntimeHandler, SandboxId } from '../runtime/types.ts';
import { setUpPodVolumes } from '../volumes/set-up.ts';
import { tearDownPodVolumes } from '../volumes/tear-down.ts';
import type { PreparedVolume, TokenCache, VolumeContext } from '../volumes/types.ts';
import type { PodSyncConfig } from './config.ts';
import { buildContainerConfig } from './container-config.ts';
import { hostsFile, parseResolvConf, podHostname, resolvConf } from './dns.ts';
import { resolveEnv } from './env.ts';
import { ensureImage, pullCredentials } from './image-pull.ts';
import { Labels, type ContainerKind } from './labels.ts';
import { runProbe } from './probe.ts';
import { buildPodStatus, computePhase } from './pod-status.ts';
import { podResources } from './resources.ts';
import { deleteSandboxState, loadSandbox, saveSandbox } from './sandbox-state.ts';
import type { ContainerRecord, PodEvent, PodPhase, PodSyncDeps, ProbeTrack, SandboxRecord } from './types.ts';
import { runPreStop } from './pre-stop.ts';
import { StartTrace } from './start-trace.ts';

const MIN_GRACE_SECONDS = 2;

/** directory of CRI logs, kubelet layout: <dataDir>/logs/pods/<ns>_<name>_<uid>/<container>/<restart>.log */
export const podLogDir = (dataDir: string, pod: { namespace: string; name: string; uid: string }): string =>
  join(dataDir, 'logs', 'pods', `${pod.namespace}_${pod.name}_${pod.uid}`);

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
  private volumes?: Map<string, PreparedVolume>;
  /** a volume set-up in flight (started beside the sandbox, awaited by the first container) */
  private volumesPending?: Promise<Map<string, PreparedVolume>>;
  /** when volume contents were last written from their sources */
  private volumesAt = 0;
  private readonly tokens: TokenCache = new Map();
  private finalPhase?: PodPhase;
  private startTime: number;
  private lastStatusJson?: string;
  private wake?: () => void;
  private pendingWake = false;
  private finished = false;
  private parkedFlag = false;
  private readonly log: Logger;
  private credentials?: Map<string, RegistryCredentials>;
  /** spans of the first start, for the debug log (see start-trace.ts) */
  private readonly trace = new StartTrace();

  constructor(
    pod: Pod,
    private readonly deps: PodSyncDeps,
    private readonly cfg: PodSyncConfig,
  ) {
    this.pod = pod;
    this.log = deps.logger.child({ pod: `${pod.metadata?.namespace}/${pod.metadata?.name}`, uid: pod.metadata?.uid });
    this.startTime = Date.parse(pod.status?.startTime ?? '') || deps.clock.now();
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') this.finalPhase = phase;
    if (phase !== undefined && phase !== 'Pending') this.trace.abandon();
  }

  get uid(): string {
    return this.pod.metadata?.uid ?? '';
  }

  get currentPod(): Pod {
    return this.pod;
  }

  get done(): boolean {
    return this.finished;
  }

  /** waiting for the next resync or event (tests use it to drive a fake clock deterministically) */
  get parked(): boolean {
    return this.parkedFlag && !this.pendingWake;
  }

  /** the runtime container currently backing `name` (for logs/exec) */
  container(name: string): { handler?: RuntimeHandler; id?: ContainerId; prevId?: ContainerId; logDir: string; restartCount: number } | undefined {
    const r = this.records.get(`app/${name}`) ?? this.records.get(`init/${name}`);
    if (!r) return undefined;
    return {
      handler: this.sandbox ? this.deps.runtimes.get(this.sandbox.handler) : undefined,
      id: r.id,
      prevId: r.prevId,
      logDir: join(podLogDir(this.cfg.dataDir, this.podRef()), r.name),
      restartCount: r.restartCount,
    };
  }

  handle(ev: PodEvent): void {
    switch (ev.type) {
      case 'updated': {
        const old = this.pod;
        this.pod = ev.pod;
        // Our own status writes come back as updates; only spec or deletion changes need a pass now.
        const changed =
          old.metadata?.deletionTimestamp !== ev.pod.metadata?.deletionTimestamp || JSON.stringify(old.spec) !== JSON.stringify(ev.pod.spec);
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

  /** takes over containers found in the runtime at agent start, without restarting them */
  async adopt(handler: string, containers: ContainerStatus[], signal: AbortSignal): Promise<void> {
    this.trace.abandon();
    const saved = await loadSandbox(this.cfg.dataDir, this.uid);
    const sandboxId = saved?.id ?? containers[0]?.sandboxId;
    if (sandboxId) {
      this.sandbox = saved ?? { id: sandboxId, handler, created: true, pod: this.podRef() };
      const net = this.sandbox.netnsPath ? await this.deps.network.status(this.netSandbox(), signal).catch(() => undefined) : undefined;
      if (net?.ips[0]) this.sandbox.podIP = net.ips[0].address;
      this.sandbox.podIP ??= this.pod.status?.podIP;
    }
    const fromStatus = new Map<string, number>();
    for (const s of [...(this.pod.status?.containerStatuses ?? []), ...(this.pod.status?.initContainerStatuses ?? [])]) fromStatus.set(s.name, s.restartCount);
    const byName = new Map<string, ContainerStatus[]>();
    for (const c of containers) {
      const kind = (c.labels[Labels.containerKind] === 'init' ? 'init' : 'app') as ContainerKind;
      const key = `${kind}/${c.labels[Labels.containerName] ?? c.name}`;
      byName.set(key, [...(byName.get(key) ?? []), c]);
    }
    for (const [key, list] of byName) {
      list.sort((a, b) => Number(a.labels[Labels.restartCount] ?? 0) - Number(b.labels[Labels.restartCount] ?? 0));
      const cur = list[list.length - 1];
      const [kind, name] = key.split('/') as [ContainerKind, string];
      const rec = this.record(name, kind);
      rec.id = cur.id;
      rec.prevId = list.length > 1 ? list[list.length - 2].id : undefined;
      rec.restartCount = Math.max(Number(cur.labels[Labels.restartCount] ?? 0), fromStatus.get(name) ?? 0);
      rec.observed = cur.status;
      rec.logPath = join(podLogDir(this.cfg.dataDir, this.podRef()), name, `${rec.restartCount}.log`);
      const prevStatus = [...(this.pod.status?.containerStatuses ?? []), ...(this.pod.status?.initContainerStatuses ?? [])].find((s) => s.name === name);
      rec.image = prevStatus?.image;
      rec.imageID = prevStatus?.imageID;
      if (cur.status.state === 'running') {
        rec.started = prevStatus?.started ?? true;
        rec.ready = prevStatus?.ready ?? false;
        rec.handledExit = undefined;
      }
      const prevTerm = prevStatus?.lastState?.terminated;
      if (prevTerm && rec.prevId) {
        rec.lastTerminated = {
          exitCode: prevTerm.exitCode,
          reason: prevTerm.reason ?? 'Error',
          message: prevTerm.message,
          startedAt: Date.parse(prevTerm.startedAt ?? '') || undefined,
          finishedAt: Date.parse(prevTerm.finishedAt ?? '') || this.deps.clock.now(),
          containerId: rec.prevId,
        };
      }
      for (const extra of list.slice(0, -2)) {
        await this.deps.runtimes.get(handler)?.remove(extra.id, signal).catch(() => undefined);
      }
    }
    this.lastStatusJson = JSON.stringify(this.pod.status ?? {});
  }

  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted && !this.finished) {
      this.pendingWake = false;
      try {
        await this.reconcile(signal);
      } catch (err) {
        if (signal.aborted) break;
        this.log.error({ err }, 'pod sync failed');
      }
      if (this.finished || signal.aborted) break;
      if (this.pendingWake) continue;
      await this.waitWake(signal);
    }
  }

  private async waitWake(signal: AbortSignal): Promise<void> {
    const ac = new AbortController();
    const onAbort = (): void => ac.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    this.wake = () => ac.abort();
    this.parkedFlag = true;
    try {
      await this.deps.clock.sleep(this.cfg.resyncMs, ac.signal);
    } catch {
      // woken early
    } finally {
      this.parkedFlag = false;
      this.wake = undefined;
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** One pass: terminate if deleted, else move containers one step toward the spec. */
  async reconcile(signal: AbortSignal): Promise<void> {
    if (this.gone || this.pod.metadata?.deletionTimestamp) {
      await this.terminate(signal);
      return;
    }
    if (this.finalPhase) {
      // a release interrupted by an agent restart is finished here
      if (this.sandbox) await this.releaseSandbox(signal);
      await this.writeStatus(signal);
      return;
    }
    const handler = await this.trace.span('runtime class', () => this.resolveHandler(signal));
    if (!handler) {
      await this.writeStatus(signal);
      return;
    }
    if (!this.sandbox?.created && !this.volumes) {
      // volumes need no sandbox (a TokenRequest, configMap GETs, files): ready them while the network comes up
      this.setUpVolumes(signal).catch(() => undefined);
    }
    if (!(await this.ensureSandbox(handler, signal))) {
      await this.writeStatus(signal);
      return;
    }
    await this.refreshVolumes(signal);
    await this.trace.span('observe', () => this.observe(handler, signal));
    const policy = this.pod.spec?.restartPolicy ?? 'Always';
    const { initialized, initFailed } = await this.syncInitContainers(handler, policy, signal);
    if (initialized && !initFailed) {
      for (const c of this.pod.spec?.containers ?? []) await this.syncAppContainer(handler, c, policy, signal);
    }
    const phase = computePhase({ restartPolicy: policy, initFailed, initialized, apps: this.appRecords() });
    if (phase === 'Succeeded' || phase === 'Failed') {
      this.finalPhase = phase;
      for (const r of this.records.values()) r.ready = false;
      await this.writeStatus(signal, phase, initialized);
      // A finished pod keeps its object (and logs) but not its sandbox, network or volumes.
      await this.releaseSandbox(signal);
      return;
    }
    await this.trace.span('status write', () => this.writeStatus(signal, phase, initialized));
    if (phase === 'Running' && this.trace.active) this.trace.finish(this.log);
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
    if (this.sandbox) {
      const h = this.deps.runtimes.get(this.sandbox.handler);
      if (h) return h;
    }
    const rcName = this.pod.spec?.runtimeClassName;
    let handlerName = this.cfg.defaultHandler;
    if (rcName) {
      const found = await this.runtimeClassHandler(rcName, signal);
      if (found === undefined) return this.sandboxFailed('RuntimeClassNotFound', `RuntimeClass "${rcName}" not found`);
      handlerName = found;
    }
    const h = this.deps.runtimes.get(handlerName);
    if (!h) {
      return this.sandboxFailed(
        'RuntimeHandlerNotFound',
        `no runtime for "${handlerName}" is configured on node ${this.cfg.nodeName} (offers: ${[...this.deps.runtimes.keys()].join(', ')})`,
      );
    }
    return h;
  }

  private async runtimeClassHandler(name: string, signal: AbortSignal): Promise<string | undefined> {
    if (this.deps.runtimeClassHandler) return this.deps.runtimeClassHandler(name, signal);
    try {
      const rc = await this.deps.client.get(Resources.runtimeclasses, name, { signal });
      return typeof rc.handler === 'string' ? rc.handler : '';
    } catch (err) {
      if (isHedgeError(err, 'NotFound')) return undefined;
      throw err;
    }
  }

  private sandboxFailed(reason: string, message: string): undefined {
    if (this.sandboxError?.message !== message) {
      this.deps.events.emit(this.pod, 'Warning', 'FailedCreatePodSandBox', `Failed to create pod sandbox: ${message}`);
      this.log.warn({ reason }, message);
    }
    this.sandboxError = { reason, message };
    return undefined;
  }

  private netSandbox(): NetworkSandbox {
    const sb = this.sandbox;
    const ports = (this.pod.spec?.containers ?? []).flatMap((c) => c.ports ?? []).filter((p) => p.hostPort);
    return {
      id: sb?.id ?? '',
      pod: this.podRef(),
      netnsPath: sb?.netnsPath ?? '',
      portMappings: ports.map((p) => ({
        hostPort: p.hostPort ?? 0,
        containerPort: p.containerPort,
        protocol: (p.protocol ?? 'TCP').toLowerCase() as 'tcp' | 'udp' | 'sctp',
        ...(p.hostIP ? { hostIP: p.hostIP } : {}),
      })),
    };
  }

  private async ensureSandbox(handler: RuntimeHandler, signal: AbortSignal): Promise<boolean> {
    if (this.sandbox?.created) return true;
    const ref = this.podRef();
    const hostNetwork = this.pod.spec?.hostNetwork ?? false;
    const id = (this.sandbox?.id ?? `${ref.uid.replace(/-/g, '').slice(0, 12)}${randomBytes(4).toString('hex')}`) as SandboxId;
    const sb: SandboxRecord = {
      id,
      handler: handler.name,
      netnsPath: hostNetwork ? undefined : join(this.cfg.netnsDir, id),
      created: false,
      pod: ref,
    };
    this.sandbox = sb;
    try {
      await this.trace.span('sandbox record', () => saveSandbox(this.cfg.dataDir, sb));
      let podIP = this.cfg.hostIP;
      if (!hostNetwork) {
        const net = await this.trace.span('network (netns + CNI)', () => this.deps.network.setUp(this.netSandbox(), signal));
        podIP = net.ips.find((x) => x.family === 4)?.address ?? net.ips[0]?.address;
      }
      sb.podIP = podIP;
      const host = parseResolvConf(await readFile(this.cfg.hostResolvConf, 'utf8').catch(() => ''));
      const dir = join(this.cfg.dataDir, 'pods', ref.uid, 'sandbox');
      await mkdir(dir, { recursive: true });
      await this.trace.span('sandbox create', () => handler.createSandbox(
        {
          id,
          pod: ref,
          hostname: podHostname(this.pod),
          netnsPath: sb.netnsPath,
          shareIpc: this.pod.spec?.hostIPC ?? false,
          cgroupParent: `${this.cfg.cgroupRoot}/pod${ref.uid}`,
          resources: podResources(this.pod),
          hostsFile: hostsFile(this.pod, podIP),
          resolvConf: resolvConf(this.pod, host, { dns: this.cfg.clusterDNS, domain: this.cfg.clusterDomain }),
          stateDir: dir,
          labels: { [Labels.podUid]: ref.uid, [Labels.podName]: ref.name, [Labels.podNamespace]: ref.namespace },
          annotations: {},
        },
        signal,
      ));
      sb.created = true;
      await this.trace.span('sandbox record', () => saveSandbox(this.cfg.dataDir, sb));
      this.sandboxError = undefined;
      return true;
    } catch (err) {
      if (signal.aborted) throw err;
      const msg = (err as Error).message;
      this.sandboxFailed('SandboxCreateError', msg);
      // Free what was made so a retry starts clean and nothing leaks.
      await this.releaseSandbox(signal).catch(() => undefined);
      return false;
    }
  }

  private async observe(handler: RuntimeHandler, signal: AbortSignal): Promise<void> {
    for (const r of this.records.values()) {
      if (!r.id) continue;
      try {
        const st = await handler.status(r.id, signal);
        r.observed = st.status;
      } catch (err) {
        if (!isHedgeError(err, 'NotFound')) throw err;
        // Vanished (e.g. removed by hand): treat as exited so restart policy applies.
        if (r.observed?.state !== 'exited') {
          r.observed = { state: 'exited', finishedAt: new Date(this.deps.clock.now()), exitCode: 137, reason: 'ContainerStatusUnknown', message: 'The container could not be located when the pod was synced' };
        }
      }
    }
  }

  private async syncInitContainers(handler: RuntimeHandler, policy: string, signal: AbortSignal): Promise<{ initialized: boolean; initFailed: boolean }> {
    for (const c of this.pod.spec?.initContainers ?? []) {
      const r = this.record(c.name, 'init');
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
    return { initialized: true, initFailed: false };
  }

  private async syncAppContainer(handler: RuntimeHandler, c: Container, policy: string, signal: AbortSignal): Promise<void> {
    const r = this.record(c.name, 'app');
    const o = r.observed;
    if (!r.id || !o) {
      await this.startContainer(handler, c, r, signal);
      return;
    }
    switch (o.state) {
      case 'running':
        r.waiting = undefined;
        await this.runProbes(handler, c, r, signal);
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
    if (started !== undefined && o.finishedAt.getTime() - started >= this.cfg.backoffResetMs) r.backoffMs = 0;
    // First crash restarts at once; then base, doubling, capped (the kubelet's CrashLoopBackOff).
    r.waitingDelayMs = r.backoffMs;
    // like the kubelet, the back-off runs from the container's finish, not from when we noticed
    r.retryAt = o.finishedAt.getTime() + r.backoffMs;
    r.backoffMs = r.backoffMs === 0 ? this.cfg.backoffBaseMs : Math.min(r.backoffMs * 2, this.cfg.backoffMaxMs);
  }

  private async restartAfterBackoff(handler: RuntimeHandler, c: Container, r: ContainerRecord, signal: AbortSignal): Promise<void> {
    this.noteExit(r);
    if (this.deps.clock.now() < r.retryAt) {
      const p = this.podRef();
      r.waiting = {
        reason: 'CrashLoopBackOff',
        message: `back-off ${Math.round(r.waitingDelayMs / 1000)}s restarting failed container=${c.name} pod=${p.name}_${p.namespace}(${p.uid})`,
      };
      return;
    }
    await this.startContainer(handler, c, r, signal, r.restartCount + 1);
  }

  /** pull, resolve config, create and start one attempt; failures land in waiting reasons */
  private async startContainer(handler: RuntimeHandler, c: Container, r: ContainerRecord, signal: AbortSignal, restartCount = r.restartCount): Promise<void> {
    const now = this.deps.clock.now();
    if (now < r.retryAt && r.waiting) {
      if (r.waiting.reason === 'ErrImagePull') r.waiting = { reason: 'ImagePullBackOff', message: `Back-off pulling image "${c.image}": ${r.waiting.message ?? ''}` };
      return;
    }
    const sandbox = this.sandbox;
    if (!sandbox) return;
    r.image = c.image;
    let image;
    try {
      const res = await this.trace.span('image resolve', () => ensureImage({
        container: c,
        images: this.deps.images,
        credentials: async () => (this.credentials ??= await pullCredentials(this.pod, this.deps.client, signal)),
        signal,
        onPulling: () => this.deps.events.emit(this.pod, 'Normal', 'Pulling', `Pulling image "${c.image}"`),
      }));
      image = res.image;
      if (res.pulled) this.deps.events.emit(this.pod, 'Normal', 'Pulled', `Successfully pulled image "${c.image}"`);
      r.pullFailures = 0;
    } catch (err) {
      if (signal.aborted) throw err;
      const msg = (err as Error).message;
      const never = isHedgeError(err) && err.details.kind === 'ErrImageNeverPull';
      r.waiting = { reason: never ? 'ErrImageNeverPull' : 'ErrImagePull', message: msg };
      r.pullFailures++;
      r.retryAt = now + Math.min(this.cfg.backoffBaseMs * 2 ** (r.pullFailures - 1), this.cfg.backoffMaxMs);
      this.deps.events.emit(this.pod, 'Warning', 'Failed', `Failed to pull image "${c.image}": ${msg}`);
      return;
    }
    r.imageID = image.digest;
    let env: Map<string, string>;
    let volumes: Map<string, PreparedVolume>;
    try {
      volumes = await this.setUpVolumes(signal);
    } catch (err) {
      if (signal.aborted) throw err;
      r.waiting = { reason: 'ContainerCreating', message: `MountVolume.SetUp failed: ${(err as Error).message}` };
      this.deps.events.emit(this.pod, 'Warning', 'FailedMount', (err as Error).message);
      return;
    }
    try {
      env = await this.trace.span('env', () => resolveEnv(
        { pod: this.pod, client: this.deps.client, podIP: sandbox.podIP, hostIP: this.cfg.hostIP, nodeAllocatable: this.deps.nodeAllocatable, signal },
        c,
        image.config.Env ?? [],
      ));
    } catch (err) {
      if (signal.aborted) throw err;
      r.waiting = { reason: 'CreateContainerConfigError', message: (err as Error).message };
      return;
    }
    const id = randomBytes(16).toString('hex') as ContainerId;
    const logDir = join(podLogDir(this.cfg.dataDir, this.podRef()), c.name);
    const logPath = join(logDir, `${restartCount}.log`);
    let cfg;
    try {
      const rootfs = await this.trace.span('snapshot', async () => {
        const top = await this.deps.images.unpack(image, this.deps.snapshotter, signal);
        return this.deps.snapshotter.prepare(id, top, { labels: { [Labels.podUid]: this.uid }, signal });
      });
      cfg = buildContainerConfig({
        pod: this.pod,
        container: c,
        kind: r.kind,
        id,
        sandboxId: sandbox.id,
        image,
        rootfs,
        env,
        volumes,
        restartCount,
        logPath,
      });
      await mkdir(logDir, { recursive: true });
      const created = cfg;
      await this.trace.span('container create', () => handler.createContainer(created, signal));
    } catch (err) {
      if (signal.aborted) throw err;
      r.waiting = { reason: isHedgeError(err, 'Invalid') ? 'CreateContainerConfigError' : 'CreateContainerError', message: (err as Error).message };
      await this.deps.snapshotter.remove(id).catch(() => undefined);
      return;
    }
    // The attempt exists now: it is the current container; the old current becomes "previous".
    const older = r.prevId;
    if (r.id) r.prevId = r.id;
    r.id = id;
    r.restartCount = restartCount;
    r.logPath = logPath;
    r.probes = {};
    r.started = false;
    r.ready = false;
    if (older) void this.removeContainer(handler, older, signal);
    try {
      await this.trace.span('container start', () => handler.start(id, signal));
      r.waiting = undefined;
      r.observed = (await this.trace.span('container status', () => handler.status(id, signal))).status;
      this.deps.events.emit(this.pod, 'Normal', 'Started', `Started container ${c.name}`);
      if (r.observed.state === 'running') this.updateStarted(c, r);
    } catch (err) {
      if (signal.aborted) throw err;
      const msg = (err as Error).message;
      const at = new Date(this.deps.clock.now());
      r.observed = { state: 'exited', finishedAt: at, exitCode: 128, reason: 'StartError', message: msg };
      this.noteExit(r);
      r.waiting = { reason: 'RunContainerError', message: msg };
      this.deps.events.emit(this.pod, 'Warning', 'Failed', `Error: ${msg}`);
    }
  }

  /** one set-up at a time; the result is kept until the sandbox is released */
  private setUpVolumes(signal: AbortSignal): Promise<Map<string, PreparedVolume>> {
    if (this.volumes) return Promise.resolve(this.volumes);
    const at = this.deps.clock.now();
    this.volumesPending ??= this.trace
      .span('volumes', () => setUpPodVolumes(this.volumeContext(signal)))
      .then((v) => {
        this.volumesAt = at;
        return (this.volumes = v);
      })
      .finally(() => {
        this.volumesPending = undefined;
      });
    return this.volumesPending;
  }

  /**
   * configMap/secret/downwardAPI/projected contents follow their sources every volumeRefreshMs
   * (the atomic writer swaps `..data`, so readers never see a mix); a failed refresh, e.g. with
   * the cloud unreachable, keeps what the pod has.
   */
  private async refreshVolumes(signal: AbortSignal): Promise<void> {
    if (!this.volumes || this.volumesPending) return;
    const now = this.deps.clock.now();
    if (now - this.volumesAt < this.cfg.volumeRefreshMs) return;
    this.volumesAt = now;
    if (!(this.pod.spec?.volumes ?? []).some((v) => v.configMap || v.secret || v.downwardAPI || v.projected)) return;
    try {
      this.volumes = await setUpPodVolumes(this.volumeContext(signal));
    } catch (err) {
      if (signal.aborted) throw err;
      this.log.warn({ err }, 'refreshing volume contents failed; keeping the current ones');
    }
  }

  private volumeContext(signal: AbortSignal): VolumeContext {
    return {
      pod: this.pod,
      dataDir: this.cfg.dataDir,
      client: this.deps.client,
      mounter: this.deps.mounter,
      logger: this.log,
      clock: this.deps.clock,
      nodeName: this.cfg.nodeName,
      signal,
      warn: (reason, message) => this.deps.events.emit(this.pod, 'Warning', reason, message),
      tokens: this.tokens,
    };
  }

  private async removeContainer(handler: RuntimeHandler, id: ContainerId, signal: AbortSignal): Promise<void> {
    try {
      await handler.remove(id, signal);
      await this.deps.snapshotter.remove(id).catch(() => undefined);
    } catch (err) {
      this.log.warn({ err, container: id }, 'removing an old container failed');
    }
  }

  private updateStarted(c: Container, r: ContainerRecord): void {
    if (!c.startupProbe) r.started = r.observed?.state === 'running';
    if (!c.readinessProbe && r.started) r.ready = true;
  }

  private async runProbes(handler: RuntimeHandler, c: Container, r: ContainerRecord, signal: AbortSignal): Promise<void> {
    const o = r.observed;
    if (o?.state !== 'running' || !r.id) return;
    const id = r.id;
    const startedAt = o.startedAt.getTime();
    const now = this.deps.clock.now();
    const probeOnce = async (kind: 'startup' | 'liveness' | 'readiness', p: Probe): Promise<ProbeTrack | undefined> => {
      const t = (r.probes[kind] ??= { nextAt: startedAt + (p.initialDelaySeconds ?? 0) * 1000, successes: 0, failures: 0 });
      if (now < t.nextAt) return undefined;
      t.nextAt = now + (p.periodSeconds ?? 10) * 1000;
      const res = await runProbe(p, {
        podIP: this.sandbox?.podIP,
        ports: c.ports,
        timeoutMs: (p.timeoutSeconds ?? 1) * 1000,
        exec: (command, s) => handler.exec(id, { command, tty: false, signal: AbortSignal.any([s, signal]) }),
      });
      if (res.ok) {
        t.successes++;
        t.failures = 0;
        if (t.successes >= (kind === 'readiness' ? (p.successThreshold ?? 1) : 1)) t.ok = true;
      } else {
        t.failures++;
        t.successes = 0;
        if (t.failures >= (p.failureThreshold ?? 3)) t.ok = false;
        this.deps.events.emit(this.pod, 'Warning', 'Unhealthy', `${kind[0].toUpperCase()}${kind.slice(1)} probe failed: ${res.message}`);
      }
      return t;
    };
    if (c.startupProbe && !r.started) {
      const t = await probeOnce('startup', c.startupProbe);
      if (t?.ok === true) r.started = true;
      else if (t?.ok === false) {
        await this.kill(handler, c, r, `Container ${c.name} failed startup probe, will be restarted`, signal);
        return;
      }
      if (!r.started) return;
    }
    r.started = true;
    if (c.livenessProbe) {
      const t = await probeOnce('liveness', c.livenessProbe);
      if (t?.ok === false) {
        await this.kill(handler, c, r, `Container ${c.name} failed liveness probe, will be restarted`, signal);
        return;
      }
    }
    if (c.readinessProbe) {
      const t = await probeOnce('readiness', c.readinessProbe);
      if (t?.ok !== undefined) r.ready = t.ok;
    } else r.ready = true;
  }

  private async kill(handler: RuntimeHandler, c: Container, r: ContainerRecord, reason: string, signal: AbortSignal): Promise<void> {
    if (!r.id) return;
    this.deps.events.emit(this.pod, 'Normal', 'Killing', reason);
    r.killReason = reason;
    r.ready = false;
    const grace = this.pod.spec?.terminationGracePeriodSeconds ?? 30;
    await handler.stop(r.id, { timeoutSeconds: Math.max(grace, MIN_GRACE_SECONDS), signal });
    r.observed = (await handler.status(r.id, signal)).status;
  }

  private async writeStatus(signal: AbortSignal, phase?: PodPhase, initialized = false): Promise<void> {
    if (this.gone) return;
    const inits = this.initRecords();
    const status = buildPodStatus({
      pod: this.pod,
      phase: phase ?? this.finalPhase ?? 'Pending',
      inits,
      apps: this.appRecords(),
      sandboxReady: this.sandbox?.created === true && !this.sandboxError,
      sandboxError: this.sandboxError,
      initialized: initialized || (this.finalPhase !== undefined && inits.every((r) => r.observed?.state === 'exited' && r.observed.exitCode === 0)),
      podIP: this.sandbox?.podIP ?? this.pod.status?.podIP,
      hostIP: this.cfg.hostIP,
      startTime: this.startTime,
      now: this.deps.clock.now(),
      previous: this.pod.status as PodStatus | undefined,
    });
    const json = JSON.stringify(status);
    if (json === this.lastStatusJson) return;
    if (this.finalPhase && this.lastStatusJson && phase === undefined) return;
    try {
      const updated = await this.deps.client.patch(
        Resources.pods,
        this.pod.metadata?.name ?? '',
        'merge',
        { status },
        { namespace: this.pod.metadata?.namespace, subresource: 'status', signal },
      );
      this.lastStatusJson = json;
      if (updated.metadata.uid === this.uid) this.pod = { ...this.pod, status: updated.status as PodStatus };
    } catch (err) {
      if (isHedgeError(err, 'NotFound')) return;
      throw err;
    }
  }

  /** stop what runs, free sandbox, network and volumes; records (status) stay */
  private async releaseSandbox(signal: AbortSignal): Promise<void> {
    // a set-up still writing must finish before its files are torn down
    await this.volumesPending?.catch(() => undefined);
    const sb = this.sandbox;
    if (!sb) return;
    const handler = this.deps.runtimes.get(sb.handler);
    if (sb.created && handler) await handler.removeSandbox(sb.id, signal);
    for (const r of this.records.values()) {
      if (r.id) await this.deps.snapshotter.remove(r.id).catch(() => undefined);
      if (r.prevId) await this.deps.snapshotter.remove(r.prevId).catch(() => undefined);
    }
    if (sb.netnsPath) await this.deps.network.tearDown(this.netSandbox(), signal);
    await tearDownPodVolumes({ dataDir: this.cfg.dataDir, uid: this.uid, mounter: this.deps.mounter, signal });
    await deleteSandboxState(this.cfg.dataDir, this.uid);
    this.sandbox = undefined;
    this.volumes = undefined;
  }

  /** graceful termination: preStop, SIGTERM/grace/SIGKILL, sandbox, network, volumes, then the API object */
  private async terminate(signal: AbortSignal): Promise<void> {
    const spec = this.pod.spec;
    const grace = this.gone ? 0 : (this.pod.metadata?.deletionGracePeriodSeconds ?? spec?.terminationGracePeriodSeconds ?? 30);
    const deadline = this.deps.clock.now() + grace * 1000;
    const handler = this.sandbox ? this.deps.runtimes.get(this.sandbox.handler) : undefined;
    if (handler) {
      const all = [...(spec?.containers ?? []).map((c) => ({ c, r: this.records.get(`app/${c.name}`) })), ...(spec?.initContainers ?? []).map((c) => ({ c, r: this.records.get(`init/${c.name}`) }))];
      await Promise.all(
        all.map(async ({ c, r }) => {
          if (!r?.id || r.observed?.state !== 'running') return;
          const id = r.id;
          if (c.lifecycle?.preStop && grace > 0) {
            this.deps.events.emit(this.pod, 'Normal', 'Killing', `Stopping container ${c.name}`);
            await runPreStop(c.lifecycle.preStop, {
              exec: (command, s) => handler.exec(id, { command, tty: false, signal: s }),
              podIP: this.sandbox?.podIP,
              timeoutMs: grace * 1000,
              signal,
            }).catch((err: unknown) => this.log.warn({ err, container: c.name }, 'preStop hook failed'));
          }
          const left = Math.max(MIN_GRACE_SECONDS, Math.ceil((deadline - this.deps.clock.now()) / 1000));
          await handler.stop(id, { timeoutSeconds: left, signal });
          r.observed = (await handler.status(id, signal).catch(() => undefined))?.status ?? r.observed;
        }),
      );
    }
    await this.releaseSandbox(signal);
    await rm(podLogDir(this.cfg.dataDir, this.podRef()), { recursive: true, force: true });
    if (!this.gone) {
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

