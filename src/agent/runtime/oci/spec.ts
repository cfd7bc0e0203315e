/**
 * ContainerConfig + SandboxConfig → OCI runtime-spec 1.0.2 config.json. Pure: every host path the
 * spec refers to (rootfs mountpoint, the sandbox's hosts/resolv.conf/hostname files, the pod's shm
 * and IPC namespace) is passed in, so this is unit-testable without a machine.
 */
import { HedgeError } from '../../../lib/errors.ts';
import type { ContainerConfig, SandboxConfig } from '../types.ts';
import type { OciSeccomp } from './seccomp.ts';

export type OciRuntimeKind = 'runc' | 'crun' | 'runsc';

/** The subset of the runtime-spec we emit. */
export interface OciSpec {
  ociVersion: string;
  process: {
    terminal: boolean;
    user: { uid: number; gid: number; additionalGids?: number[] };
    args: string[];
    env: string[];
    cwd: string;
    capabilities: { bounding: string[]; effective: string[]; permitted: string[]; inheritable: string[] };
    rlimits: { type: string; hard: number; soft: number }[];
    noNewPrivileges: boolean;
    oomScoreAdj?: number;
  };
  root: { path: string; readonly: boolean };
  hostname?: string;
  mounts: OciMount[];
  annotations: Record<string, string>;
  linux: {
    namespaces: { type: string; path?: string }[];
    cgroupsPath: string;
    resources: {
      devices: { allow: boolean; access: string }[];
      cpu?: { shares?: number; quota?: number; period?: number };
      memory?: { limit?: number; swap?: number };
      pids?: { limit: number };
    };
    maskedPaths?: string[];
    readonlyPaths?: string[];
    seccomp?: OciSeccomp;
  };
}

export interface OciMount {
  destination: string;
  type: string;
  source: string;
  options: string[];
}

export interface SpecPaths {
  /** where the container's rootfs is mounted (bundle/rootfs) */
  rootfs: string;
  hostsFile: string;
  resolvConf: string;
  hostnameFile: string;
  /** pod-shared /dev/shm (a tmpfs the sandbox owns); only used with shareIpc */
  podShm?: string;
  /** pod-shared IPC namespace (a bind-mounted nsfs file); only used with shareIpc on runc/crun */
  podIpcNs?: string;
  /** the PID namespace to join on runc/crun: the pod's shared one (pid-namespace.ts), or an ephemeral container's target's */
  pidNs?: string;
  /** the host file behind the container's terminationMessagePath; only used when the config has one */
  terminationLog?: string;
}

export interface BuildSpecOptions {
  container: ContainerConfig;
  sandbox: SandboxConfig;
  kind: OciRuntimeKind;
  paths: SpecPaths;
  /** RLIMIT_NOFILE for the process; must not exceed the runtime's own hard limit (no CAP_SYS_RESOURCE) */
  nofile?: number;
  /** >= 0; negative values are clamped to 0 because this host lacks CAP_SYS_RESOURCE */
  oomScoreAdj?: number;
  /** the resolved seccomp profile (oci-handler reads Localhost files); never applied to runsc or privileged containers */
  seccomp?: OciSeccomp;
  /**
   * a cgroup namespace of its own for an unprivileged runc/crun container (what containerd and
   * CRI-O give them on a cgroup v2 host): its /proc/self/cgroup reads `0::/` and its
   * /sys/fs/cgroup is its own cgroup, limits included; privileged ones keep the host's view
   */
  cgroupNamespace?: boolean;
}

/** containerd's default capability set for non-privileged containers. */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

/** Every capability (for privileged containers and `ALL`); kernel 5.9+ set. */
export const ALL_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT',
  'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME', 'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE',
  'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG',
  'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

/** containerd's defaults (pkg/oci populateDefaultUnixSpec). */
export const DEFAULT_MASKED_PATHS: readonly string[] = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
];
export const DEFAULT_READONLY_PATHS: readonly string[] = [
  '/proc/bus',
  '/proc/fs',
  '/proc/irq',
  '/proc/sys',
  '/proc/sysrq-trigger',
];

export const CPU_PERIOD_US = 100_000;
/** kubelet's MinShares / SharesPerCPU */
const MIN_SHARES = 2;
const SHARES_PER_CPU = 1024;
const DEFAULT_SHM_BYTES = 64 * 1024 * 1024;
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** kubelet's MilliCPUToShares: a request of 0/unset still gets the minimum (2). */
export function milliCpuToShares(milli: number | undefined): number {
  if (milli === undefined || milli === 0) return MIN_SHARES;
  return Math.max(MIN_SHARES, Math.floor((milli * SHARES_PER_CPU) / 1000));
}

