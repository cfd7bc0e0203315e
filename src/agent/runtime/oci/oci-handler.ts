/**
 * RuntimeHandler for OCI runtimes (runc, crun, runsc) with conmon as the per-container
 * supervisor, so containers outlive the agent. All state is files under `stateDir`:
 *
 *   runtime-root/            --root of the OCI runtime
 *   sandboxes/<sid>.json     SandboxConfig (pod files live in SandboxConfig.stateDir)
 *   containers/<cid>/meta.json, bundle/{config.json,rootfs}
 *   exits/<cid>              conmon's exit file (exit code; mtime = finishedAt)
 *   s/                       conmon --socket-dir-path (short: unix socket paths max 108 bytes)
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, watch, type FSWatcher } from 'node:fs';
import { constants } from 'node:fs';
import { mkdir, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { HedgeError, notFound } from '../../../lib/errors.ts';
import type { Logger } from '../../../lib/log.ts';
import { CgroupCounters, readCgroupStats, readOomKilled, withNanoCores } from '../../stats/cgroup.ts';
import { activateBlkioAccounting } from '../../stats/blkio-accounting.ts';
import { readCgroupProcIo } from '../../stats/proc-io.ts';
import type { AttachRequest, ContainerConfig, ContainerId, CreateHooks, ContainerState, ContainerStats, ContainerStatus, ExecRequest, RuntimeHandler, SandboxConfig, SandboxId, SandboxInfo, SandboxStats } from '../types.ts';
import type { StatsScope } from '../../stats/types.ts';
import { createPodCgroup, isUnifiedCgroup, podCgroupProcs, removePodCgroup } from '../../host/cgroup.ts';
import { pathExists, writeFileAtomic } from '../../host/atomic-fs.ts';
import { isMountpoint, mountOne } from '../../host/mount.ts';
import { hardNofileLimit, procStartTime, procStartTimeSync, ProcStatFile, processRunning, waitFor, withTimeout } from '../../host/process.ts';
import { runChecked, runCommand } from '../../host/run-command.ts';
import type { Spawner } from '../../host/spawner.ts';
import { latestTerminalSize, runExec } from './exec.ts';
import { resizeMessage } from './attach/attach-frames.ts';
import { ATTACH_HELPER } from './attach/attach-helper.ts';
import { attachToConmon } from './attach/attach-session.ts';
import { lazyCHelper } from './c-helper.ts';
import { execFifoPath, startViaExecFifo } from './exec-fifo.ts';
import { PTY_HELPER } from './pty/pty-helper.ts';
import { NSENTER, OciRuntimeCli, readPodNetStats } from './runtime-cli.ts';
import { seccompProfileFor } from './seccomp.ts';
import { refuseHostNamespaces } from '../isolation.ts';
import { ensurePidNamespace, removePidNamespace } from './pid-namespace.ts';
import { makeTerminationLog, readTerminationMessage } from './termination-log.ts';
import { buildSpec, type OciRuntimeKind } from './spec.ts';

export interface OciRuntimeHandlerOptions {
  /** RuntimeClass handler name */
  name: string;
  runtime: { binary: string; kind: OciRuntimeKind; globalArgs: string[] };
  stateDir: string;
  conmonBinary: string;
  logger: Logger;
  /** default /sys/fs/cgroup */
  cgroupRoot?: string;
  /** conmon --log-size-max; undefined = let the CriLogRotator handle size (see logs/README.md) */
  logSizeMax?: number;
  /** called with each timed step of create/start/status (bench/runtime-start.ts prints the breakdown) */
  onSpan?: SpanSink;
  /**
   * seccomp: `defaultRuntimeDefault` (upstream's kubelet `seccompDefault`, default true) gives
   * containers that name no profile the RuntimeDefault profile; `Localhost` profiles are JSON
   * files under `profileDir` (the node's `<data-dir>/seccomp`).
   */
  seccomp?: { defaultRuntimeDefault?: boolean; profileDir?: string };
  /**
   * Runs the create path's overlay mount and conmon instead of the agent (host/spawner.ts: no
   * fork of the agent per command, one mount(2) call instead of mount(8)); without it, or where
   * it cannot run, the agent spawns them itself.
   */
  spawner?: Spawner;
}

export type SpanSink = (step: string, ms: number, containerId: string) => void;

interface ContainerMeta {
  config: ContainerConfig;
  createdAt: string;
  startedAt?: string;
  conmonPid: number;
  /**
   * The container's host pid as conmon's sync pipe reported it once `runtime create` had finished,
   * with its /proc start time (so a recycled pid is not mistaken for it). Lets start() and status()
   * skip `runtime state` calls (one runc/runsc exec each: 20–60 ms here).
   */
  pid?: number;
  pidStartTime?: string;
}

const EXIT_WAIT_AFTER_KILL_MS = 10_000;
const CREATE_TIMEOUT_MS = 60_000;

