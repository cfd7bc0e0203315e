import { hostname } from 'node:os';
import { isIP } from 'node:net';
import * as z from 'zod';
import type { ListenAddress } from './listen-address.ts';
import { ConfigError, layerSettings, listenSchema, secondsSchema } from './config-file.ts';
import { LOG_LEVELS, type LogLevel } from './server-config.ts';
import { parseQuantity, tryParseQuantity } from '../api/meta/quantity.ts';
import { formatCidr } from '../lib/cidr.ts';
import { parseClusterCidrs } from '../controllers/ipam/cluster-cidrs.ts';
import { parseDuration } from '../lib/duration.ts';
import { validateImageGCPolicy, type ImageGCPolicy } from '../agent/image/image-gc.ts';
import { DEFAULT_ENFORCE_NODE_ALLOCATABLE, EvictionConfigError, SIGNALS, parseDurationMs, parseThresholdConfig, type EvictionSettings, type Threshold } from '../agent/eviction/thresholds.ts';

/** The RuntimeClass handlers `hedge node` knows how to offer. */
export const NODE_RUNTIMES = ['runc', 'gvisor', 'microvm'] as const;
export type NodeRuntime = (typeof NODE_RUNTIMES)[number];
export const MICROVM_ACCELERATORS = ['auto', 'kvm', 'tcg'] as const;

/**
 * `hedge node` settings. Each has a flag and a config-file key of the same name
 * (flag `--node-name` = key `nodeName`); flags win over the file, the file over defaults.
 */
