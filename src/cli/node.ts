import { Option, type Command } from 'commander';
import { createLogger } from '../lib/log.ts';
import { flushLogger } from './flush-logger.ts';
import { resolveNodeSettings, type NodeSettings } from './node-config.ts';
import { ConfigError, LOG_LEVELS } from './server-config.ts';
import { waitForShutdownSignal } from './signals.ts';
import { usageError } from './usage-error.ts';
import { withIsolation } from './isolation-text.ts';

export interface NodeFlags {
  kubeconfig?: string;
  nodeName?: string;
  dataDir?: string;
  listen?: string;
  internalIp?: string;
  podSubnet?: string;
  bridge?: string;
  insecureRegistry?: string[];
  runtimes?: string;
  logLevel?: string;
  netnsDir?: string;
  cgroupRoot?: string;
  cgroupV2Experimental?: boolean;
  seccompDefault?: boolean;
  nodeLeaseDurationSeconds?: string;
  volumeRefreshSeconds?: string;
  netnsPool?: string;
  guestDir?: string;
  podManifestPath?: string;
  microvmAccelerator?: string;
  microvmBootTimeoutSeconds?: string;
  logSink?: string[];
  logBufferBytes?: string;
  containerLogMaxSize?: string;
  evictionHard?: string;
  evictionSoft?: string;
  evictionSoftGracePeriod?: string;
  evictionMinimumReclaim?: string;
  enforceNodeAllocatable?: string;
  kubeReserved?: string;
  systemReserved?: string;
  evictionMaxPodGracePeriod?: string;
  evictionPressureTransitionPeriod?: string;
  containerLogMaxFiles?: string;
  imageGcHighThreshold?: string;
  imageGcLowThreshold?: string;
  imageMinimumGcAge?: string;
  imageMaximumGcAge?: string;
  serviceProxyTable?: string;
  socketLb?: string;
  networkPolicy?: string;
  networkPolicyTable?: string;
  tunnel?: string;
  hubListen?: string;
  overlay?: string;
  clusterCidr?: string;
  clusterDns?: string;
  clusterDomain?: string;
  resolvConf?: string;
  passthroughDevices?: string;
  ingressHttpPort?: string;
  ingressHttpsPort?: string;
  ingressBindAddress?: string;
  authorizationMode?: string;
  anonymousAuth?: string;
  config?: string;
}

export const LOG_SINK_HELP =
  'ship container logs to syslog+tcp://H:P, syslog+tls://H:P[?ca=FILE], syslog+relp://H:P (acknowledged) or loki+http(s)://H:P; repeatable';