export class OciRuntimeHandler implements RuntimeHandler {
  readonly name: string;
  readonly #o: OciRuntimeHandlerOptions;
  readonly #log: Logger;
  readonly #cgroupRoot: string;
  readonly #prevStats = new Map<string, ContainerStats>();
  /**
   * The cgroup path of each container (its id) and sandbox (`sandbox:<id>`) once stats were read:
   * fixed at creation, so a metrics scrape (every container and pod, every 15 s) parses no
   * meta.json or sandbox JSON for it.
   */
  readonly #cgroupPath = new Map<string, string>();
  /** each of those cgroups' counter files, kept open between scrapes (stats/cgroup-v1.ts CgroupCounters) */
  readonly #counters = new Map<string, CgroupCounters>();
  #dropCounters(key: string): void {
    this.#counters.get(key)?.close();
    this.#counters.delete(key);
  }
  /**
   * meta.json as this handler last wrote or read it: every pod worker asks each container's status
   * once a second, and the file only changes through #writeMeta (a new agent starts empty).
   */
  readonly #metaText = new Map<string, string>();
  /** the meta text each parsed meta came from */
  readonly #metaSource = new WeakMap<ContainerMeta, string>();
  /**
   * A container status() found running on its recorded process, with the meta text that said so:
   * while that text is still the container's and the process still runs, status() answers from
   * here (one pread of the process's /proc stat file kept open, no JSON.parse of the meta per call:
   * the metrics scrape asks for every container every 15 s, each pod's re-check for its own).
   */
  readonly #runningSeen = new Map<string, { text: string; pid: number; pidStartTime: string; stat: ProcStatFile; startedAtMs: number; status: Omit<ContainerStatus, 'status'> }>();
  #forgetRunning(id: string): void {
    this.#runningSeen.get(id)?.stat.close();
    this.#runningSeen.delete(id);
  }
  /** sandbox → ids of its containers, from every meta read or written: sandboxStats needs a pod's pids without parsing every container's meta (100 pods: 10,000 parses per stats scrape) */
  readonly #bySandbox = new Map<string, Set<string>>();
  /**
   * sandboxes/<id>.json as last written or read: written once by createSandbox and only removed
   * after, yet read for every container's stats and status (100 pods: 300 file reads per scrape)
   */
  readonly #sandboxText = new Map<string, string>();
  readonly #cli: OciRuntimeCli;

  async #span<T>(id: string, step: string, f: () => Promise<T>): Promise<T> {
    const sink = this.#o.onSpan;
    if (!sink) return f();
    const t = performance.now();
    try {
      return await f();
    } finally {
      sink(step, performance.now() - t, id);
    }
  }

  constructor(opts: OciRuntimeHandlerOptions) {
    this.name = opts.name;
    this.#o = opts;
    this.#log = opts.logger.child({ component: 'oci-runtime', handler: opts.name });
    this.#cgroupRoot = opts.cgroupRoot ?? '/sys/fs/cgroup';
    this.#cli = new OciRuntimeCli({ runtime: opts.runtime, stateDir: opts.stateDir, cgroupRoot: this.#cgroupRoot });
    // runc/crun bind-mount the file at create and read it through that mount; runsc's gofer caches it at create
    if (opts.runtime.kind !== 'runsc') this.setSandboxHosts = (id, hostsFile) => this.#setSandboxHosts(id, hostsFile);
    // a volume is a bind mount of its host directory: what is written there before start is seen
    this.volumesFilledAfterCreate = opts.runtime.kind !== 'runsc';
  }

  readonly volumesFilledAfterCreate: boolean;

  readonly setSandboxHosts?: (id: SandboxId, hostsFile: string, signal: AbortSignal) => Promise<void>;

  /** in place (same inode): a rename would leave the containers' bind mounts on the old file */
  async #setSandboxHosts(id: SandboxId, hostsFile: string): Promise<void> {
    const cfg = await this.#sandbox(id);
    await writeFile(join(cfg.stateDir, 'hosts'), hostsFile);
    await writeFileAtomic(join(this.#o.stateDir, 'sandboxes', `${id}.json`), JSON.stringify({ ...cfg, hostsFile }));
  }

  get #runtimeRoot(): string {
    return this.#cli.root;
  }
  #containerDir(id: string): string {
    return join(this.#o.stateDir, 'containers', id);
  }
  #metaFile(id: string): string {
    return join(this.#containerDir(id), 'meta.json');
  }
  #bundle(id: string): string {
    return join(this.#containerDir(id), 'bundle');
  }
  /** the PID namespace a runc/crun container joins: the pod's shared one, else its target's (ContainerConfig.pidNamespaceOf) */
  async #pidNsToJoin(cfg: ContainerConfig, sandbox: SandboxConfig, signal: AbortSignal): Promise<{ pidNs?: string }> {
    if (this.#o.runtime.kind === 'runsc' || sandbox.hostPid) return {};
    if (sandbox.sharePid) return { pidNs: await this.#pidNamespace(sandbox, signal) };
    if (!cfg.pidNamespaceOf) return {};
    const target = await this.#readMeta(cfg.pidNamespaceOf);
    const pid = target?.pid;
    if (!target || !pid || pid <= 0 || !target.pidStartTime || (await procStartTime(pid)) !== target.pidStartTime) {
      throw new HedgeError('Invalid', `container ${cfg.name}: its target container ${cfg.pidNamespaceOf} is not running, so there is no PID namespace to join`);
    }
    return { pidNs: `/proc/${pid}/ns/pid` };
  }

  /** the pod's shared PID namespace, its holder started again if it is gone */
  async #pidNamespace(s: SandboxConfig, signal: AbortSignal): Promise<string> {
    return ensurePidNamespace({ stateDir: s.stateDir, cgroupProcs: () => podCgroupProcs({ cgroupRoot: this.#cgroupRoot, cgroupParent: s.cgroupParent }), signal });
  }
  #terminationLog(id: string): string {
    return join(this.#containerDir(id), 'termination-log');
  }
  #exitFile(id: string): string {
    return join(this.#o.stateDir, 'exits', id);
  }
  /** where conmon writes its own pid (`--conmon-pidfile`) */
  #conmonPidFile(id: string): string {
    return join(this.#containerDir(id), 'conmon.pid');
  }

  // ---- sandboxes --------------------------------------------------------------------------

  async #readSandbox(id: string): Promise<SandboxConfig | undefined> {
    try {
      let text = this.#sandboxText.get(id);
      if (text === undefined) {
        text = await readFile(join(this.#o.stateDir, 'sandboxes', `${id}.json`), 'utf8');
        if (this.#sandboxText.has(id)) text = this.#sandboxText.get(id)!; // written meanwhile (see #readMeta)
        else this.#sandboxText.set(id, text);
      }
      return JSON.parse(text) as SandboxConfig; // a fresh object per caller, as from the file
    } catch {
      return undefined;
    }
  }

  async #sandbox(id: string): Promise<SandboxConfig> {
    const s = await this.#readSandbox(id);
    if (!s) throw notFound('sandbox', id);
    return s;
  }

  async createSandbox(cfg: SandboxConfig, signal: AbortSignal): Promise<SandboxInfo> {
    if (this.#o.runtime.kind === 'runsc') {
      refuseHostNamespaces(cfg, this.name);
      if (cfg.sharePid) {
        throw new HedgeError('Invalid', `pod ${cfg.pod.namespace}/${cfg.pod.name}: spec.shareProcessNamespace cannot be honoured by the ${this.name} runtime: each container runs in its own gVisor sandbox (use a runc RuntimeClass)`);
      }
    }
    if (this.#o.runtime.kind === 'runsc' && !cfg.netnsPath) {
      throw new HedgeError('Invalid', 'the gVisor runtime needs a pod network namespace (hostNetwork pods are not supported)');
    }
    // the pod's files and its cgroup are independent: made side by side (a pod start waits for them)
    const files = (async () => {
      // synchronous, as the files below (host/atomic-fs.ts): no thread-pool turn before the cgroup's part
      mkdirSync(join(this.#o.stateDir, 'sandboxes'), { recursive: true });
      mkdirSync(cfg.stateDir, { recursive: true });
      await Promise.all([
        writeFileAtomic(join(cfg.stateDir, 'hosts'), cfg.hostsFile),
        writeFileAtomic(join(cfg.stateDir, 'resolv.conf'), cfg.resolvConf),
        writeFileAtomic(join(cfg.stateDir, 'hostname'), `${cfg.hostname}\n`),
      ]);
    })();
    const cgroup = (async () => {
      await createPodCgroup({ cgroupRoot: this.#cgroupRoot, cgroupParent: cfg.cgroupParent, resources: cfg.resources });
      // blkio counts nothing until throttling is switched on for the disk (stats/blkio-accounting.ts)
      if (this.#o.runtime.kind !== 'runsc') {
        await files.catch(() => undefined); // the pod's state dir is one of the paths
        await activateBlkioAccounting({ cgroupRoot: this.#cgroupRoot, cgroupPath: cfg.cgroupParent, paths: [cfg.stateDir, this.#o.stateDir] });
      }
    })();
    const made = await Promise.allSettled([files, cgroup]);
    const failed = made.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    if (cfg.shareIpc) {
      const shm = join(cfg.stateDir, 'shm');
      await mkdir(shm, { recursive: true });
      if (!(await isMountpoint(shm, signal))) {
        await runChecked('mount', ['-t', 'tmpfs', '-o', 'nosuid,nodev,noexec,mode=1777,size=67108864', 'shm', shm], { signal });
      }
      if (this.#o.runtime.kind !== 'runsc') {
        // a persistent IPC namespace (bind-mounted nsfs) stands in for the pause container's
        const ipc = join(cfg.stateDir, 'ipcns');
        if (!(await isMountpoint(ipc, signal))) {
          await writeFile(ipc, '');
          await runChecked('unshare', [`--ipc=${ipc}`, 'true'], { signal });
        }
      }
    }
    if (cfg.sharePid) await this.#pidNamespace(cfg, signal);
    const text = JSON.stringify(cfg);
    this.#sandboxText.delete(cfg.id); // a failed write leaves the file as it was: read it again
    await writeFileAtomic(join(this.#o.stateDir, 'sandboxes', `${cfg.id}.json`), text);
    this.#sandboxText.set(cfg.id, text);
    this.#log.info({ sandbox: cfg.id }, 'sandbox created');
    const info: SandboxInfo = { id: cfg.id, handler: this.name };
    if (cfg.netnsPath) info.netnsPath = cfg.netnsPath;
    return info;
  }

  async removeSandbox(id: SandboxId, signal: AbortSignal): Promise<void> {
    const cfg = await this.#readSandbox(id);
    if (!cfg) return;
    // in parallel: runsc's delete alone takes ~1.8 s per container here (docs/host-notes.md)
    const mine = (await this.#metas()).filter((c) => c.config.sandboxId === id);
    const results = await Promise.allSettled(
      mine.map(async (c) => {
        // a created, never started container has no process a signal could end (runsc ignores
        // the kill and stop times out): `delete --force` in remove ends it
        if (c.startedAt) await this.stop(c.config.id, { timeoutSeconds: 0, signal });
        await this.remove(c.config.id, signal);
      }),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    for (const m of ['shm', 'ipcns']) {
      const p = join(cfg.stateDir, m);
      if (await isMountpoint(p, signal)) await runChecked('umount', [p], { signal });
    }
    await removePidNamespace(cfg.stateDir, signal);
    await rm(cfg.stateDir, { recursive: true, force: true });
    await removePodCgroup({ cgroupRoot: this.#cgroupRoot, cgroupParent: cfg.cgroupParent });
    await rm(join(this.#o.stateDir, 'sandboxes', `${id}.json`), { force: true });
    this.#sandboxText.delete(id);
    this.#bySandbox.delete(id);
    this.#cgroupPath.delete(`sandbox:${id}`);
    this.#dropCounters(`sandbox:${id}`);
    this.#prevStats.delete(`sandbox:${id}`);
    this.#log.info({ sandbox: id }, 'sandbox removed');
  }

  // ---- containers -------------------------------------------------------------------------

  async #readMeta(id: string): Promise<ContainerMeta | undefined> {
    let text = this.#metaText.get(id);
    try {
      if (text === undefined) {
        text = await readFile(this.#metaFile(id), 'utf8');
        // a #writeMeta that finished while this read was in flight holds the newer text: keep it
        // (overwriting it left a started container's cached meta without startedAt, and its every
        // status a `runtime state` exec)
        if (this.#metaText.has(id)) text = this.#metaText.get(id)!;
        else this.#metaText.set(id, text);
      }
      const m = JSON.parse(text) as ContainerMeta; // a fresh object: callers change theirs before #writeMeta
      this.#metaSource.set(m, text);
      this.#index(m);
      return m;
    } catch {
      return undefined;
    }
  }
  async #writeMeta(id: string, meta: ContainerMeta): Promise<void> {
    const text = JSON.stringify(meta);
    this.#metaText.delete(id); // a failed write leaves the file as it was: read it again
    await writeFileAtomic(this.#metaFile(id), text);
    this.#metaText.set(id, text);
    this.#index(meta);
  }
  #index(m: ContainerMeta): void {
    let ids = this.#bySandbox.get(m.config.sandboxId);
    if (!ids) this.#bySandbox.set(m.config.sandboxId, (ids = new Set()));
    ids.add(m.config.id);
  }
  async #meta(id: string): Promise<ContainerMeta> {
    const m = await this.#readMeta(id);
    if (!m) throw notFound('container', id);
    return m;
  }
  async #metas(): Promise<ContainerMeta[]> {
    let ids: string[];
    try {
      ids = await readdir(join(this.#o.stateDir, 'containers'));
    } catch {
      return [];
    }
    const out: ContainerMeta[] = [];
    for (const id of ids) {
      const m = await this.#readMeta(id);
      if (m) out.push(m);
    }
    return out;
  }

  #nofileCached: number | undefined;
  async #nofile(): Promise<number> {
    this.#nofileCached ??= await hardNofileLimit();
    return this.#nofileCached;
  }


  async createContainer(cfg: ContainerConfig, signal: AbortSignal, hooks?: CreateHooks): Promise<void> {
    const t0 = performance.now();
    const sandbox = await this.#sandbox(cfg.sandboxId);
    if (this.#metaText.has(cfg.id) || existsSync(this.#metaFile(cfg.id))) throw new HedgeError('AlreadyExists', `container "${cfg.id}" already exists`);
    const dir = this.#containerDir(cfg.id);
    const bundle = this.#bundle(cfg.id);
    const rootfs = join(bundle, 'rootfs');
    const [nofile] = await Promise.all([this.#nofile(), this.#cli.binary(), this.#dirsOnce()]);
    try {
      // synchronous (a few syscalls): each fs/promises call here waited a thread-pool turn and an
      // event-loop turn, on every pod's start path before the runtime's create
      mkdirSync(rootfs, { recursive: true });
      mkdirSync(dirname(cfg.logPath), { recursive: true });
      rmSync(this.#exitFile(cfg.id), { force: true });
      this.#o.onSpan?.('prepare', performance.now() - t0, cfg.id);
      // the spec before anything is mounted: a config it refuses (Invalid) fails the create as before
      const seccomp = await seccompProfileFor(cfg, { runtimeKind: this.#o.runtime.kind, node: this.#o.seccomp });
      const spec = buildSpec({
        container: cfg,
        sandbox,
        kind: this.#o.runtime.kind,
        nofile,
        seccomp,
        cgroupNamespace: isUnifiedCgroup(this.#cgroupRoot),
        paths: {
          rootfs,
          hostsFile: join(sandbox.stateDir, 'hosts'),
          resolvConf: join(sandbox.stateDir, 'resolv.conf'),
          hostnameFile: join(sandbox.stateDir, 'hostname'),
          ...(sandbox.shareIpc ? { podShm: join(sandbox.stateDir, 'shm'), podIpcNs: join(sandbox.stateDir, 'ipcns') } : {}),
          ...(cfg.terminationMessagePath ? { terminationLog: this.#terminationLog(cfg.id) } : {}),
          ...(await this.#pidNsToJoin(cfg, sandbox, signal)),
        },
      });
      // meta first: if the agent dies during the mount or conmon, the next agent finds (and can clean) it
      const meta: ContainerMeta = { config: cfg, createdAt: new Date().toISOString(), conmonPid: 0 };
      await this.#writeMeta(cfg.id, meta);
      // the mount is the slow part (a request to the spawner, or an exec): on its way while the
      // bundle's files are written
      const mounted = this.#span(cfg.id, 'rootfs mount', async () => {
        for (const m of cfg.rootfs) await this.#mount(m, rootfs, signal);
      });
      const written = this.#span(cfg.id, 'spec write', async () => {
        await writeFileAtomic(join(bundle, 'config.json'), JSON.stringify(spec));
        if (cfg.terminationMessagePath) makeTerminationLog(this.#terminationLog(cfg.id));
      });
      // both settle before either's failure fails the create: its cleanup finds no mount in flight
      for (const r of await Promise.allSettled([written, mounted])) if (r.status === 'rejected') throw r.reason;
      const { pid } = await this.#launchConmon(cfg, sandbox, signal, hooks);
      // both small reads: conmon's pid file and the container's /proc start time
      meta.conmonPid = this.#readConmonPid(cfg.id);
      meta.pid = pid;
      const startTime = procStartTimeSync(pid);
      if (startTime) meta.pidStartTime = startTime;
      await this.#span(cfg.id, 'meta write', () => this.#writeMeta(cfg.id, meta));
      this.#log.info({ container: cfg.id, name: cfg.name }, 'container created');
    } catch (err) {
      await this.remove(cfg.id, AbortSignal.timeout(30_000)).catch((e: unknown) =>
        this.#log.warn({ err: e, container: cfg.id }, 'cleanup after failed create'),
      );
      await rm(dir, { recursive: true, force: true });
      this.#metaText.delete(cfg.id);
      throw err;
    }
  }

  /** an overlay mount (the options are all data, no mount flags) is one mount(2) call in the spawner */
  async #mount(m: ContainerConfig['rootfs'][number], rootfs: string, signal: AbortSignal): Promise<void> {
    const spawner = this.#o.spawner;
    if (spawner?.available && m.type === 'overlay' && !m.target && m.options.every((o) => o.includes('='))) {
      await spawner.mount({ source: m.source, target: rootfs, fstype: 'overlay', data: m.options.join(',') }, signal);
      return;
    }
    await mountOne(m, rootfs, signal);
  }

  /** the handler-wide directories, made once per handler instead of on every create */
  #dirs: Promise<void> | undefined;
  #dirsOnce(): Promise<void> {
    this.#dirs ??= Promise.all(
      [join(this.#o.stateDir, 'exits'), join(this.#o.stateDir, 's'), this.#runtimeRoot].map((d) => mkdir(d, { recursive: true })),
    ).then(
      () => undefined,
      (err: unknown) => {
        this.#dirs = undefined;
        throw err;
      },
    );
    return this.#dirs;
  }

  /** conmon's pid, from the file it wrote before `runtime create` answered on the sync pipe (a few bytes: read synchronously) */
  #readConmonPid(id: string): number {
    return Number(readFileSync(this.#conmonPidFile(id), 'utf8').trim());
  }

  async #launchConmon(cfg: ContainerConfig, sandbox: SandboxConfig, signal: AbortSignal, hooks?: CreateHooks): Promise<{ pid: number }> {
    const dir = this.#containerDir(cfg.id);
    const args = [
      '--api-version', '1',
      '-c', cfg.id,
      '-u', cfg.id,
      '-n', cfg.name,
      '-r', await this.#cli.binary(),
      '-b', this.#bundle(cfg.id),
      '-p', join(dir, 'pid'),
      '-l', `k8s-file:${cfg.logPath}`,
      '--exit-dir', join(this.#o.stateDir, 'exits'),
      '--socket-dir-path', join(this.#o.stateDir, 's'),
      '--conmon-pidfile', this.#conmonPidFile(cfg.id),
      '--syslog=false',
      '--log-level', 'error',
    ];
    for (const a of this.#cli.globalArgs()) args.push('--runtime-arg', a);
    if (cfg.tty) args.push('-t');
    // a pipe conmon holds for attach sessions to write to; kept open after one ends unless stdinOnce
    if (cfg.stdin) args.push('--stdin', ...(cfg.stdin.once ? [] : ['--leave-stdin-open']));
    if (this.#o.logSizeMax !== undefined) args.push('--log-size-max', String(this.#o.logSizeMax));
    let cmd = this.#o.conmonBinary;
    let argv = args;
    if (this.#o.runtime.kind === 'runsc' && sandbox.netnsPath) {
      // nsenter, not `ip netns exec`: the latter remounts /sys and hides the cgroup mounts (docs/host-notes.md)
      cmd = NSENTER;
      argv = [`--net=${sandbox.netnsPath}`, '--', this.#o.conmonBinary, ...args];
    }
    const spawner = this.#o.spawner;
    let res: { code: number; stderr: string };
    let text: string;
    if (spawner?.available) {
      const r = await this.#span(cfg.id, 'conmon + runtime create (spawner)', () => {
        const running = spawner.run(cmd, argv, { signal, timeoutMs: CREATE_TIMEOUT_MS, env: { _OCI_SYNCPIPE: '3' }, syncPipe: true });
        // the request is on its way to the helper: the caller's work runs beside the create
        hooks?.launching?.();
        return running;
      });
      if (r.code !== 0) throw new HedgeError('Internal', `conmon exited ${r.code}: ${r.stderr.trim()}`);
      res = r;
      text = r.sync;
    } else {
      const launched = this.#conmonFromAgent(cfg, cmd, argv, signal);
      hooks?.launching?.();
      ({ res, text } = await launched);
    }
    const m = /\{[^}]*\}/.exec(text);
    if (!m) throw new HedgeError('Internal', `conmon reported nothing on its sync pipe for ${cfg.id}: ${res.stderr.trim()}`);
    const j = JSON.parse(m[0]) as { data?: number; pid?: number; message?: string };
    const pid = j.data ?? j.pid ?? -1;
    if (pid <= 0) throw new HedgeError('Internal', `creating container ${cfg.name}: ${j.message ?? 'runtime create failed'}`);
    return { pid };
  }

  /** conmon spawned by the agent itself: its sync pipe (fd 3) read here */
  async #conmonFromAgent(cfg: ContainerConfig, cmd: string, argv: string[], signal: AbortSignal): Promise<{ res: { code: number; stderr: string }; text: string }> {
    let sync = '';
    let syncDone: (v: string) => void = () => {};
    const syncPromise = new Promise<string>((r) => (syncDone = r));
    let syncStream: NodeJS.ReadableStream | undefined;
    const tSpawn = performance.now();
    const res = await runCommand(cmd, argv, {
      signal,
      timeoutMs: CREATE_TIMEOUT_MS,
      settleOnExit: true,
      env: { ...process.env, _OCI_SYNCPIPE: '3' },
      extraFds: 1,
      onSpawn: (child) => {
        const s = child.stdio[3] as NodeJS.ReadableStream | null;
        if (!s) return;
        syncStream = s;
        s.setEncoding('utf8');
        s.on('data', (d: string) => {
          sync += d;
          if (sync.includes('}')) syncDone(sync);
        });
        s.on('end', () => syncDone(sync));
        s.on('error', () => syncDone(sync));
      },
    });
    this.#o.onSpan?.('conmon spawn → parent exit', performance.now() - tSpawn, cfg.id);
    try {
      if (res.code !== 0) throw new HedgeError('Internal', `conmon exited ${res.code}: ${res.stderr.trim()}`);
      const text = await this.#span(cfg.id, 'runtime create (sync pipe)', () => withTimeout(syncPromise, CREATE_TIMEOUT_MS, signal, 'conmon sync pipe'));
      return { res, text };
    } finally {
      (syncStream as { destroy?: () => void } | undefined)?.destroy?.();
    }
  }

  async start(id: ContainerId, signal: AbortSignal): Promise<void> {
    const meta = await this.#meta(id);
    // the runtime's own commands need the sandbox's netns (runsc); a release through the exec fifo does not
    const netns = async (): Promise<string | undefined> => (await this.#sandbox(meta.config.sandboxId)).netnsPath;
    if (!(meta.pid && meta.pid > 0)) {
      const netnsPath = await netns();
      // created by an agent that died before conmon's sync pipe answered: ask the runtime
      // (conmon's parent returns before create has finished, docs/host-notes.md)
      await this.#span(id, 'wait created (state poll)', () =>
        waitFor(
          async () => {
            const st = await this.#cli.state(id, netnsPath, signal);
            return st?.status === 'created' || st?.status === 'running' || st?.status === 'stopped';
          },
          { timeoutMs: CREATE_TIMEOUT_MS, signal, what: `container ${id} to be created` },
        ),
      );
    }
    // runc: its init released through the exec fifo, as `runc start` does, without the runc exec
    const released =
      this.#o.runtime.kind === 'runc' &&
      meta.pid !== undefined &&
      meta.pid > 0 &&
      (await this.#span(id, 'exec fifo start', () => startViaExecFifo({ fifo: execFifoPath(this.#runtimeRoot, id), initPid: meta.pid!, signal })));
    if (!released) {
      const netnsPath = await netns();
      const res = await this.#span(id, 'runtime start', () => this.#cli.run(['start', id], netnsPath, signal));
      if (res.code !== 0) throw new HedgeError('Internal', `starting container ${meta.config.name}: ${(res.stderr || res.stdout).trim()}`);
    }
    meta.startedAt = new Date().toISOString();
    await this.#span(id, 'meta write', () => this.#writeMeta(id, meta));
    // the pod worker asks the status right after the start: answered as status() answers once it
    // has seen the container running (the process's start time checked at each ask), without a
    // first status() parsing the meta just written and reading /proc again
    const text = this.#metaText.get(id);
    if (text !== undefined) this.#seeRunning(id, meta, text);
  }

  async #readExit(id: string): Promise<{ code: number; at: Date } | undefined> {
    try {
      const [text, st] = await Promise.all([readFile(this.#exitFile(id), 'utf8'), stat(this.#exitFile(id))]);
      const code = Number(text.trim());
      if (text.trim() === '' || !Number.isFinite(code)) return undefined;
      return { code, at: st.mtime };
    } catch {
      return undefined;
    }
  }

  /** Waits for conmon's exit file: woken by inotify on the exits dir, with a slow poll as the safety net. */
  async #waitExit(id: string, timeoutMs: number, signal: AbortSignal): Promise<boolean> {
    if (await this.#readExit(id)) return true;
    let wake: () => void = () => {};
    let watcher: FSWatcher | undefined;
    try {
      watcher = watch(join(this.#o.stateDir, 'exits'), (_ev, name) => {
        if (name === null || name === id) wake();
      });
      watcher.on('error', () => wake());
    } catch {
      watcher = undefined; // no exits dir yet: the poll below still works
    }
    const deadline = Date.now() + timeoutMs;
    try {
      for (;;) {
        if (await this.#readExit(id)) return true;
        if (signal.aborted) throw new HedgeError('Timeout', `waiting for ${id} to exit: aborted`, { cause: signal.reason });
        const left = deadline - Date.now();
        if (left <= 0) return false;
        await new Promise<void>((resolve) => {
          const done = (): void => {
            clearTimeout(t);
            signal.removeEventListener('abort', done);
            resolve();
          };
          const t = setTimeout(done, Math.min(left, watcher ? 250 : 20));
          signal.addEventListener('abort', done, { once: true });
          wake = done;
        });
      }
    } finally {
      watcher?.close();
    }
  }

  readonly #exitListeners = new Set<(id: ContainerId) => void>();
  #exitWatcher: FSWatcher | undefined;

  /** conmon's exit files, by inotify on the exits dir (one watch for every subscriber) */
  watchExits(listener: (id: ContainerId) => void): () => void {
    this.#exitListeners.add(listener);
    if (!this.#exitWatcher) {
      try {
        // the dir conmon writes to may not exist yet (a node's first start): watch it from the start
        mkdirSync(join(this.#o.stateDir, 'exits'), { recursive: true });
        this.#exitWatcher = watch(join(this.#o.stateDir, 'exits'), (_ev, name) => {
          if (name === null) return; // the watch lost track: the workers' idle resync still finds the exit
          for (const l of this.#exitListeners) l(name as ContainerId);
        });
        this.#exitWatcher.on('error', (err) => {
          this.#log.warn({ err }, 'watching exit files failed; exits are found by the idle resync');
          this.#exitWatcher?.close();
          this.#exitWatcher = undefined;
        });
        this.#exitWatcher.unref();
      } catch (err) {
        this.#log.warn({ err }, 'cannot watch exit files; exits are found by the idle resync');
      }
    }
    return () => {
      this.#exitListeners.delete(listener);
      if (this.#exitListeners.size === 0) {
        this.#exitWatcher?.close();
        this.#exitWatcher = undefined;
      }
    };
  }

  async stop(id: ContainerId, opts: { timeoutSeconds: number; signal: AbortSignal }): Promise<void> {
    const meta = await this.#meta(id);
    if (await this.#readExit(id)) return;
    // nothing left to signal (a host reboot); remove's `delete --force` drops the runtime's record
    if (await this.#lost(meta)) return;
    const sandbox = await this.#readSandbox(meta.config.sandboxId);
    const netns = sandbox?.netnsPath;
    if (opts.timeoutSeconds > 0) {
      await this.#cli.run(['kill', id, '15'], netns, opts.signal);
      if (await this.#waitExit(id, opts.timeoutSeconds * 1000, opts.signal)) return;
    }
    await this.#cli.run(['kill', id, '9'], netns, opts.signal);
    // without conmon (host reboot) no exit file will come: nothing to wait for
    if (!(await this.#conmonAlive(meta))) return;
    if (await this.#waitExit(id, EXIT_WAIT_AFTER_KILL_MS, opts.signal)) return;
    if (!(await processRunning(meta.conmonPid))) return; // conmon gone: nobody will write an exit file
    throw new HedgeError('Timeout', `container ${meta.config.name} did not exit after SIGKILL`);
  }

  async remove(id: ContainerId, signal: AbortSignal): Promise<void> {
    const meta = await this.#readMeta(id);
    const sandbox = meta ? await this.#readSandbox(meta.config.sandboxId) : undefined;
    const res = await this.#cli.run(['delete', '--force', id], sandbox?.netnsPath, signal);
    if (res.code !== 0 && !/does not exist|not exist|no such|not found/i.test(res.stderr + res.stdout)) {
      this.#log.warn({ container: id, stderr: res.stderr.trim() }, 'runtime delete failed');
    }
    if (meta && meta.conmonPid > 0 && (await processRunning(meta.conmonPid))) {
      const gone = await waitFor(async () => !(await processRunning(meta.conmonPid)), { timeoutMs: 5000, signal, what: 'conmon exit' }).then(
        () => true,
        () => false,
      );
      if (!gone) {
        try {
          process.kill(meta.conmonPid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    }
    const rootfs = join(this.#bundle(id), 'rootfs');
    if (await isMountpoint(rootfs, signal)) await runChecked('umount', ['-R', rootfs], { signal });
    await rm(this.#containerDir(id), { recursive: true, force: true });
    this.#metaText.delete(id);
    this.#forgetRunning(id);
    if (meta) this.#bySandbox.get(meta.config.sandboxId)?.delete(id);
    await rm(this.#exitFile(id), { force: true });
    await rm(join(this.#o.stateDir, 's', id), { recursive: true, force: true });
    this.#prevStats.delete(id);
    this.#cgroupPath.delete(id);
    this.#dropCounters(id);
  }

  async #state(meta: ContainerMeta, signal: AbortSignal): Promise<ContainerState> {
    const id = meta.config.id;
    // started and its process is still the one conmon reported: running, no exit file to look for
    // (conmon writes it only after reaping the process) and no runtime exec needed
    const started = meta.startedAt && meta.pid && meta.pid > 0 && meta.pidStartTime;
    if (started && (await procStartTime(meta.pid!)) === meta.pidStartTime) return { state: 'running', startedAt: new Date(meta.startedAt!), pid: meta.pid! };
    const exit = await this.#readExit(id);
    if (exit) return this.#exited(meta, exit);
    if (started) {
      // gone: conmon writes the exit file right after reaping it (a dead conmon — a host reboot — never will)
      const exited = await this.#recordedExit(meta, signal);
      if (exited) return exited;
    }
    // whatever the runtime still has on record, nothing of it runs: spares a runtime exec per
    // container when a node adopts after a reboot (its start-up waits for every container's state)
    if (await this.#lost(meta)) {
      // conmon writes the exit file before it exits: one that exited since the look above left it there
      const late = await this.#readExit(id);
      if (late) return this.#exited(meta, late);
      return { state: 'unknown', reason: 'container lost (its process and conmon are gone, no exit file)' };
    }
    const sandbox = await this.#readSandbox(meta.config.sandboxId);
    const st = await this.#cli.state(id, sandbox?.netnsPath, signal);
    if (!st) {
      if (await this.#conmonAlive(meta)) return { state: 'unknown', reason: 'runtime has no state for the container' };
      return { state: 'unknown', reason: 'container lost (no runtime state, conmon gone, no exit file)' };
    }
    switch (st.status) {
      case 'creating':
      case 'created':
        return { state: 'created', createdAt: new Date(meta.createdAt) };
      case 'running':
      case 'paused':
        return { state: 'running', startedAt: new Date(meta.startedAt ?? st.created ?? meta.createdAt), pid: st.pid };
      case 'stopped':
        return (await this.#recordedExit(meta, signal)) ?? { state: 'unknown', reason: 'stopped but no exit code recorded' };
      default:
        return { state: 'unknown', reason: `runtime state ${st.status}` };
    }
  }

  async #conmonAlive(meta: ContainerMeta): Promise<boolean> {
    return meta.conmonPid > 0 && (await processRunning(meta.conmonPid));
  }

  /** its process (known since create) and conmon are both gone without an exit file: a host reboot, or both killed */
  async #lost(meta: ContainerMeta): Promise<boolean> {
    if (!meta.pid || meta.pid <= 0 || !meta.pidStartTime) return false;
    return (await procStartTime(meta.pid)) !== meta.pidStartTime && !(await this.#conmonAlive(meta));
  }

  /** The exit conmon records right after reaping (given a moment, and only while conmon lives). */
  async #recordedExit(meta: ContainerMeta, signal: AbortSignal): Promise<ContainerState | undefined> {
    if (!(await this.#conmonAlive(meta)) || !(await this.#waitExit(meta.config.id, 2000, signal))) return undefined;
    const e = await this.#readExit(meta.config.id);
    return e ? this.#exited(meta, e) : undefined;
  }

  async #exited(meta: ContainerMeta, exit: { code: number; at: Date }): Promise<ContainerState> {
    const oom =
      (await pathExists(join(this.#bundle(meta.config.id), 'oom'))) ||
      (await readOomKilled({ root: this.#cgroupRoot, path: join(await this.#cgroupParent(meta), meta.config.id) }));
    const out: ContainerState = {
      state: 'exited',
      finishedAt: exit.at,
      exitCode: exit.code,
      reason: oom ? 'OOMKilled' : exit.code === 0 ? 'Completed' : 'Error',
    };
    if (meta.startedAt) out.startedAt = new Date(meta.startedAt);
    const message = meta.config.terminationMessagePath ? await readTerminationMessage(this.#terminationLog(meta.config.id)) : undefined;
    if (message) out.message = message;
    return out;
  }

  async #cgroupParent(meta: ContainerMeta): Promise<string> {
    const s = await this.#readSandbox(meta.config.sandboxId);
    return s?.cgroupParent ?? '';
  }

  async status(id: ContainerId, signal: AbortSignal): Promise<ContainerStatus> {
    const r = this.#runningSeen.get(id);
    // the process that was running when the container's current meta was read is still the one
    // there: running, exactly as #state would say (its first check), without parsing the meta again
    if (r && r.text === this.#metaText.get(id) && r.stat.startTime() === r.pidStartTime) {
      return { ...r.status, status: { state: 'running', startedAt: new Date(r.startedAtMs), pid: r.pid } };
    }
    return this.#span(id, 'status', async () => {
      const meta = await this.#meta(id);
      const st = await this.#statusOf(meta, signal);
      const text = this.#metaSource.get(meta);
      this.#forgetRunning(id);
      if (st.status.state === 'running' && text !== undefined) this.#seeRunning(id, meta, text);
      return st;
    });
  }

  /** status()'s fast path for a started container on its recorded process (meta and its text as written or read) */
  #seeRunning(id: ContainerId, meta: ContainerMeta, text: string): void {
    if (!meta.pid || meta.pid <= 0 || !meta.pidStartTime || !meta.startedAt) return;
    this.#forgetRunning(id);
    this.#runningSeen.set(id, { text, pid: meta.pid, pidStartTime: meta.pidStartTime, stat: new ProcStatFile(meta.pid), startedAtMs: Date.parse(meta.startedAt), status: identity(meta) });
  }

  async #statusOf(meta: ContainerMeta, signal: AbortSignal): Promise<ContainerStatus> {
    return { ...identity(meta), status: await this.#state(meta, signal) };
  }

  async list(signal: AbortSignal): Promise<ContainerStatus[]> {
    // in parallel: after a host reboot every container needs a `runtime state` exec (its process
    // and conmon are gone), and the agent's start-up waits for this list before any pod starts
    return Promise.all((await this.#metas()).map((m) => this.#statusOf(m, signal)));
  }

  /** the cgroup's figures; gVisor's block I/O from its processes' own accounting (stats/proc-io.ts) */
  async #readStats(key: string, path: string, scope: StatsScope, prev: ContainerStats | undefined): Promise<ContainerStats | undefined> {
    const ref = { root: this.#cgroupRoot, path };
    let counters = this.#counters.get(key);
    if (!counters) this.#counters.set(key, (counters = new CgroupCounters()));
    const cur = await readCgroupStats(ref, undefined, scope, prev, counters);
    if (!cur || this.#o.runtime.kind !== 'runsc' || scope === 'usage') return cur;
    const io = await readCgroupProcIo(ref);
    if (io) cur.blkio = io;
    else delete cur.blkio;
    return cur;
  }

  async stats(id: ContainerId, signal: AbortSignal, scope: StatsScope = 'full'): Promise<ContainerStats> {
    void signal;
    const path = this.#cgroupPath.get(id) ?? join(await this.#cgroupParent(await this.#meta(id)), id);
    const cur = await this.#readStats(id, path, scope, this.#prevStats.get(id));
    if (!cur) throw notFound('container cgroup', path);
    this.#cgroupPath.set(id, path);
    const out = withNanoCores(cur, this.#prevStats.get(id));
    this.#prevStats.set(id, cur);
    return out;
  }

  async sandboxStats(id: SandboxId, signal: AbortSignal, scope: StatsScope = 'full'): Promise<SandboxStats> {
    const key = `sandbox:${id}`;
    // /metrics/resource needs only the cgroup; the full summary also the netns and the containers' pids
    const s = scope === 'full' || !this.#cgroupPath.has(key) ? await this.#sandbox(id) : undefined;
    const path = s?.cgroupParent ?? this.#cgroupPath.get(key)!;
    const cur = await this.#readStats(key, path, scope, this.#prevStats.get(key));
    if (!cur) throw notFound('pod cgroup', path);
    this.#cgroupPath.set(key, path);
    const out: SandboxStats = withNanoCores(cur, this.#prevStats.get(key));
    this.#prevStats.set(key, cur);
    if (s?.netnsPath && scope === 'full') {
      const pids: number[] = [];
      if (!this.#bySandbox.has(id)) await this.#metas(); // a new agent: index what is on disk once
      for (const cid of this.#bySandbox.get(id) ?? []) {
        const m = await this.#readMeta(cid);
        if (!m) continue;
        pids.push(m.pid && m.pid > 0 ? m.pid : Number((await readFile(join(this.#containerDir(m.config.id), 'pid'), 'utf8').catch(() => '0')).trim()));
      }
      // runsc's containers live in the sandbox kernel: their /proc/<pid>/net is not the pod's
      const net = await readPodNetStats({ netnsPath: s.netnsPath, pids: this.#o.runtime.kind === 'runsc' ? [] : pids, signal });
      if (net) out.network = net;
    }
    return out;
  }

  async exec(id: ContainerId, req: ExecRequest): Promise<number> {
    const meta = await this.#meta(id);
    const sandbox = await this.#sandbox(meta.config.sandboxId);
    // the runtime's own refusal would come back as an exit code; say it as the microVM handler does
    if ((await this.#state(meta, req.signal)).state !== 'running') throw new HedgeError('Conflict', `container ${id} is not running`);
    if (req.tty) return this.#ttyExec(id, sandbox.netnsPath, req);
    const [cmd, argv] = await this.#cli.command(['exec', id, ...req.command], sandbox.netnsPath);
    return runExec(cmd, argv, req);
  }

  /**
   * A terminal exec is a process file (the container's own process settings, as `runc exec` takes
   * them, with the command's args, `terminal: true` and the client's size as `consoleSize` when
   * known, which the runtime sets before the command runs: `--tty` alone sized the terminal only
   * after the start, so a command's first look could find 0 × 0). runsc has no `--tty` either. Its
   * terminal: pty-run's, whose size runc and runsc copy on SIGWINCH; under crun (which ignores
   * SIGWINCH) the container's own, sent to pty-run through `--console-socket` and sized there.
   */
  async #ttyExec(id: ContainerId, netnsPath: string | undefined, req: ExecRequest): Promise<number> {
    const helper = await this.#ptyRun(req.signal);
    const spec = JSON.parse(await readFile(join(this.#bundle(id), 'config.json'), 'utf8')) as { process: Record<string, unknown> };
    const size = latestTerminalSize(req);
    const file = join(this.#bundle(id), `exec-${randomUUID()}.json`);
    await writeFile(file, JSON.stringify({ ...spec.process, args: req.command, terminal: true, ...(size ? { consoleSize: { height: size.height, width: size.width } } : {}) }));
    const consoleSocket = helper && this.#o.runtime.kind === 'crun' ? join(tmpdir(), `hedge-pty-${randomUUID()}.sock`) : undefined;
    try {
      const [cmd, argv] = await this.#cli.command(['exec', '--process', file, ...(consoleSocket ? ['--console-socket', consoleSocket] : []), id], netnsPath);
      return await runExec(cmd, argv, req, helper ? { helper, consoleSocket } : undefined);
    } finally {
      // pty-run removes the socket once used; not if it was killed
      await Promise.all([rm(file, { force: true }), ...(consoleSocket ? [rm(consoleSocket, { force: true })] : [])]);
    }
  }

  readonly #attachHelper = lazyCHelper(ATTACH_HELPER, () => join(this.#o.stateDir, 'bin'));
  readonly #ptyHelper = lazyCHelper(PTY_HELPER, () => join(this.#o.stateDir, 'bin'));
  #ptyFallbackSaid = false;

  /** the terminal for `exec --tty`: pty-run (sized from the resize channel), else script(1) with no size, said once */
  async #ptyRun(signal: AbortSignal): Promise<string | undefined> {
    try {
      return await this.#ptyHelper(signal);
    } catch (err) {
      if (!this.#ptyFallbackSaid) this.#log.warn({ err }, 'exec --tty runs under script(1): its terminal keeps no size');
      this.#ptyFallbackSaid = true;
      return undefined;
    }
  }

  /** conmon's attach socket through the conmon-attach helper (attach/): output from now on, stdin to the container's */
  async attach(id: ContainerId, req: AttachRequest): Promise<void> {
    const meta = await this.#meta(id);
    if ((await this.#state(meta, req.signal)).state !== 'running') throw new HedgeError('Conflict', `container ${meta.config.name} is not running`);
    // built once per handler; a failed build (no compiler yet) is tried again on the next attach
    const helper = await this.#attachHelper(req.signal);
    const { stdin, stdout, stderr, signal, onAttached } = req;
    await attachToConmon({ helper, socket: join(this.#bundle(id), 'attach'), tty: meta.config.tty, stdin, stdout, stderr, signal, onConnected: onAttached });
  }

  /** conmon's control FIFO: message type 1 = resize the terminal (what CRI-O's resize writes); a container without one has nothing to resize */
  async resizeTerminal(id: ContainerId, size: { width: number; height: number }, signal: AbortSignal): Promise<void> {
    const line = resizeMessage(size);
    if (!(await this.#meta(id)).config.tty) return;
    await this.#writeCtl(id, line, 'resize the terminal', signal);
  }

  /** conmon's control FIFO: message type 2 = reopen the log file (what CRI-O's ReopenContainerLog writes). */
  async reopenContainerLog(id: ContainerId, signal: AbortSignal): Promise<void> {
    await this.#meta(id);
    await this.#writeCtl(id, '2 0 0\n', 'reopen the log', signal);
  }

  async #writeCtl(id: ContainerId, line: string, what: string, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    const ctl = join(this.#bundle(id), 'ctl');
    // O_NONBLOCK: opening a FIFO for write blocks until there is a reader (fails at once with ENXIO
    // when conmon is gone), and a full one must not hold a libuv thread; a short line is written whole
    let fh;
    try {
      fh = await open(ctl, constants.O_WRONLY | constants.O_NONBLOCK);
      await fh.write(line);
    } catch (err) {
      throw new HedgeError('Internal', `${what} of ${id}: ${(err as Error).message}`, { cause: err });
    } finally {
      await fh?.close();
    }
  }
}

/** a container's status without its state: what its meta's config says */
function identity(meta: ContainerMeta): Omit<ContainerStatus, 'status'> {
  const c = meta.config;
  return { id: c.id, sandboxId: c.sandboxId, name: c.name, labels: c.labels, annotations: c.annotations };
}