export interface NodeSettings {
  /** kubeconfig with this node's credentials (token or client certificate) */
  kubeconfig: string;
  nodeName: string;
  dataDir: string;
  /** the kubelet-style server the apiserver reaches for logs/exec */
  listen: ListenAddress;
  /** address reported as the Node's InternalIP (the apiserver dials it) */
  internalIP?: string;
  /** pod ranges, an IPv4 CIDR then optionally an IPv6 one (dual-stack); undefined = the podCIDRs the control plane assigns this Node */
  podSubnet?: string[];
  bridge: string;
  insecureRegistry: string[];
  runtimes: NodeRuntime[];
  logLevel: LogLevel;
  /** where pod network namespaces are pinned */
  netnsDir: string;
  /** cgroup parent of all pods (relative to each controller root) */
  cgroupRoot: string;
  /** stop 40's opt-in for a cgroup v2 (unified) host, now supported without it: accepted and ignored (the node logs that it is no longer needed) */
  cgroupV2Experimental: boolean;
  /** RuntimeDefault seccomp for runc/crun containers that name no profile (kubelet seccompDefault) */
  seccompDefault: boolean;
  /** the node Lease's duration; it is renewed every quarter of it (kubelet nodeLeaseDurationSeconds) */
  nodeLeaseDurationSeconds: number;
  /** how often configMap/secret/downwardAPI/projected volume contents are re-read from the API */
  volumeRefreshSeconds: number;
  /** pod networks kept made ahead of the pods that take them (agent/network/netns-pool.ts); 0: none */
  netnsPool: number;
  /** microVM guest kernel + initramfs build cache (scripts/build-guest.sh); default <dataDir>/guest */
  guestDir?: string;
  /** the kubelet's staticPodPath: run the pods of the manifests in this directory (agent/staticpods/); none when unset */
  staticPodPath?: string;
  /** microVM accelerator: auto = KVM if a guest boots with it, else TCG */
  microvmAccelerator: (typeof MICROVM_ACCELERATORS)[number];
  /** how long a microVM sandbox's guest has from qemu's start to its agent's hello (slow hosts: TCG on a weak CPU, nested emulation) */
  microvmBootTimeoutSeconds: number;
  /** where container logs are shipped: syslog+tcp|syslog+tls|syslog+relp|loki+http(s)://HOST:PORT */
  logSink: string[];
  /** bytes of log files kept only for shipping (rotated away or pod deleted) before lines are dropped */
  logBufferBytes: number;
  /** a container's CRI log is rotated past this size (kubelet containerLogMaxSize) */
  containerLogMaxSize: number;
  /** files kept per container log, the current one included (kubelet containerLogMaxFiles) */
  containerLogMaxFiles: number;
  /** nftables table (family ip) the service proxy programs; 'off' runs no proxy */
  serviceProxyTable: string;
  /**
   * the socket-level Service balancer (agent/network/proxy/socket-lb.ts): `auto` loads it where
   * BPF, bpftool and clang are there (else the nftables path alone, said in the log); `off` never
   */
  socketLb: 'auto' | 'off';
  /** enforce NetworkPolicy in nftables (agent/network/policy) */
  networkPolicy: boolean;
  /** nftables table (family inet) NetworkPolicy is enforced in */
  networkPolicyTable: string;
  /** open the tunnel to the apiserver that carries logs/exec/attach/port-forward/nodes/proxy (no inbound port needed) */
  tunnel: boolean;
  /** the edgehub's loopback endpoint (the agent and local clients use it); 'off' = the agent talks to the cloud directly */
  hubListen: ListenAddress | 'off';
  /** pod network between nodes: auto = vxlan when the pod range comes from the cluster, else none */
  overlay: (typeof OVERLAY_MODES)[number];
  /** every node's pod ranges (the server's --cluster-cidr, IPv4 and optionally IPv6): pods reach them without NAT */
  clusterCidr: string[];
  /** cluster DNS served by the node: 'auto' = on the pod bridge's gateway address, port 53; an IP = there; 'off' = none (pods get the host's resolvers) */
  clusterDns: string;
  /** the cluster's DNS domain (kubelet --cluster-domain) */
  clusterDomain: string;
  /** the host's resolver config: pods with dnsPolicy Default get it, cluster DNS forwards to its nameservers (kubelet --resolv-conf) */
  resolvConf: string;
  /** host interfaces host-device NetworkAttachmentDefinitions may hand to pods, one pod each (agent/network/multus) */
  passthroughDevices: string[];
  /** the ingress controller's HTTP listener (agent/network/ingress); 0 = off */
  ingressHttpPort: number;
  /** its HTTPS listener; 0 = off */
  ingressHttpsPort: number;
  /** the address both listen on */
  ingressBindAddress: string;
  /**
   * who may use the node server (kubelet --authorization-mode): Webhook = bearer tokens reviewed by
   * the cloud (TokenReview), every request authorized by a SubjectAccessReview; AlwaysAllow = any
   * client certificate from the cluster CA may do anything
   */
  authorizationMode: (typeof NODE_AUTHORIZATION_MODES)[number];
  /** requests to the node server without credentials are system:anonymous instead of a 401 (kubelet --anonymous-auth) */
  anonymousAuth: boolean;
  /** image GC starts when the image filesystem is this full (percent; kubelet imageGCHighThresholdPercent) */
  imageGCHighThresholdPercent: number;
  /** ... and frees down to this (kubelet imageGCLowThresholdPercent); below the high one */
  imageGCLowThresholdPercent: number;
  /** images first seen less than this long ago (ms) are kept (kubelet imageMinimumGCAge, a duration: 2m) */
  imageMinimumGCAge: number;
  /** images unused for longer (ms) are removed whatever the disk; 0 = off (kubelet imageMaximumGCAge) */
  imageMaximumGCAge: number;
  /** hard eviction thresholds, signal → quantity or percentage (kubelet evictionHard); unset = the kubelet's defaults, set = replaces them */
  evictionHard?: Record<string, string>;
  /** soft eviction thresholds, each needing an evictionSoftGracePeriod (kubelet evictionSoft) */
  evictionSoft?: Record<string, string>;
  /** signal → duration a soft threshold must hold before pods are evicted (kubelet evictionSoftGracePeriod) */
  evictionSoftGracePeriod?: Record<string, string>;
  /** signal → what must be reclaimed beyond the threshold before pressure ends (kubelet evictionMinimumReclaim) */
  evictionMinimumReclaim?: Record<string, string>;
  /** `pods` (default: allocatableMemory.available thresholds twin the hard memory.available ones) or `none` (kubelet enforceNodeAllocatable) */
  enforceNodeAllocatable?: string[];
  /** resources held back for the node's own daemons (kubelet kubeReserved: cpu, memory, ephemeral-storage, pid), parsed */
  kubeReserved?: ReservedResources;
  /** resources held back for the OS (kubelet systemReserved), parsed */
  systemReserved?: ReservedResources;
  /** a soft eviction's grace period at most, seconds (kubelet evictionMaxPodGracePeriod) */
  evictionMaxPodGracePeriod: number;
  /** how long a pressure condition stays True after its threshold was last met, seconds (kubelet evictionPressureTransitionPeriod) */
  evictionPressureTransitionPeriod: number;
}

