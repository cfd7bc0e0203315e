/**
 * The runtime seam. One RuntimeHandler per RuntimeClass handler name (`runc`, `gvisor`,
 * `microvm`); runc/crun/runsc share the OCI implementation. The pod sync loop only talks to
 * this interface, so the microVM runtime plugs in beside the OCI one.
 */
import type { Mount } from '../snapshot/types.ts';
import type { ContainerStats, SandboxStats, StatsScope } from '../stats/types.ts';

// the stats types live with the stats readers (runtime/oci → stats/ must not loop back); re-exported for handlers
export type { BlockIoStats, ContainerStats, CpuStats, MemoryStats, NetworkStats, SandboxStats } from '../stats/types.ts';

export type SandboxId = string & { readonly __brand: 'SandboxId' };
export type ContainerId = string & { readonly __brand: 'ContainerId' };

export interface SandboxConfig {
  id: SandboxId;
  pod: { uid: string; namespace: string; name: string };
  hostname: string;
  /** network namespace the sandbox joins (made by the NetworkPlugin); undefined = host network */
  netnsPath?: string;
  /**
   * one IPC namespace and /dev/shm for all the pod's containers (upstream: the pause container's);
   * false: each container has its own (the same thing for a pod of one container)
   */
  shareIpc: boolean;
  /** hostIPC: the containers use the host's IPC namespace and /dev/shm (OCI runc/crun only) */
  hostIpc?: boolean;
  /** hostPID: the containers use the host's PID namespace (OCI runc/crun only) */
  hostPid?: boolean;
  /**
   * hostNetwork: the containers use the host's UTS namespace and so its host name (`hostname` is
   * then the host's), as containerd runs a pod on the node's network (OCI runc/crun only)
   */
  hostUts?: boolean;
  /**
   * shareProcessNamespace: the pod's containers share one PID namespace whose PID 1 reaps orphans,
   * as the pause container does upstream (runc/crun; a microVM's guest has one for all its
   * containers anyway; gVisor runs each container in its own sandbox and refuses it)
   */
  sharePid?: boolean;
  /** cgroup path (relative to each v1 controller root) of the pod, e.g. hedge/pod<uid> */
  cgroupParent: string;
  /** pod-level limits incl. RuntimeClass overhead; undefined = unlimited */
  resources: { cpuMilli?: number; memoryBytes?: number };
  /** /etc/hosts and /etc/resolv.conf content written for the pod */
  hostsFile: string;
  resolvConf: string;
  /** directory for this sandbox's state (bundles, pid files, sockets) */
  stateDir: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /**
   * the host directories of the pod's persistentVolumeClaim (and generic ephemeral) volumes,
   * resolved before the sandbox is made; only for a handler with `persistentVolumesAtCreate`
   * (microvm shares each one into the VM at its start)
   */
  persistentVolumes?: SandboxPersistentVolume[];
}

/** one PVC-backed volume of a pod: its pod volume name, the claim's host directory, read-only or not */
export interface SandboxPersistentVolume {
  name: string;
  hostPath: string;
  readOnly: boolean;
}

export interface SandboxInfo {
  id: SandboxId;
  handler: string;
  netnsPath?: string;
  /** e.g. the VM's pid for microvm, or undefined */
  pid?: number;
}

export interface ContainerMount {
  containerPath: string;
  hostPath: string;
  readOnly: boolean;
  /** 'bind' (default) or 'tmpfs' for Memory emptyDir */
  type?: 'bind' | 'tmpfs';
  /** tmpfs size limit */
  sizeBytes?: number;
}

