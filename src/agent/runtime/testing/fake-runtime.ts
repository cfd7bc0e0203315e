import { HedgeError } from '../../../lib/errors.ts';
import type {
  ContainerConfig,
  ContainerId,
  CreateHooks,
  ContainerStats,
  ContainerStatus,
  ExecRequest,
  RuntimeHandler,
  SandboxConfig,
  SandboxId,
  SandboxInfo,
  SandboxStats,
} from '../types.ts';
import { TERMINATION_MESSAGE_BYTES } from '../types.ts';

/** the last `n` bytes of `text`, as a handler reads a termination message file */
const tail = (text: string, n: number): string => {
  const b = Buffer.from(text);
  return b.subarray(Math.max(0, b.length - n)).toString('utf8');
};

interface FakeContainer {
  cfg: ContainerConfig;
  status: ContainerStatus['status'];
  behavior: FakeBehavior;
}

/**
 * What a started container does on its own: keep running (default) or exit at once with a code.
 * A running one ignores SIGTERM (so `stop` ends it with 137, as SIGKILL does to a container's
 * PID 1 without a handler) unless `termExitCode` says how it exits on SIGTERM; a `busy` one
 * accrues CPU time as it runs.
 */
export type FakeBehavior =
  | { kind: 'run'; termExitCode?: number; busy?: boolean }
  /** `message`: what it wrote to its terminationMessagePath (reported only when the config has one) */
  | { kind: 'exit'; code: number; reason?: string; message?: string }
  | { kind: 'fail-start'; message: string };

/** what a running container reports as memory use (the real handlers never report 0 for one) */
const RUNNING_MEMORY_BYTES = 1 << 20;

export interface FakeRuntimeOptions {
  name?: string;
  now?: () => number;
  /** offer setSandboxHosts, as runc's handler does (the pod worker then attaches the network beside container creation) */
  hostsAtStart?: boolean;
  /** say files written into volumes between create and start are seen, as runc's handler does (volumesFilledAfterCreate) */
  volumesAfterCreate?: boolean;
}

/**
 * In-memory RuntimeHandler for agent tests. Containers run until a test makes them exit
 * (`exit`) or a behavior says so; `ops` records every call in order so tests can check
 * sequencing (preStop before stop, containers before sandbox). It passes the RuntimeHandler
 * contract suite (../contract.ts) like the real handlers do.
 */
export class FakeRuntime implements RuntimeHandler {
  readonly name: string;
  readonly sandboxes = new Map<SandboxId, SandboxConfig>();
  readonly containers = new Map<ContainerId, FakeContainer>();
  readonly ops: string[] = [];
  /** keyed by container name; consulted on every start */
  readonly behaviors = new Map<string, FakeBehavior>();
  /** exec results keyed by the command's first word; default exit 0 */
  execResult: (cfg: ContainerConfig, req: ExecRequest) => Promise<number> | number = () => 0;
  failCreateSandbox?: string;
  private readonly now: () => number;
  private pid = 1000;

  constructor(opts: FakeRuntimeOptions = {}) {
    this.name = opts.name ?? 'runc';
    this.now = opts.now ?? Date.now;
    this.volumesFilledAfterCreate = opts.volumesAfterCreate ?? false;
    if (opts.hostsAtStart) {
      this.setSandboxHosts = async (id, hostsFile) => {
        const sb = this.sandboxes.get(id);
        this.ops.push(`setSandboxHosts:${sb?.pod.name ?? id}`);
        if (!sb) throw new HedgeError('NotFound', `sandbox ${id} not found`);
        sb.hostsFile = hostsFile;
      };
    }
  }

  readonly setSandboxHosts?: (id: SandboxId, hostsFile: string, signal: AbortSignal) => Promise<void>;
  readonly volumesFilledAfterCreate: boolean;

  async createSandbox(cfg: SandboxConfig): Promise<SandboxInfo> {
    this.ops.push(`createSandbox:${cfg.pod.name}`);
    if (this.failCreateSandbox) throw new HedgeError('Internal', this.failCreateSandbox);
    this.sandboxes.set(cfg.id, cfg);
    return { id: cfg.id, handler: this.name, netnsPath: cfg.netnsPath };
  }