/** a kubeReserved / systemReserved amount: what the agent's `reserved` adds up */
export interface ReservedResources {
  cpuMilli: number;
  memoryBytes: number;
  ephemeralStorageBytes: number;
  pids: number;
}

export const NODE_AUTHORIZATION_MODES = ['Webhook', 'AlwaysAllow'] as const;

export const OVERLAY_MODES = ['auto', 'vxlan', 'host-gw', 'none'] as const;

export const NODE_FLAGS: Record<keyof NodeSettings, string> = {
  kubeconfig: '--kubeconfig',
  nodeName: '--node-name',
  dataDir: '--data-dir',
  listen: '--listen',
  internalIP: '--internal-ip',
  podSubnet: '--pod-subnet',
  bridge: '--bridge',
  insecureRegistry: '--insecure-registry',
  runtimes: '--runtimes',
  logLevel: '--log-level',
  netnsDir: '--netns-dir',
  cgroupRoot: '--cgroup-root',
  cgroupV2Experimental: '--cgroup-v2-experimental',
  seccompDefault: '--no-seccomp-default',
  nodeLeaseDurationSeconds: '--node-lease-duration-seconds',
  volumeRefreshSeconds: '--volume-refresh-seconds',
  netnsPool: '--netns-pool',
  guestDir: '--guest-dir',
  staticPodPath: '--pod-manifest-path',
  logSink: '--log-sink',
  logBufferBytes: '--log-buffer-bytes',
  containerLogMaxSize: '--container-log-max-size',
  containerLogMaxFiles: '--container-log-max-files',
  serviceProxyTable: '--service-proxy-table',
  socketLb: '--socket-lb',
  networkPolicy: '--network-policy',
  networkPolicyTable: '--network-policy-table',
  microvmAccelerator: '--microvm-accelerator',
  microvmBootTimeoutSeconds: '--microvm-boot-timeout-seconds',
  tunnel: '--tunnel',
  hubListen: '--hub-listen',
  overlay: '--overlay',
  clusterCidr: '--cluster-cidr',
  clusterDns: '--cluster-dns',
  clusterDomain: '--cluster-domain',
  resolvConf: '--resolv-conf',
  passthroughDevices: '--passthrough-devices',
  ingressHttpPort: '--ingress-http-port',
  ingressHttpsPort: '--ingress-https-port',
  ingressBindAddress: '--ingress-bind-address',
  authorizationMode: '--authorization-mode',
  anonymousAuth: '--anonymous-auth',
  imageGCHighThresholdPercent: '--image-gc-high-threshold',
  imageGCLowThresholdPercent: '--image-gc-low-threshold',
  imageMinimumGCAge: '--image-minimum-gc-age',
  imageMaximumGCAge: '--image-maximum-gc-age',
  evictionHard: '--eviction-hard',
  evictionSoft: '--eviction-soft',
  evictionSoftGracePeriod: '--eviction-soft-grace-period',
  evictionMinimumReclaim: '--eviction-minimum-reclaim',
  enforceNodeAllocatable: '--enforce-node-allocatable',
  kubeReserved: '--kube-reserved',
  systemReserved: '--system-reserved',
  evictionMaxPodGracePeriod: '--eviction-max-pod-grace-period',
  evictionPressureTransitionPeriod: '--eviction-pressure-transition-period',
};

/** Defaults in flag syntax (they go through the same validation as flags). */
export type NodeDefaults = Omit<NodeSettings, 'kubeconfig' | 'listen' | 'internalIP' | 'guestDir' | 'staticPodPath' | 'hubListen' | 'evictionPressureTransitionPeriod'> & {
  listen: string;
  hubListen: string;
  evictionPressureTransitionPeriod: string;
};