/** kubelet's MilliCPUToQuota; quota below 1 ms is raised to 1 ms (kernel minimum). */
export function milliCpuToQuota(milli: number, period = CPU_PERIOD_US): number {
  return Math.max(1000, Math.floor((milli * period) / 1000));
}

function normalizeCap(name: string): string {
  const upper = name.toUpperCase();
  return upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
}

/** Kubernetes semantics: drop is applied first, then add; `ALL` works in both. */
export function effectiveCapabilities(add: string[], drop: string[], privileged: boolean): string[] {
  if (privileged) return [...ALL_CAPABILITIES];
  const dropSet = new Set(drop.map(normalizeCap));
  let caps = dropSet.has('CAP_ALL') ? [] : DEFAULT_CAPABILITIES.filter((c) => !dropSet.has(c));
  const addSet = add.map(normalizeCap);
  if (addSet.includes('CAP_ALL')) caps = [...ALL_CAPABILITIES];
  for (const c of addSet) if (c !== 'CAP_ALL' && !caps.includes(c)) caps.push(c);
  return caps;
}

function bindOptions(readOnly: boolean): string[] {
  return ['rbind', 'rprivate', readOnly ? 'ro' : 'rw'];
}

export function buildSpec(opts: BuildSpecOptions): OciSpec {
  const { container: c, sandbox: s, kind, paths } = opts;
  if (c.security.privileged && kind === 'runsc') {
    throw new HedgeError('Invalid', `privileged containers are not supported by the gVisor runtime (container "${c.name}")`, {
      details: {
        causes: [
          {
            field: 'spec.containers[].securityContext.privileged',
            reason: 'FieldValueForbidden',
            message: 'gVisor (runsc) cannot run privileged containers; use runtimeClassName runc',
          },
        ],
      },
    });
  }
  if (c.command.length === 0) {
    throw new HedgeError('Invalid', `container "${c.name}" has no command (image entrypoint/cmd must be resolved before)`);
  }

  const env = c.env.map((e) => `${e.name}=${e.value}`);
  if (!c.env.some((e) => e.name === 'PATH')) env.unshift(`PATH=${DEFAULT_PATH}`);
  if (!c.env.some((e) => e.name === 'HOSTNAME')) env.push(`HOSTNAME=${s.hostname}`);

  const caps = effectiveCapabilities(c.security.capabilitiesAdd, c.security.capabilitiesDrop, c.security.privileged);
  const nofile = opts.nofile ?? 1_048_576;

  const sharedIpc = s.shareIpc && kind !== 'runsc';
  const mounts: OciMount[] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    s.hostIpc
      ? { destination: '/dev/shm', type: 'bind', source: '/dev/shm', options: bindOptions(false) }
      : s.shareIpc && paths.podShm
      ? { destination: '/dev/shm', type: 'bind', source: paths.podShm, options: bindOptions(false) }
      : {
          destination: '/dev/shm',
          type: 'tmpfs',
          source: 'shm',
          options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${DEFAULT_SHM_BYTES}`],
        },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    {
      destination: '/sys',
      type: 'sysfs',
      source: 'sysfs',
      options: ['nosuid', 'noexec', 'nodev', c.security.privileged ? 'rw' : 'ro'],
    },
    {
      destination: '/sys/fs/cgroup',
      type: 'cgroup',
      source: 'cgroup',
      options: ['nosuid', 'noexec', 'nodev', 'relatime', c.security.privileged ? 'rw' : 'ro'],
    },
    { destination: '/etc/hosts', type: 'bind', source: paths.hostsFile, options: bindOptions(false) },
    { destination: '/etc/resolv.conf', type: 'bind', source: paths.resolvConf, options: bindOptions(false) },
    { destination: '/etc/hostname', type: 'bind', source: paths.hostnameFile, options: bindOptions(false) },
  ];
  // a later mount at the same place shadows an earlier one (a volume at /dev/shm, the termination
  // log over a volume): last one wins in the kernel, but drop the earlier so the spec says what happens
  const add = (m: OciMount): void => {
    const clash = mounts.findIndex((x) => x.destination === m.destination);
    if (clash >= 0) mounts.splice(clash, 1);
    mounts.push(m);
  };
  for (const m of c.mounts) {
    if (m.type === 'tmpfs') {
      const options = ['nosuid', 'nodev', m.readOnly ? 'ro' : 'rw', 'mode=1777'];
      if (m.sizeBytes !== undefined) options.push(`size=${m.sizeBytes}`);
      add({ destination: m.containerPath, type: 'tmpfs', source: 'tmpfs', options });
    } else {
      add({ destination: m.containerPath, type: 'bind', source: m.hostPath, options: bindOptions(m.readOnly) });
    }
  }
  // after the volumes, as the kubelet orders it
  if (c.terminationMessagePath && paths.terminationLog) {
    add({ destination: c.terminationMessagePath, type: 'bind', source: paths.terminationLog, options: bindOptions(false) });
  }

  // no entry: the host's namespace (hostPID, hostIPC)
  const namespaces: { type: string; path?: string }[] = [
    ...(s.hostPid ? [] : [paths.pidNs && kind !== 'runsc' ? { type: 'pid', path: paths.pidNs } : { type: 'pid' }]),
    ...(s.hostIpc ? [] : [sharedIpc && paths.podIpcNs ? { type: 'ipc', path: paths.podIpcNs } : { type: 'ipc' }]),
    ...(s.hostUts ? [] : [{ type: 'uts' }]),
    { type: 'mount' },
  ];
  // runsc runs with --network=host inside the pod netns (docs/host-notes.md): a network entry would make it
  // try its own netstack, which this runsc refuses here and which needs one sandbox per pod
  // (docs/decisions/0004, "Revisited").
  // No entry at all means host network (hostNetwork pods have no netnsPath).
  if (kind !== 'runsc' && s.netnsPath) namespaces.push({ type: 'network', path: s.netnsPath });
  if (opts.cgroupNamespace && kind !== 'runsc' && !c.security.privileged) namespaces.push({ type: 'cgroup' });

  const resources: OciSpec['linux']['resources'] = {
    devices: [{ allow: false, access: 'rwm' }],
    cpu: { shares: milliCpuToShares(c.resources.cpuRequestMilli ?? c.resources.cpuLimitMilli) },
  };
  if (c.resources.cpuLimitMilli !== undefined && resources.cpu) {
    resources.cpu.quota = milliCpuToQuota(c.resources.cpuLimitMilli);
    resources.cpu.period = CPU_PERIOD_US;
  }
  if (c.resources.memoryLimitBytes !== undefined) {
    // swap == limit: no swap use beyond the limit (kubelet's behaviour with swap off)
    resources.memory = { limit: c.resources.memoryLimitBytes, swap: c.resources.memoryLimitBytes };
  }
  if (c.resources.pidsLimit !== undefined) resources.pids = { limit: c.resources.pidsLimit };

  const linux: OciSpec['linux'] = {
    namespaces,
    cgroupsPath: `/${trimSlashes(s.cgroupParent)}/${c.id}`,
    resources,
  };
  if (!c.security.privileged) {
    linux.maskedPaths = [...DEFAULT_MASKED_PATHS];
    linux.readonlyPaths = [...DEFAULT_READONLY_PATHS];
    // gVisor's Sentry is the syscall boundary; privileged containers run unconfined as upstream
    if (opts.seccomp && kind !== 'runsc') linux.seccomp = opts.seccomp;
  }

  const process: OciSpec['process'] = {
    terminal: c.tty,
    user: { uid: c.user.uid, gid: c.user.gid },
    args: [...c.command],
    env,
    cwd: c.workingDir || '/',
    capabilities: {
      bounding: caps,
      effective: caps,
      permitted: caps,
      // inheritable stays empty like containerd ≥1.6.18 (CVE-2022-24769)
      inheritable: [],
    },
    rlimits: [{ type: 'RLIMIT_NOFILE', hard: nofile, soft: nofile }],
    noNewPrivileges: c.security.noNewPrivileges,
  };
  if (c.user.additionalGids.length > 0) process.user.additionalGids = [...c.user.additionalGids];
  if (opts.oomScoreAdj !== undefined) process.oomScoreAdj = Math.max(0, Math.round(opts.oomScoreAdj));

  return {
    ociVersion: '1.0.2',
    process,
    root: { path: paths.rootfs, readonly: c.security.readOnlyRootFilesystem },
    // runc refuses a host name without a UTS namespace of the container's own
    ...(s.hostUts ? {} : { hostname: s.hostname }),
    mounts,
    annotations: {
      ...c.annotations,
      'io.kubernetes.cri.container-name': c.name,
      'io.kubernetes.cri.sandbox-id': s.id,
      'io.kubernetes.cri.sandbox-name': s.pod.name,
      'io.kubernetes.cri.sandbox-namespace': s.pod.namespace,
      'io.kubernetes.cri.sandbox-uid': s.pod.uid,
      'io.kubernetes.cri.image-name': c.image.ref,
    },
    linux,
  };
}

function trimSlashes(p: string): string {
  return p.replace(/^\/+|\/+$/g, '');
}