  async removeSandbox(id: SandboxId): Promise<void> {
    const sb = this.sandboxes.get(id);
    this.ops.push(`removeSandbox:${sb?.pod.name ?? id}`);
    for (const [cid, c] of this.containers) if (c.cfg.sandboxId === id) this.containers.delete(cid);
    this.sandboxes.delete(id);
  }

  async createContainer(cfg: ContainerConfig, _signal?: AbortSignal, hooks?: CreateHooks): Promise<void> {
    this.ops.push(`create:${cfg.name}`);
    if (!this.sandboxes.has(cfg.sandboxId)) throw new HedgeError('NotFound', `sandbox ${cfg.sandboxId} not found`);
    if (this.containers.has(cfg.id)) throw new HedgeError('AlreadyExists', `container "${cfg.id}" already exists`);
    hooks?.launching?.();
    this.containers.set(cfg.id, { cfg, status: { state: 'created', createdAt: new Date(this.now()) }, behavior: { kind: 'run' } });
  }

  async start(id: ContainerId): Promise<void> {
    const c = this.must(id);
    this.ops.push(`start:${c.cfg.name}`);
    const b = this.behaviors.get(c.cfg.name) ?? { kind: 'run' };
    c.behavior = b;
    const at = new Date(this.now());
    switch (b.kind) {
      case 'run':
        c.status = { state: 'running', startedAt: at, pid: ++this.pid };
        return;
      case 'exit':
        c.status = { state: 'exited', startedAt: at, finishedAt: at, exitCode: b.code, reason: b.reason ?? (b.code === 0 ? 'Completed' : 'Error') };
        if (b.message && c.cfg.terminationMessagePath) c.status.message = tail(b.message, TERMINATION_MESSAGE_BYTES);
        return;
      case 'fail-start':
        c.status = { state: 'exited', finishedAt: at, exitCode: 128, reason: 'StartError', message: b.message };
        throw new HedgeError('Internal', b.message);
    }
  }

  async stop(id: ContainerId, opts: { timeoutSeconds: number }): Promise<void> {
    const c = this.must(id);
    this.ops.push(`stop:${c.cfg.name}:${opts.timeoutSeconds}`);
    if (c.status.state === 'running') {
      const term = c.behavior.kind === 'run' && opts.timeoutSeconds > 0 ? c.behavior.termExitCode : undefined;
      const exitCode = term ?? 137;
      c.status = { state: 'exited', startedAt: c.status.startedAt, finishedAt: new Date(this.now()), exitCode, reason: exitCode === 0 ? 'Completed' : 'Error' };
    }
  }

  async remove(id: ContainerId): Promise<void> {
    const c = this.containers.get(id);
    if (c) this.ops.push(`remove:${c.cfg.name}`);
    this.containers.delete(id);
  }

  async status(id: ContainerId): Promise<ContainerStatus> {
    return this.toStatus(id, this.must(id));
  }

  async list(): Promise<ContainerStatus[]> {
    return [...this.containers].map(([id, c]) => this.toStatus(id, c));
  }

  async stats(id: ContainerId): Promise<ContainerStats> {
    return this.statsOf(this.must(id));
  }

  async sandboxStats(id: SandboxId): Promise<SandboxStats> {
    if (!this.sandboxes.has(id)) throw new HedgeError('NotFound', `sandbox ${id} not found`);
    const out: SandboxStats = { timestamp: new Date(this.now()), cpu: { usageCoreNanoSeconds: 0 }, memory: { usageBytes: 0, workingSetBytes: 0, rssBytes: 0 } };
    for (const c of this.containers.values()) {
      if (c.cfg.sandboxId !== id) continue;
      const s = this.statsOf(c);
      out.cpu.usageCoreNanoSeconds += s.cpu.usageCoreNanoSeconds;
      out.memory.usageBytes += s.memory.usageBytes;
      out.memory.workingSetBytes += s.memory.workingSetBytes;
      out.memory.rssBytes += s.memory.rssBytes;
    }
    return out;
  }