export function nodeDefaults(): NodeDefaults {
  return {
    // node names are DNS subdomains: lower case
    nodeName: hostname().toLowerCase(),
    dataDir: '/var/lib/hedge-node',
    listen: '0.0.0.0:10250',
    bridge: 'hedge0',
    insecureRegistry: [],
    // microvm is offered only where qemu and a guest kernel exist
    runtimes: ['runc', 'gvisor', 'microvm'],
    logLevel: 'info',
    netnsDir: '/run/hedge/netns',
    cgroupRoot: 'hedge',
    cgroupV2Experimental: false,
    seccompDefault: true,
    nodeLeaseDurationSeconds: 40,
    volumeRefreshSeconds: 60,
    netnsPool: 2,
    microvmAccelerator: 'auto',
    microvmBootTimeoutSeconds: 60,
    logSink: [],
    logBufferBytes: 256 * 1024 * 1024,
    containerLogMaxSize: 10 * 1024 * 1024,
    containerLogMaxFiles: 5,
    serviceProxyTable: 'hedge-proxy',
    socketLb: 'auto',
    networkPolicy: true,
    networkPolicyTable: 'hedge-policy',
    tunnel: true,
    // any free loopback port: local clients find it in <data-dir>/hub/kubeconfig, and
    // several nodes (tests, `hedge up`) can share a host
    hubListen: '127.0.0.1:0',
    overlay: 'auto',
    // the server's --cluster-cidr default
    clusterCidr: ['10.244.0.0/16'],
    clusterDns: 'auto',
    clusterDomain: 'cluster.local',
    resolvConf: '/etc/resolv.conf',
    passthroughDevices: [],
    ingressHttpPort: 80,
    ingressHttpsPort: 443,
    ingressBindAddress: '0.0.0.0',
    authorizationMode: 'Webhook',
    anonymousAuth: false,
    imageGCHighThresholdPercent: 85,
    imageGCLowThresholdPercent: 80,
    imageMinimumGCAge: 2 * 60_000,
    imageMaximumGCAge: 0,
    evictionMaxPodGracePeriod: 0,
    evictionPressureTransitionPeriod: '5m',
  };
}

/**
 * An IPv4 CIDR, or an IPv4 and an IPv6 CIDR (dual-stack): a comma-separated string (the flag) or
 * a YAML list; canonical CIDRs out (host bits cleared).
 */
const podRangesSchema = z
  .union([z.string(), z.array(z.string())])
  .transform((v, ctx) => {
    try {
      return parseClusterCidrs(Array.isArray(v) ? v.join(',') : v, { 4: [8, 30], 6: [8, 126] }).map(formatCidr);
    } catch (err) {
      const msg = (err as Error).message;
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: msg.slice(msg.indexOf(': ') + 2) });
      return z.NEVER;
    }
  });

/** a YAML list, or a comma-separated string (the flag form) */
const stringList = z
  .union([z.string(), z.array(z.string())])
  .transform((v) => (Array.isArray(v) ? v : v.split(',')).map((s) => s.trim()).filter((s) => s !== ''));

const byteCountSchema = z
  .union([z.number(), z.string()])
  .transform((v, ctx) => {
    try {
      const n = typeof v === 'number' ? v : parseQuantity(v).value();
      if (Number.isSafeInteger(n) && n >= 0) return n;
    } catch {
      // reported below
    }
    ctx.addIssue({ code: 'custom', message: 'must be a byte count such as 268435456 or 256Mi' });
    return z.NEVER;
  });

/** a Go duration ("2m", "1h30m", "0") as the kubelet's config takes it, or a number of milliseconds; out in ms */
const durationSchema = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const ms = typeof v === 'number' ? v : v === '0' ? 0 : parseDuration(v);
  if (ms !== undefined && Number.isFinite(ms) && ms >= 0) return ms;
  ctx.addIssue({ code: 'custom', message: 'must be a duration such as 2m, 1h30m or 0' });
  return z.NEVER;
});

const percentSchema = z.coerce.number({ message: 'must be a whole number between 0 and 100' }).int('must be a whole number between 0 and 100').min(0, 'must be a whole number between 0 and 100').max(100, 'must be a whole number between 0 and 100');

/**
 * A kubelet map setting: a YAML mapping in the file, or the kubelet's flag syntax — `<`-separated
 * statements for thresholds (`memory.available<100Mi,nodefs.available<10%`), `=` for the others.
 */
