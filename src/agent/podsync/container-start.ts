/**
 * One attempt at a container: pull (with back-off), volumes, env, snapshot, create, start, postStart. The
 * record becomes the new attempt only once the runtime has created it; every failure lands in a
 * waiting reason (ErrImagePull, CreateContainerConfigError, RunContainerError...) as the kubelet's.
 */
import type { Container, LifecycleHandler, Pod } from 'kubernetes-types/core/v1.js';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { isHedgeError } from '../../lib/errors.ts';
import type { ImageInfo, RegistryCredentials } from '../image/types.ts';
import type { ContainerId, RuntimeHandler } from '../runtime/types.ts';
import type { Mount } from '../snapshot/types.ts';
import { isVolumeNotReady, unableToMountMessage } from '../volumes/persistent-volume.ts';
import { prepareSubPaths } from '../volumes/sub-path.ts';
import type { PreparedVolume } from '../volumes/types.ts';
import { buildContainerConfig } from './container-config.ts';
import { hasSubPath } from './pod-volumes.ts';
import { resolveEnv } from './env.ts';
import { ensureImage, pullPolicy } from './image-pull.ts';
import { Labels } from './labels.ts';
import { runLifecycleHook } from './lifecycle-hook.ts';
import { MIN_GRACE_SECONDS } from './pod-termination.ts';
import { markStartedWithoutProbes } from './probe-runner.ts';
import { afterPullFailure, afterPullSuccess, mayRetry, type BackoffPolicy } from './restart-backoff.ts';
import type { StartTrace } from './start-trace.ts';
import type { ContainerRecord, PodSyncDeps, SandboxRecord } from './types.ts';

export interface StartAttempt {
  pod: Pod;
  /** the container's log directory; the attempt logs to <logDir>/<restartCount>.log */
  logDir: string;
  sandbox: SandboxRecord;
  handler: RuntimeHandler;
  container: Container;
  record: ContainerRecord;
  restartCount: number;
  /** the running container whose PID namespace this one joins (an ephemeral container's target) */
  pidNamespaceOf?: ContainerId;
  deps: PodSyncDeps;
  hostIP: string | undefined;
  backoff: BackoffPolicy;
  trace: StartTrace;
  credentials: () => Promise<Map<string, RegistryCredentials>>;
  /** runs a long wait, an image pull or a postStart hook, without a start slot (start-gate.ts) */
  pull?: <T>(f: () => Promise<T>) => Promise<T>;
  /** waits, between create and start, for what the start needs (the pod's network); false: give up the attempt (the sandbox was freed) */
  beforeStart?: () => Promise<boolean>;
  /** the pod's volumes, set up once */
  volumes: () => Promise<Map<string, PreparedVolume>>;
  /** before they are set up, the volumes' directories when their contents may follow the create (PodVolumes.dirsAhead) */
  volumeDirsAhead?: () => Map<string, PreparedVolume> | undefined;
  /** this container's rootfs, prepared while the pod's sandbox was made (prepareRootfsEarly); the attempt owns it now */
  early?: Promise<EarlyRootfs | undefined>;
  event: (type: 'Normal' | 'Warning', reason: string, message: string) => void;
  /** account for the attempt's exit (a start that failed) */
  noteExit: () => void;
  /** the attempt before the previous one is no longer needed */
  removeOld: (id: ContainerId) => void;
  signal: AbortSignal;
}

/** A container's rootfs prepared ahead of its first attempt: the image found locally, the snapshot for the attempt's id. */
export interface EarlyRootfs {
  /** the container's image reference when it was prepared (a pod's images may change) */
  ref: string;
  image: ImageInfo;
  id: ContainerId;
  rootfs: Promise<Mount[]>;
}

/**
 * Starts preparing a container's rootfs before its first attempt, while the pod's sandbox and
 * network are made (pod-worker.ts): the snapshot needs only the image, and on a first start it was
 * otherwise prepared after the sandbox. Only an image already on the node that its pull policy
 * lets be used without asking a registry; undefined when there is none (the attempt resolves,
 * pulls and prepares as usual). Resolves, never rejects; a failed preparation is the attempt's to
 * see (it prepares afresh). `dropEarlyRootfs` removes one no attempt took.
 */
export async function prepareRootfsEarly(o: { pod: Pod; container: Container; deps: PodSyncDeps; trace: StartTrace; signal: AbortSignal }): Promise<EarlyRootfs | undefined> {
  const ref = o.container.image ?? '';
  if (pullPolicy(o.container) === 'Always') return undefined;
  const image = await o.deps.images.resolve(ref).catch(() => undefined);
  if (!image || o.signal.aborted) return undefined;
  const id = newContainerId();
  const rootfs = o.trace.span('snapshot', () => prepareRootfs(o.deps, o.pod, image, id, o.signal));
  rootfs.catch(() => undefined);
  return { ref, image, id, rootfs };
}

/** removes a rootfs prepared ahead that no attempt took (the pod went, or its image changed) */
export async function dropEarlyRootfs(deps: PodSyncDeps, early: Promise<EarlyRootfs | undefined>): Promise<void> {
  const e = await early;
  if (!e) return;
  await e.rootfs.catch(() => undefined);
  await deps.snapshotter.remove(e.id).catch(() => undefined);
}