  /** a busy container has used one core since it started; others a fixed millisecond */
  private statsOf(c: FakeContainer): ContainerStats {
    const now = this.now();
    const s = c.status;
    const ranFor = s.state === 'running' ? now - s.startedAt.getTime() : s.state === 'exited' && s.startedAt ? s.finishedAt.getTime() - s.startedAt.getTime() : 0;
    const busy = c.behavior.kind === 'run' && c.behavior.busy === true;
    const cpuNanos = s.state === 'created' ? 0 : busy ? ranFor * 1e6 : 1e6;
    const mem = s.state === 'running' ? RUNNING_MEMORY_BYTES : 0;
    return { timestamp: new Date(now), cpu: { usageCoreNanoSeconds: cpuNanos }, memory: { usageBytes: mem, workingSetBytes: mem, rssBytes: mem } };
  }

  async exec(id: ContainerId, req: ExecRequest): Promise<number> {
    const c = this.must(id);
    this.ops.push(`exec:${c.cfg.name}:${req.command.join(' ')}`);
    if (c.status.state !== 'running') throw new HedgeError('Conflict', `container ${id} is not running`);
    return this.execResult(c.cfg, req);
  }

  /** make a running container exit (a crash or a normal end) */
  exit(id: ContainerId, code: number, reason = code === 0 ? 'Completed' : 'Error'): void {
    const c = this.must(id);
    const startedAt = c.status.state === 'running' ? c.status.startedAt : undefined;
    c.status = { state: 'exited', startedAt, finishedAt: new Date(this.now()), exitCode: code, reason };
  }

  /** the newest container of that name (by creation order) */
  byName(name: string): { id: ContainerId; cfg: ContainerConfig; status: ContainerStatus['status'] } | undefined {
    let found: { id: ContainerId; cfg: ContainerConfig; status: ContainerStatus['status'] } | undefined;
    for (const [id, c] of this.containers) if (c.cfg.name === name) found = { id, cfg: c.cfg, status: c.status };
    return found;
  }

  private must(id: ContainerId): FakeContainer {
    const c = this.containers.get(id);
    if (!c) throw new HedgeError('NotFound', `container ${id} not found`);
    return c;
  }

  private toStatus(id: ContainerId, c: FakeContainer): ContainerStatus {
    return {
      id,
      sandboxId: c.cfg.sandboxId,
      name: c.cfg.name,
      labels: { ...c.cfg.labels },
      annotations: { ...c.cfg.annotations },
      status: { ...c.status },
    };
  }
}

/**
 * One started container (`cid`) in one sandbox (`sb`) of `pod`, its log at `logPath`: what a
 * node-server test reads the log of and execs into.
 */
export async function startFakeContainer(
  runtime: FakeRuntime,
  o: { pod: { uid: string; namespace: string; name: string }; name: string; stateDir: string; logPath: string },
): Promise<ContainerId> {
  const sandboxId = 'sb' as SandboxId;
  const id = 'cid' as ContainerId;
  await runtime.createSandbox({ id: sandboxId, pod: o.pod, hostname: o.pod.name, shareIpc: false, cgroupParent: '', resources: {}, hostsFile: '', resolvConf: '', stateDir: o.stateDir, labels: {}, annotations: {} });
  await runtime.createContainer({
    id, sandboxId, name: o.name, image: { ref: 'busybox:1', digest: '' }, rootfs: [], command: [], env: [],
    workingDir: '/', user: { uid: 0, gid: 0, additionalGids: [] }, mounts: [], resources: {},
    security: { privileged: false, readOnlyRootFilesystem: false, capabilitiesAdd: [], capabilitiesDrop: [], noNewPrivileges: false },
    tty: false, logPath: o.logPath, labels: {}, annotations: {},
  });
  await runtime.start(id);
  return id;
}