const evictionMap = (sep: '<' | '=') =>
  z.union([z.string(), z.record(z.string(), z.union([z.string(), z.number()]))]).transform((v, ctx) => {
    if (typeof v !== 'string') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, String(x)]));
    const out: Record<string, string> = {};
    for (const stmt of v.split(',').map((x) => x.trim()).filter((x) => x !== '')) {
      const i = stmt.indexOf(sep);
      if (i <= 0) {
        ctx.addIssue({ code: 'custom', message: `"${stmt}": want SIGNAL${sep}VALUE` });
        return z.NEVER;
      }
      out[stmt.slice(0, i).trim()] = stmt.slice(i + 1).trim();
    }
    return out;
  });

/** the statements one eviction key holds, checked by the agent's parser (upstream's messages) */
const evictionKey = (key: keyof EvictionSettings, sep: '<' | '=') =>
  evictionMap(sep).superRefine((v, ctx) => {
    try {
      if (key === 'evictionSoftGracePeriod') parseThresholdConfig({ evictionHard: {}, evictionSoftGracePeriod: v });
      else if (key === 'evictionSoft') parseThresholdConfig({ evictionHard: {}, evictionSoft: v, evictionSoftGracePeriod: Object.fromEntries(Object.keys(v).filter((k) => (SIGNALS as readonly string[]).includes(k)).map((k) => [k, '0s'])) });
      else parseThresholdConfig({ evictionHard: {}, [key]: v });
    } catch (err) {
      if (!(err instanceof EvictionConfigError)) throw err;
      ctx.addIssue({ code: 'custom', message: err.reason });
    }
  });

/**
 * kubeReserved / systemReserved: `cpu=200m,memory=512Mi,ephemeral-storage=1Gi,pid=1000` (the
 * flag) or a YAML map; the resources and messages of the kubelet's parseResourceList.
 */
const reservedSchema = evictionMap('=').transform((m, ctx): ReservedResources => {
  const out: ReservedResources = { cpuMilli: 0, memoryBytes: 0, ephemeralStorageBytes: 0, pids: 0 };
  for (const [k, v] of Object.entries(m)) {
    if (k !== 'cpu' && k !== 'memory' && k !== 'ephemeral-storage' && k !== 'pid') {
      ctx.addIssue({ code: 'custom', message: `cannot reserve "${k}" resource` });
      return z.NEVER;
    }
    const q = tryParseQuantity(v);
    if (typeof q === 'string') {
      ctx.addIssue({ code: 'custom', message: `failed to parse quantity "${v}" for "${k}" resource: ${q}` });
      return z.NEVER;
    }
    if (q.sign() < 0) {
      ctx.addIssue({ code: 'custom', message: `resource quantity for "${k}" cannot be negative: ${v}` });
      return z.NEVER;
    }
    if (k === 'cpu') out.cpuMilli = q.milliValue();
    else if (k === 'memory') out.memoryBytes = q.value();
    else if (k === 'ephemeral-storage') out.ephemeralStorageBytes = q.value();
    else out.pids = q.value();
  }
  return out;
});

const durationSeconds = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const ms = parseDurationMs(v);
  if (ms === undefined || ms < 0) {
    ctx.addIssue({ code: 'custom', message: 'must be a duration such as 5m, 30s or 1m30s' });
    return z.NEVER;
  }
  return ms / 1000;
});

/** a TCP port, 0 = off */
const portOrOff = z.coerce.number({ message: 'must be a port number (0 = off)' }).int('must be a port number (0 = off)').min(0, 'must be a port number (0 = off)').max(65535, 'must be a port number (0 = off)');