const newContainerId = (): ContainerId => randomBytes(16).toString('hex') as ContainerId;

/** the image's layers unpacked (once per image) and the container's writable snapshot on top */
async function prepareRootfs(deps: PodSyncDeps, pod: Pod, image: ImageInfo, id: ContainerId, signal: AbortSignal): Promise<Mount[]> {
  const top = await deps.images.unpack(image, deps.snapshotter, signal);
  return deps.snapshotter.prepare(id, top, { labels: { [Labels.podUid]: pod.metadata?.uid ?? '' }, signal });
}

/** the rootfs prepared ahead, when it is still this container's image and was made; one that is not is removed */
async function takeEarlyRootfs(o: StartAttempt): Promise<EarlyRootfs | undefined> {
  const e = await o.early;
  if (!e) return undefined;
  if (e.ref === (o.container.image ?? '') && (await e.rootfs.then(() => true, () => false))) return e;
  await dropEarlyRootfs(o.deps, Promise.resolve(e));
  return undefined;
}

/** the container's image as its pull policy wants it (pulled if need be); undefined: the record says why (ErrImagePull...) */
async function resolveImage(o: StartAttempt, now: number): Promise<ImageInfo | undefined> {
  const { container: c, record: r, deps, signal } = o;
  try {
    const res = await o.trace.span('image resolve', () => ensureImage({
      container: c,
      images: deps.images,
      credentials: o.credentials,
      signal,
      onPulling: () => o.event('Normal', 'Pulling', `Pulling image "${c.image}"`),
      ...(o.pull ? { around: o.pull } : {}),
    }));
    if (res.pulled) o.event('Normal', 'Pulled', `Successfully pulled image "${c.image}"`);
    Object.assign(r, afterPullSuccess(r));
    return res.image;
  } catch (err) {
    if (signal.aborted) throw err;
    const msg = (err as Error).message;
    const never = isHedgeError(err) && err.details.kind === 'ErrImageNeverPull';
    r.waiting = { reason: never ? 'ErrImageNeverPull' : 'ErrImagePull', message: msg };
    Object.assign(r, afterPullFailure(r, now, o.backoff));
    o.event('Warning', 'Failed', `Failed to pull image "${c.image}": ${msg}`);
    return undefined;
  }
}