export const LOG_BUFFER_HELP = 'bytes of log files kept for a sink that is down, once rotated away or their pod deleted; past it lines are dropped and counted (default: 256Mi)';

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export async function nodeSettingsFromFlags(flags: NodeFlags): Promise<NodeSettings> {
  try {
    return await resolveNodeSettings({
      flags: {
        kubeconfig: flags.kubeconfig,
        nodeName: flags.nodeName,
        dataDir: flags.dataDir,
        listen: flags.listen,
        internalIP: flags.internalIp,
        podSubnet: flags.podSubnet,
        bridge: flags.bridge,
        insecureRegistry: flags.insecureRegistry,
        runtimes: flags.runtimes,
        logLevel: flags.logLevel,
        netnsDir: flags.netnsDir,
        cgroupRoot: flags.cgroupRoot,
        cgroupV2Experimental: flags.cgroupV2Experimental,
        // commander defaults a --no-x flag to true; only an explicit --no-seccomp-default counts
        seccompDefault: flags.seccompDefault === false ? false : undefined,
        nodeLeaseDurationSeconds: flags.nodeLeaseDurationSeconds,
        volumeRefreshSeconds: flags.volumeRefreshSeconds,
        netnsPool: flags.netnsPool,
        guestDir: flags.guestDir,
        staticPodPath: flags.podManifestPath,
        microvmAccelerator: flags.microvmAccelerator,
        microvmBootTimeoutSeconds: flags.microvmBootTimeoutSeconds,
        logSink: flags.logSink,
        logBufferBytes: flags.logBufferBytes,
        containerLogMaxSize: flags.containerLogMaxSize,
        evictionHard: flags.evictionHard,
        evictionSoft: flags.evictionSoft,
        evictionSoftGracePeriod: flags.evictionSoftGracePeriod,
        evictionMinimumReclaim: flags.evictionMinimumReclaim,
        enforceNodeAllocatable: flags.enforceNodeAllocatable,
        kubeReserved: flags.kubeReserved,
        systemReserved: flags.systemReserved,
        evictionMaxPodGracePeriod: flags.evictionMaxPodGracePeriod,
        evictionPressureTransitionPeriod: flags.evictionPressureTransitionPeriod,
        containerLogMaxFiles: flags.containerLogMaxFiles,
        imageGCHighThresholdPercent: flags.imageGcHighThreshold,
        imageGCLowThresholdPercent: flags.imageGcLowThreshold,
        imageMinimumGCAge: flags.imageMinimumGcAge,
        imageMaximumGCAge: flags.imageMaximumGcAge,
        serviceProxyTable: flags.serviceProxyTable,
        socketLb: flags.socketLb,
        networkPolicy: flags.networkPolicy,
        networkPolicyTable: flags.networkPolicyTable,
        tunnel: flags.tunnel,
        hubListen: flags.hubListen,
        overlay: flags.overlay,
        passthroughDevices: flags.passthroughDevices,
        ingressHttpPort: flags.ingressHttpPort,
        ingressHttpsPort: flags.ingressHttpsPort,
        ingressBindAddress: flags.ingressBindAddress,
        clusterCidr: flags.clusterCidr,
        clusterDns: flags.clusterDns,
        clusterDomain: flags.clusterDomain,
        resolvConf: flags.resolvConf,
        authorizationMode: flags.authorizationMode,
        anonymousAuth: flags.anonymousAuth,
      },
      configFile: flags.config,
    });
  } catch (err) {
    if (err instanceof ConfigError) throw usageError(err.message);
    throw err;
  }
}