export interface ContainerConfig {
  id: ContainerId;
  sandboxId: SandboxId;
  name: string;
  /** image reference and digest it was resolved to (for status.imageID) */
  image: { ref: string; digest: string };
  /** the container's root filesystem, from the Snapshotter */
  rootfs: Mount[];
  command: string[];
  env: { name: string; value: string }[];
  workingDir: string;
  user: { uid: number; gid: number; additionalGids: number[] };
  mounts: ContainerMount[];
  resources: { cpuRequestMilli?: number; cpuLimitMilli?: number; memoryLimitBytes?: number; pidsLimit?: number };
  security: {
    privileged: boolean;
    readOnlyRootFilesystem: boolean;
    capabilitiesAdd: string[];
    capabilitiesDrop: string[];
    noNewPrivileges: boolean;
    /** securityContext.seccompProfile (container, else pod); undefined = the node's default */
    seccomp?: { type: 'Unconfined' } | { type: 'RuntimeDefault' } | { type: 'Localhost'; localhostProfile: string };
  };
  tty: boolean;
  /**
   * The container's `stdin`: the runtime keeps a stdin open for it that attach sessions write to
   * (undefined: its stdin is /dev/null, or the terminal's with `tty`). `once` (`stdinOnce`): the
   * first attach session's end closes it (the process sees EOF); else it stays open across sessions.
   */
  stdin?: { once: boolean };
  /** CRI-format log file the runtime writes stdout/stderr to */
  logPath: string;
  /**
   * The container's terminationMessagePath (absolute): the handler puts a fresh, empty,
   * world-writable file there for each container instance and reports its last
   * TERMINATION_MESSAGE_BYTES as the exited state's `message` (the kubelet's
   * MaxContainerTerminationMessageLength, read from the end). Undefined: no such file.
   */
  terminationMessagePath?: string;
  /**
   * join the PID namespace of this running container of the same sandbox (an ephemeral
   * container's targetContainerName, so `kubectl debug --target` sees its processes); a handler
   * whose containers cannot share one (gVisor) runs it in its own, as does a microVM's guest, which
   * has one for all
   */
  pidNamespaceOf?: ContainerId;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/** the most of a termination message file a handler reports: its last 4 KiB, as the kubelet */
export const TERMINATION_MESSAGE_BYTES = 4096;

export type ContainerState =
  | { state: 'created'; createdAt: Date }
  | { state: 'running'; startedAt: Date; pid: number }
  | { state: 'exited'; startedAt?: Date; finishedAt: Date; exitCode: number; reason: string; message?: string }
  | { state: 'unknown'; reason: string };

export interface ContainerStatus {
  id: ContainerId;
  sandboxId: SandboxId;
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  status: ContainerState;
}

export interface TerminalSize {
  width: number;
  height: number;
}

/** A client's terminal sizes, in order (an exec stream's resize channel); a new listener gets the latest at once. */
export interface TerminalSizes {
  onResize(fn: (size: TerminalSize) => void): () => void;
}

export interface ExecRequest {
  command: string[];
  tty: boolean;
  /** with `tty`: the client's terminal size as it changes (a handler that cannot size the terminal ignores it) */
  terminalSizes?: TerminalSizes;
  stdin?: NodeJS.ReadableStream;
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
  signal: AbortSignal;
}

/** `kubectl attach`: a session with the container's own process (ContainerConfig.stdin, .tty) */
export interface AttachRequest {
  /**
   * bytes for the container's stdin (dropped when it has none); its end closes the container's
   * stdin when it is `stdinOnce`, as does the end of the session
   */
  stdin?: NodeJS.ReadableStream;
  /** its output from the session's start on (a terminal's all on stdout) */
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
  /** ends the session */
  signal: AbortSignal;
  /** called once attached: output from then on reaches the caller */
  onAttached?: () => void;
}

/** see RuntimeHandler.createContainer */
export interface CreateHooks {
  launching?: () => void;
}

export interface RuntimeHandler {
  /** RuntimeClass handler name */
  readonly name: string;
  /**
   * the handler needs the pod's persistentVolumeClaim directories at createSandbox
   * (`SandboxConfig.persistentVolumes`): podsync resolves those volumes first and makes no sandbox
   * while a claim is not ready (microvm: its 9p shares exist only from VM start)
   */
  readonly persistentVolumesAtCreate?: boolean;
  createSandbox(cfg: SandboxConfig, signal: AbortSignal): Promise<SandboxInfo>;
  /** stops everything left in the sandbox and frees its resources; idempotent */
  removeSandbox(id: SandboxId, signal: AbortSignal): Promise<void>;
  /**
   * `hooks.launching`, when given, is called as the runtime's own create begins (OCI: conmon →
   * `runc create`, the step's long wait), so the caller can run work beside that wait rather than
   * beside the handler's own preparation; a handler may not call it.
   */
  createContainer(cfg: ContainerConfig, signal: AbortSignal, hooks?: CreateHooks): Promise<void>;
  start(id: ContainerId, signal: AbortSignal): Promise<void>;
  /** SIGTERM, wait up to timeoutSeconds, then SIGKILL; resolves once exited */
  stop(id: ContainerId, opts: { timeoutSeconds: number; signal: AbortSignal }): Promise<void>;
  /** idempotent */
  remove(id: ContainerId, signal: AbortSignal): Promise<void>;
  status(id: ContainerId, signal: AbortSignal): Promise<ContainerStatus>;
  /** every container this handler knows, incl. ones created before an agent restart (adoption) */
  list(signal: AbortSignal): Promise<ContainerStatus[]>;
  /** `scope` 'usage': CPU and memory are enough (see StatsScope); default 'full' */
  stats(id: ContainerId, signal: AbortSignal, scope?: StatsScope): Promise<ContainerStats>;
  sandboxStats(id: SandboxId, signal: AbortSignal, scope?: StatsScope): Promise<SandboxStats>;
  /** resolves with the exit code */
  exec(id: ContainerId, req: ExecRequest): Promise<number>;
  /**
   * Optional capability: attach to the container's own process (`kubectl attach`, `run -i`,
   * `debug -i`). Resolves when the process has exited or `req.signal` ended the session; a
   * container that is not running is a Conflict. A handler without it offers output only, read
   * from the CRI log by the node server.
   */
  attach?(id: ContainerId, req: AttachRequest): Promise<void>;
  /** Optional capability: the size of a `tty` container's terminal (an attach session's resize channel) */
  resizeTerminal?(id: ContainerId, size: { width: number; height: number }, signal: AbortSignal): Promise<void>;
  /**
   * Optional capability: after log rotation renamed the container's CRI log (ContainerConfig.logPath),
   * make the runtime's log writer continue in a fresh file at that path. A handler without it
   * cannot have its container logs rotated (agent/logs skips it).
   */
  reopenContainerLog?(id: ContainerId, signal: AbortSignal): Promise<void>;
  /**
   * Optional capability: calls `listener` with a container's id soon after its process exits, so a
   * steady pod's worker can wait for that instead of re-checking every second (a missed event is
   * still caught by the worker's slower idle resync). Returns the unsubscribe function.
   */
  watchExits?(listener: (id: ContainerId) => void): () => void;
  /**
   * Optional capability: rewrites the sandbox's hosts file (SandboxConfig.hostsFile) in place, so
   * containers created before still see the new content when they start. A handler with it lets
   * the pod worker create a pod's first containers in its netns while the network is still being
   * attached (CNI ADD), and write the pod's IP into the hosts file once known. Not for runtimes
   * that read the file at create (runsc's gofer caches it).
   */
  setSandboxHosts?(id: SandboxId, hostsFile: string, signal: AbortSignal): Promise<void>;
  /**
   * Files written into a volume's directory between a container's create and its start are seen
   * by its process (the directory is bind-mounted at create, read through the mount): the pod
   * worker then creates a pod's first container while its volumes' contents are still on their
   * way (a TokenRequest, configMap GETs) and waits for them before the start. Not for runtimes
   * that copy or cache a volume at create (runsc's gofer, a microVM's share).
   */
  readonly volumesFilledAfterCreate?: boolean;
}