const partialSchema = z.strictObject({
  kubeconfig: z.string().min(1, 'must not be empty').optional(),
  nodeName: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/, 'must be a lower-case DNS subdomain (a-z, 0-9, "-", ".")')
    .optional(),
  dataDir: z.string().min(1, 'must not be empty').optional(),
  listen: listenSchema.optional(),
  internalIP: z
    .string()
    .refine((s) => isIP(s) !== 0, 'must be an IP address')
    .optional(),
  podSubnet: podRangesSchema.optional(),
  bridge: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,15}$/, 'must be an interface name of 1-15 characters [A-Za-z0-9_.-]')
    .optional(),
  insecureRegistry: stringList.pipe(z.array(z.string().regex(/^[A-Za-z0-9.-]+(:\d{1,5})?$/, 'must be HOST or HOST:PORT'))).optional(),
  runtimes: stringList
    .pipe(z.array(z.enum(NODE_RUNTIMES, { message: `each must be one of ${NODE_RUNTIMES.join(', ')}` })).min(1, 'name at least one runtime'))
    .optional(),
  logLevel: z.enum(LOG_LEVELS).optional(),
  netnsDir: z.string().startsWith('/', 'must be an absolute path').optional(),
  cgroupRoot: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/, 'must be a relative cgroup path like hedge')
    .optional(),
  cgroupV2Experimental: z
    .union([z.boolean(), z.string()])
    .refine((v) => typeof v === 'boolean' || v === 'true' || v === 'false', 'must be true or false')
    .transform((v) => v === true || v === 'true')
    .optional(),
  seccompDefault: z.boolean().optional(),
  nodeLeaseDurationSeconds: secondsSchema.optional(),
  volumeRefreshSeconds: secondsSchema.optional(),
  netnsPool: z.coerce.number().int('must be a whole number').min(0, 'must be ≥ 0').max(16, 'must be ≤ 16').optional(),
  guestDir: z.string().startsWith('/', 'must be an absolute path').optional(),
  staticPodPath: z.string().startsWith('/', 'must be an absolute path').optional(),
  microvmAccelerator: z.enum(MICROVM_ACCELERATORS, { message: `must be one of ${MICROVM_ACCELERATORS.join(', ')}` }).optional(),
  microvmBootTimeoutSeconds: secondsSchema.optional(),
  // one URL per flag (a URL may hold a comma), a YAML list in the file
  logSink: z
    .union([z.string(), z.array(z.string())])
    .transform((v) => (Array.isArray(v) ? v : [v]))
    .pipe(z.array(z.string().regex(/^(syslog\+(tcp|tls|relp)|loki\+https?):\/\/[^/]+\/?(\?.*)?$/, 'must be syslog+tcp://, syslog+tls://, syslog+relp://, loki+http:// or loki+https:// HOST:PORT')))
    .optional(),
  serviceProxyTable: z.string().regex(/^[A-Za-z][A-Za-z0-9_-]{0,60}$/, 'must be an nftables table name (letters, digits, - and _) or off').optional(),
  socketLb: z.enum(['auto', 'off'], { message: 'must be auto or off' }).optional(),
  logBufferBytes: byteCountSchema.optional(),
  containerLogMaxSize: byteCountSchema.refine((n) => n >= 1024, 'must be at least 1Ki').optional(),
  containerLogMaxFiles: z.coerce.number({ message: 'must be a whole number of at least 2' }).int('must be a whole number of at least 2').min(2, 'must be a whole number of at least 2').optional(),
  tunnel: z
    .union([z.boolean(), z.enum(['true', 'false'], { message: 'must be true or false' })])
    .transform((v) => v === true || v === 'true')
    .optional(),
  networkPolicy: z
    .union([z.boolean(), z.enum(['true', 'false'], { message: 'must be true or false' })])
    .transform((v) => v === true || v === 'true')
    .optional(),
  networkPolicyTable: z.string().regex(/^[A-Za-z][A-Za-z0-9_-]{0,60}$/, 'must be an nftables table name (letters, digits, - and _)').optional(),
  hubListen: z.union([z.literal('off'), listenSchema]).optional(),
  overlay: z.enum(OVERLAY_MODES, { message: `must be one of ${OVERLAY_MODES.join(', ')}` }).optional(),
  clusterCidr: podRangesSchema.optional(),
  clusterDns: z
    .string()
    .refine((s) => s === 'auto' || s === 'off' || s.split(',').every((ip) => isIP(ip) !== 0), 'must be auto, off or a comma-separated list of IP addresses of this host')
    .optional(),
  clusterDomain: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, 'must be a lower-case DNS domain such as cluster.local')
    .optional(),
  resolvConf: z.string().startsWith('/', 'must be an absolute path').optional(),
  passthroughDevices: stringList.pipe(z.array(z.string().regex(/^[A-Za-z0-9_.-]{1,15}$/, 'each must be an interface name of 1-15 characters [A-Za-z0-9_.-]'))).optional(),
  ingressHttpPort: portOrOff.optional(),
  ingressHttpsPort: portOrOff.optional(),
  ingressBindAddress: z
    .string()
    .refine((s) => isIP(s) !== 0, 'must be an IP address of this host (0.0.0.0 or :: for all)')
    .optional(),
  authorizationMode: z.enum(NODE_AUTHORIZATION_MODES, { message: `must be one of ${NODE_AUTHORIZATION_MODES.join(', ')}` }).optional(),
  anonymousAuth: z
    .union([z.boolean(), z.enum(['true', 'false'], { message: 'must be true or false' })])
    .transform((v) => v === true || v === 'true')
    .optional(),
  imageGCHighThresholdPercent: percentSchema.optional(),
  imageGCLowThresholdPercent: percentSchema.optional(),
  imageMinimumGCAge: durationSchema.optional(),
  imageMaximumGCAge: durationSchema.optional(),
  evictionHard: evictionKey('evictionHard', '<').optional(),
  evictionSoft: evictionKey('evictionSoft', '<').optional(),
  evictionSoftGracePeriod: evictionKey('evictionSoftGracePeriod', '=').optional(),
  evictionMinimumReclaim: evictionKey('evictionMinimumReclaim', '=').optional(),
  enforceNodeAllocatable: stringList.optional(),
  kubeReserved: reservedSchema.optional(),
  systemReserved: reservedSchema.optional(),
  evictionMaxPodGracePeriod: z.coerce.number({ message: 'must be a whole number of seconds (≥ 0)' }).int('must be a whole number of seconds (≥ 0)').min(0, 'must be a whole number of seconds (≥ 0)').optional(),
  evictionPressureTransitionPeriod: durationSeconds.optional(),
});