export async function startAttempt(o: StartAttempt): Promise<void> {
  const { container: c, record: r, handler, deps, signal, restartCount } = o;
  const now = deps.clock.now();
  if (!mayRetry(r, now) && r.waiting) {
    if (r.waiting.reason === 'ErrImagePull') r.waiting = { reason: 'ImagePullBackOff', message: `Back-off pulling image "${c.image}": ${r.waiting.message ?? ''}` };
    if (o.early) await dropEarlyRootfs(deps, o.early);
    return;
  }
  const sandbox = o.sandbox;
  r.image = c.image;
  const early = await takeEarlyRootfs(o);
  if (early) Object.assign(r, afterPullSuccess(r));
  const image = early?.image ?? (await resolveImage(o, now));
  if (!image) return;
  r.imageID = image.digest;
  const id = early?.id ?? newContainerId();
  // the container's rootfs needs only the image: prepared while the pod's volumes (a TokenRequest
  // and GETs through the hub) and env are still on their way, instead of after them (or already,
  // beside the sandbox: prepareRootfsEarly)
  const rootfsReady = early ? early.rootfs : o.trace.span('snapshot', () => prepareRootfs(deps, o.pod, image, id, signal));
  // settled whatever happens next; a failure is the create's (below), or nothing if the attempt ends earlier
  rootfsReady.catch(() => undefined);
  /** the attempt ends before its create: the snapshot prepared beside it goes */
  const dropRootfs = async (): Promise<void> => {
    await rootfsReady.catch(() => undefined);
    await deps.snapshotter.remove(id).catch(() => undefined);
  };
  let env: Map<string, string>;
  let volumes: Map<string, PreparedVolume>;
  // on a runtime that shows a volume's files written after create (runc, crun), a first start
  // creates the container while the contents (a TokenRequest, GETs through the hub) are on their
  // way and waits for them before the start: the create is the longest step, and the volumes no
  // longer hold it back. Not for a subPath mount (its source must exist at create).
  const ahead = handler.volumesFilledAfterCreate && !hasSubPath(c) ? o.volumeDirsAhead?.() : undefined;
  try {
    volumes = ahead ?? (await o.volumes());
  } catch (err) {
    await dropRootfs();
    if (signal.aborted) throw err;
    volumesFailed(o, err);
    return;
  }
  try {
    env = await o.trace.span('env', () => resolveEnv(
      { pod: o.pod, client: deps.client, podIP: sandbox.podIP, hostIP: o.hostIP, nodeAllocatable: deps.nodeAllocatable, ...(deps.services ? { services: deps.services } : {}), signal },
      c,
      image.config.Env ?? [],
    ));
  } catch (err) {
    await dropRootfs();
    if (signal.aborted) throw err;
    r.waiting = { reason: 'CreateContainerConfigError', message: (err as Error).message };
    return;
  }
  const logDir = o.logDir;
  const logPath = join(logDir, `${restartCount}.log`);
  let cfg;
  try {
    const rootfs = await rootfsReady;
    await prepareSubPaths(c, volumes);
    cfg = buildContainerConfig({
      pod: o.pod,
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
      ...(o.pidNamespaceOf ? { pidNamespaceOf: o.pidNamespaceOf } : {}),
    });
    // synchronous: a few syscalls, where awaiting fs/promises cost a turn of the event loop
    // (0.5–1.5 ms, whatever else that turn held) between env and the create
    mkdirSync(logDir, { recursive: true });
    const created = cfg;
    // the volumes' files are written while the runtime creates (a set-up already running is joined;
    // one not started by then starts after the create, below)
    const launching = ahead ? (): void => void o.volumes().catch(() => undefined) : undefined;
    await o.trace.span('container create', () => handler.createContainer(created, signal, launching ? { launching } : undefined));
  } catch (err) {
    if (signal.aborted) throw err;
    r.waiting = { reason: isHedgeError(err, 'Invalid') ? 'CreateContainerConfigError' : 'CreateContainerError', message: (err as Error).message };
    await deps.snapshotter.remove(id).catch(() => undefined);
    return;
  }
  if (ahead) {
    try {
      await o.volumes();
    } catch (err) {
      // as if the create had never been: the container goes and the pod reports the volume
      const rmSignal = signal.aborted ? AbortSignal.timeout(60_000) : signal;
      await handler.remove(id, rmSignal).catch(() => undefined);
      await deps.snapshotter.remove(id).catch(() => undefined);
      if (signal.aborted) throw err;
      volumesFailed(o, err);
      return;
    }
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
  if (older) o.removeOld(older);
  if (o.beforeStart && !(await o.beforeStart())) return;
  try {
    await o.trace.span('container start', () => handler.start(id, signal));
    r.waiting = undefined;
    r.observed = (await o.trace.span('container status', () => handler.status(id, signal))).status;
    o.event('Normal', 'Started', `Started container ${c.name}`);
    if (r.observed.state === 'running') markStartedWithoutProbes(c, r);
    const hook = c.lifecycle?.postStart;
    if (hook && r.observed.state === 'running') await postStart(o, hook, id);
  } catch (err) {
    if (signal.aborted) throw err;
    const msg = (err as Error).message;
    const at = new Date(deps.clock.now());
    r.observed = { state: 'exited', finishedAt: at, exitCode: 128, reason: 'StartError', message: msg };
    o.noteExit();
    r.waiting = { reason: 'RunContainerError', message: msg };
    o.event('Warning', 'Failed', `Error: ${msg}`);
  }
}

/** the pod's volumes failed to set up: the attempt waits in ContainerCreating with a FailedMount event, as the kubelet's */
function volumesFailed(o: StartAttempt, err: unknown): void {
  if (isVolumeNotReady(err)) {
    // a claim not bound yet (or its PV not there): the kubelet's volume manager wording; the next pass retries
    const msg = unableToMountMessage(err);
    o.record.waiting = { reason: 'ContainerCreating', message: msg };
    o.event('Warning', 'FailedMount', msg);
    return;
  }
  const msg = (err as Error).message;
  o.record.waiting = { reason: 'ContainerCreating', message: msg.startsWith('MountVolume.') ? msg : `MountVolume.SetUp failed: ${msg}` };
  o.event('Warning', 'FailedMount', msg);
}

/**
 * A postStart hook that has not ended after this long fails (FailedPostStartHook). Upstream waits
 * for it without a bound, and the pod's worker with it, its deletion included.
 */
const POST_START_TIMEOUT_MS = 5 * 60_000;

/**
 * Upstream's startContainer, step 4: the postStart hook runs once the container has started, and
 * the container counts as started (its status written, the pod's next container started) once it
 * has ended. A hook that fails is a Warning FailedPostStartHook event and the container is killed
 * with the pod's grace period; its restart policy takes it from there.
 */
async function postStart(o: StartAttempt, hook: LifecycleHandler, id: ContainerId): Promise<void> {
  const { handler, signal, record: r, container: c } = o;
  const run = (): Promise<void> =>
    o.trace.span('postStart hook', () =>
      runLifecycleHook('postStart', hook, {
        exec: (command, s) => handler.exec(id, { command, tty: false, signal: s }),
        podIP: o.sandbox.podIP,
        ports: c.ports,
        timeoutMs: POST_START_TIMEOUT_MS,
        signal,
      }),
    );
  try {
    await (o.pull ? o.pull(run) : run());
  } catch (err) {
    if (signal.aborted) throw err;
    o.event('Warning', 'FailedPostStartHook', (err as Error).message);
    const grace = Math.max(MIN_GRACE_SECONDS, o.pod.spec?.terminationGracePeriodSeconds ?? 30);
    await handler.stop(id, { timeoutSeconds: grace, signal });
    r.observed = (await handler.status(id, signal)).status;
    r.started = false;
    r.ready = false;
    o.noteExit();
  }
}