export function registerNodeCommand(program: Command): void {
  program
    .command('node')
    .description('run an edge node: register with the API server and run its pods under runc / gVisor')
    .option('--kubeconfig <file>', 'kubeconfig with this node\'s credentials (required; `hedge token create-node NAME --kubeconfig-out FILE`)')
    .option('--node-name <name>', 'name of the Node object (default: the host name)')
    .option('--data-dir <dir>', 'all node state: images, snapshots, runtime state, logs (default: /var/lib/hedge-node)')
    .option('--listen <host:port>', 'the kubelet-style server the API server reaches for logs/exec (default: 0.0.0.0:10250)')
    .option('--internal-ip <ip>', 'address reported as the Node\'s InternalIP (default: the listen host, else the first non-loopback IPv4)')
    .option('--pod-subnet <cidrs>', 'pod addresses (CNI bridge + host-local): an IPv4 CIDR, or an IPv4 and an IPv6 CIDR comma-separated (dual-stack), overriding the podCIDRs the control plane assigns this Node (default: those podCIDRs; 10.88.0.0/16 if none comes within 30 s)')
    .option('--bridge <name>', 'host bridge the pods attach to (default: hedge0)')
    .option('--insecure-registry <host:port>', 'registry reached over plain HTTP (loopback ones always are); repeatable', collect)
    .option('--runtimes <list>', 'RuntimeClass handlers to offer, comma-separated: runc,gvisor,microvm (default: all; a missing binary or guest kernel is skipped with a warning)')
    .option('--netns-dir <dir>', 'where pod network namespaces are pinned (default: /run/hedge/netns)')
    .option('--cgroup-root <path>', 'cgroup parent of all pods (default: hedge)')
    // stop 40's opt-in for the unified hierarchy, now supported without it: still accepted (hidden) so commands keep working
    .addOption(new Option('--cgroup-v2-experimental', 'no longer needed: a cgroup v2 host is supported').hideHelp())
    .option('--no-seccomp-default', 'run runc/crun containers that name no seccomp profile unconfined (default: RuntimeDefault)')
    .option('--node-lease-duration-seconds <seconds>', 'node Lease duration; renewed every quarter of it (default: 40)')
    .option('--volume-refresh-seconds <seconds>', 'how often configMap/secret/downwardAPI/projected volume contents are re-read (default: 60)')
    .option('--netns-pool <n>', 'pod networks (netns attached to the cluster bridge and guarded) kept made ahead of the pods that take them, off the pod start path; 0 makes none (default: 2)')
    .option('--pod-manifest-path <dir>', 'run static pods from the Pod manifests (*.yaml, *.yml, *.json) in this directory, watched, with no apiserver needed; each gets a mirror pod in the apiserver (config key staticPodPath; default: none)')
    .option('--guest-dir <dir>', 'microVM guest kernel + initramfs cache, built by scripts/build-guest.sh (default: <data-dir>/guest)')
    .option('--microvm-accelerator <accel>', 'auto (KVM if a guest boots with it, else TCG emulation), kvm or tcg (default: auto)')
    .option('--microvm-boot-timeout-seconds <seconds>', 'how long a microVM sandbox may take from qemu\'s start to its guest agent\'s hello before it is retried (default: 60)')
    .option('--log-sink <url>', LOG_SINK_HELP, collect)
    .option('--log-buffer-bytes <bytes>', LOG_BUFFER_HELP)
    .option('--eviction-hard <thresholds>', 'hard eviction thresholds, as the kubelet\'s evictionHard (default: memory.available<100Mi,nodefs.available<10%,nodefs.inodesFree<5%,imagefs.available<15%,imagefs.inodesFree<5%)')
    .option('--eviction-soft <thresholds>', 'soft eviction thresholds, e.g. memory.available<300Mi (kubelet evictionSoft)')
    .option('--eviction-soft-grace-period <periods>', 'each soft threshold\'s grace period, e.g. memory.available=1m30s (kubelet evictionSoftGracePeriod)')
    .option('--eviction-minimum-reclaim <amounts>', 'what to reclaim beyond a threshold, e.g. nodefs.available=500Mi (kubelet evictionMinimumReclaim)')
    .option('--enforce-node-allocatable <levels>', 'pods (default: the pods\' cgroup limited to allocatable memory and CPU shares, and allocatableMemory.available thresholds as the hard memory.available ones) or none (kubelet enforceNodeAllocatable)')
    .option('--kube-reserved <resources>', 'held back for hedge itself, e.g. cpu=100m,memory=256Mi,ephemeral-storage=1Gi,pid=1000 (kubelet kubeReserved)')
    .option('--system-reserved <resources>', 'held back for the OS, same form (kubelet systemReserved)')
    .option('--eviction-max-pod-grace-period <seconds>', 'a soft eviction\'s grace period at most (kubelet evictionMaxPodGracePeriod, default: 0)')
    .option('--eviction-pressure-transition-period <duration>', 'how long a pressure condition holds after its threshold was last met (default: 5m)')
    .option('--container-log-max-size <bytes>', 'rotate a container\'s log past this size, as the kubelet\'s containerLogMaxSize (default: 10Mi)')
    .option('--container-log-max-files <n>', 'log files kept per container, the current one included (default: 5)')
    .option('--image-gc-high-threshold <percent>', 'image garbage collection starts when the image filesystem is this full, as the kubelet\'s imageGCHighThresholdPercent (default: 85)')
    .option('--image-gc-low-threshold <percent>', 'and removes unused images, least recently used first, down to this; below the high threshold (default: 80)')
    .option('--image-minimum-gc-age <duration>', 'images first seen less than this long ago are kept, as imageMinimumGCAge (default: 2m)')
    .option('--image-maximum-gc-age <duration>', 'images unused for longer are removed whatever the disk usage; 0 = off, as imageMaximumGCAge (default: 0)')
    .option('--service-proxy-table <name>', 'nftables table (ip family) the Service proxy programs; off = no proxy (default: hedge-proxy)')
    .option('--socket-lb <mode>', "pods' connections to a ClusterIP go straight to an endpoint (BPF on the node's cgroup2): auto = where the host can, else nftables DNAT alone; off (default: auto)")
    .option('--network-policy <bool>', 'enforce NetworkPolicy for this node\'s pods in nftables, from the policies, pods and namespaces the node sees (the hub\'s cache while offline) (default: true)')
    .option('--network-policy-table <name>', 'nftables table (inet family) NetworkPolicy is enforced in (default: hedge-policy)')
    .option('--tunnel <bool>', 'true: open a tunnel to the API server that carries logs, exec, attach, port-forward and nodes/proxy, so no inbound port is needed; false: the API server dials --listen (default: true)')
    .option('--hub-listen <host:port|off>', 'the edgehub: loopback Kubernetes API for the agent and local clients, served from the node\'s cache while the cloud is unreachable; kubeconfig in <data-dir>/hub/kubeconfig; off = the agent talks to the cloud directly (default: 127.0.0.1:0, any free port)')
    .option('--overlay <mode>', 'pod network between nodes: vxlan (device hedge.1, UDP 8472), host-gw (direct routes, peers on the same L2), none, or auto = vxlan when the pod range comes from the cluster (default: auto)')
    .option('--cluster-cidr <cidrs>', 'the pod ranges of all nodes (the server\'s --cluster-cidr, comma-separated for dual-stack): pod traffic to them is not masqueraded (default: 10.244.0.0/16)')
    .option('--cluster-dns <auto|off|ip[,ip]>', 'cluster DNS served by the node on port 53 and given to ClusterFirst pods: auto = on the pod bridge\'s gateway address (both gateways on a dual-stack node); comma-separated IPs of this host; off = pods get the host\'s resolvers (default: auto)')
    .option('--cluster-domain <domain>', 'the cluster\'s DNS domain (default: cluster.local)')
    .option('--passthrough-devices <list>', 'host interfaces host-device NetworkAttachmentDefinitions may move into pods, one pod at a time, comma-separated (default: none)')
    .option('--resolv-conf <file>', 'the host\'s resolver config: dnsPolicy Default pods get it, cluster DNS forwards other names to its nameservers (default: /etc/resolv.conf)')
    .option('--ingress-http-port <port>', 'the ingress controller\'s HTTP listener, serving the Ingresses of the IngressClasses with controller hedge.io/ingress; 0 = off (default: 80)')
    .option('--ingress-https-port <port>', 'its HTTPS listener: spec.tls certificates by SNI, a self-signed default one otherwise; 0 = off (default: 443)')
    .option('--ingress-bind-address <ip>', 'the address both ingress listeners bind (default: 0.0.0.0)')
    .option('--authorization-mode <mode>', 'who may use the node server (--listen): Webhook = client certificates of the cluster CA and bearer tokens the API server vouches for (TokenReview), each request authorized by a SubjectAccessReview on nodes/proxy|stats|metrics|log; AlwaysAllow = any client certificate of the cluster CA may do anything (default: Webhook)')
    .option('--anonymous-auth <bool>', 'requests to the node server without credentials are system:anonymous (then authorized like any user) instead of refused with 401 (default: false)')
    .option('--log-level <level>', `${LOG_LEVELS.join('|')} (default: info)`)
    .option('--config <file>', 'YAML file; keys are the flag names in camelCase (kubeconfig, nodeName, internalIP, ...); flags win')
    .addHelpText(
      'after',
      '\nContainers are supervised by conmon and keep running when `hedge node` stops; a restarted\n' +
        'node adopts them without restarting them.',
    )
    .action(async (flags: NodeFlags) => {
      const settings = await nodeSettingsFromFlags(flags);
      const logger = createLogger({ level: settings.logLevel });
      const shutdown = waitForShutdownSignal();
      try {
        // loaded on use: `hedge --help` must not pull in the agent
        const { startNode } = await import('./start-node.ts');
        const node = await startNode(settings, logger);
        process.stderr.write(`hedge node ${node.nodeName} ready; node server on port ${node.port}; runtimes ${node.runtimes.map((r) => withIsolation(r, node.isolation)).join(', ')}\n`);
        const sig = await shutdown;
        logger.info({ component: 'cli', signal: sig }, 'shutting down');
        await node.close();
      } finally {
        await flushLogger(logger);
      }
    });
}