export interface ResolveNodeOptions {
  /** flags the user gave (undefined = not given) */
  flags: Partial<Record<keyof NodeSettings, unknown>>;
  configFile?: string;
  defaults?: Partial<NodeDefaults>;
}

/** Flags over config file over defaults; throws ConfigError naming the flag or file key at fault. */
export async function resolveNodeSettings(opts: ResolveNodeOptions): Promise<NodeSettings> {
  const merged = await layerSettings(partialSchema, { flags: opts.flags, flagNames: NODE_FLAGS, configFile: opts.configFile, defaults: { ...nodeDefaults(), ...opts.defaults } });
  if (merged.kubeconfig === undefined) {
    throw new ConfigError('--kubeconfig: required (a kubeconfig with this node\'s credentials, e.g. from `hedge token create-node NAME --kubeconfig-out FILE`)');
  }
  // the checks across keys (a soft threshold needs its grace period) fail here, before anything starts
  nodeEvictionThresholds(merged);
  const out: NodeSettings = {
    kubeconfig: merged.kubeconfig,
    nodeName: merged.nodeName!,
    dataDir: merged.dataDir!,
    listen: merged.listen!,
    internalIP: merged.internalIP,
    podSubnet: merged.podSubnet,
    bridge: merged.bridge!,
    insecureRegistry: merged.insecureRegistry ?? [],
    runtimes: [...new Set(merged.runtimes!)],
    logLevel: merged.logLevel!,
    netnsDir: merged.netnsDir!,
    cgroupRoot: merged.cgroupRoot!,
    cgroupV2Experimental: merged.cgroupV2Experimental!,
    seccompDefault: merged.seccompDefault!,
    nodeLeaseDurationSeconds: merged.nodeLeaseDurationSeconds!,
    volumeRefreshSeconds: merged.volumeRefreshSeconds!,
    netnsPool: merged.netnsPool!,
    guestDir: merged.guestDir,
    ...(merged.staticPodPath !== undefined ? { staticPodPath: merged.staticPodPath } : {}),
    microvmAccelerator: merged.microvmAccelerator!,
    microvmBootTimeoutSeconds: merged.microvmBootTimeoutSeconds!,
    logSink: merged.logSink ?? [],
    logBufferBytes: merged.logBufferBytes!,
    containerLogMaxSize: merged.containerLogMaxSize!,
    containerLogMaxFiles: merged.containerLogMaxFiles!,
    serviceProxyTable: merged.serviceProxyTable!,
    socketLb: merged.socketLb!,
    networkPolicy: merged.networkPolicy!,
    networkPolicyTable: merged.networkPolicyTable!,
    tunnel: merged.tunnel!,
    hubListen: merged.hubListen!,
    overlay: merged.overlay!,
    clusterCidr: merged.clusterCidr!,
    clusterDns: merged.clusterDns!,
    clusterDomain: merged.clusterDomain!,
    resolvConf: merged.resolvConf!,
    passthroughDevices: merged.passthroughDevices ?? [],
    ingressHttpPort: merged.ingressHttpPort!,
    ingressHttpsPort: merged.ingressHttpsPort!,
    ingressBindAddress: merged.ingressBindAddress!,
    authorizationMode: merged.authorizationMode!,
    anonymousAuth: merged.anonymousAuth!,
    imageGCHighThresholdPercent: merged.imageGCHighThresholdPercent!,
    imageGCLowThresholdPercent: merged.imageGCLowThresholdPercent!,
    imageMinimumGCAge: merged.imageMinimumGCAge!,
    imageMaximumGCAge: merged.imageMaximumGCAge!,
    ...(merged.evictionHard ? { evictionHard: merged.evictionHard } : {}),
    ...(merged.evictionSoft ? { evictionSoft: merged.evictionSoft } : {}),
    ...(merged.evictionSoftGracePeriod ? { evictionSoftGracePeriod: merged.evictionSoftGracePeriod } : {}),
    ...(merged.evictionMinimumReclaim ? { evictionMinimumReclaim: merged.evictionMinimumReclaim } : {}),
    ...(merged.enforceNodeAllocatable ? { enforceNodeAllocatable: merged.enforceNodeAllocatable } : {}),
    ...(merged.kubeReserved ? { kubeReserved: merged.kubeReserved } : {}),
    ...(merged.systemReserved ? { systemReserved: merged.systemReserved } : {}),
    evictionMaxPodGracePeriod: merged.evictionMaxPodGracePeriod!,
    evictionPressureTransitionPeriod: merged.evictionPressureTransitionPeriod!,
  };
  // the kubelet's cross-field checks (validation.go), naming both keys and their flags
  const bad = validateImageGCPolicy(imageGCPolicy(out));
  if (bad) {
    const other = bad.key === 'imageMaximumGCAge' ? 'imageMinimumGCAge' : 'imageGCHighThresholdPercent';
    throw new ConfigError(`${bad.key} (${NODE_FLAGS[bad.key as keyof NodeSettings]}): ${bad.message.replace(other, `${other} (${NODE_FLAGS[other]})`)}`);
  }
  return out;
}

/** the image GC policy the agent takes */
export function imageGCPolicy(s: Pick<NodeSettings, 'imageGCHighThresholdPercent' | 'imageGCLowThresholdPercent' | 'imageMinimumGCAge' | 'imageMaximumGCAge'>): ImageGCPolicy {
  return { highThresholdPercent: s.imageGCHighThresholdPercent, lowThresholdPercent: s.imageGCLowThresholdPercent, minAgeMs: s.imageMinimumGCAge, maxAgeMs: s.imageMaximumGCAge };
}

/**
 * The eviction thresholds of the settings (the agent's parser), after the checks that span keys:
 * a soft threshold without its grace period is an error naming evictionSoftGracePeriod.
 */
export function nodeEvictionThresholds(s: Pick<NodeSettings, 'evictionHard' | 'evictionSoft' | 'evictionSoftGracePeriod' | 'evictionMinimumReclaim' | 'enforceNodeAllocatable'>): Threshold[] {
  try {
    return parseThresholdConfig(s);
  } catch (err) {
    if (err instanceof EvictionConfigError) throw new ConfigError(`${NODE_FLAGS[err.key]} (config key ${err.key}): ${err.reason}`);
    throw err;
  }
}

/** kubeReserved + systemReserved: what the agent holds back from allocatable and the pods cgroup */
export function nodeReserved(s: Pick<NodeSettings, 'kubeReserved' | 'systemReserved'>): ReservedResources {
  const add = (k: keyof ReservedResources): number => (s.kubeReserved?.[k] ?? 0) + (s.systemReserved?.[k] ?? 0);
  return { cpuMilli: add('cpuMilli'), memoryBytes: add('memoryBytes'), ephemeralStorageBytes: add('ephemeralStorageBytes'), pids: add('pids') };
}

/** enforceNodeAllocatable holds `pods` (its default does) */
export function enforcesPodsAllocatable(s: Pick<NodeSettings, 'enforceNodeAllocatable'>): boolean {
  return (s.enforceNodeAllocatable ?? DEFAULT_ENFORCE_NODE_ALLOCATABLE).includes('pods');
}
