/**
 * The pod sandbox: which RuntimeHandler runs the pod (RuntimeClass → handler), and making the
 * sandbox (record on disk first, then network, then the runtime's sandbox) so a crash at any
 * step leaves something the next agent can find and free.
 */
import type { Pod } from 'kubernetes-types/core/v1.js';
import { mkdirSync, readFileSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import { Resources } from '../../client/resources.ts';
import { renderNetworkStatus } from '../../api/annotations/multus.ts';
import { isHedgeError } from '../../lib/errors.ts';
import type { NetworkResult, NetworkSandbox } from '../network/types.ts';
import { effectiveCapabilities } from '../runtime/oci/spec.ts';
import type { RuntimeHandler, SandboxPersistentVolume } from '../runtime/types.ts';
import type { PodSyncConfig } from './config.ts';
import { hostsFile, MISSING_CLUSTER_DNS_NODE_MESSAGE, missingClusterDNS, parseResolvConf, podHostname, resolvConf } from './dns.ts';
import { Labels } from './labels.ts';
import { podResources } from './resources.ts';
import { saveSandbox } from './sandbox-state.ts';
import type { StartTrace } from './start-trace.ts';
import type { PodSyncDeps, SandboxRecord } from './types.ts';

type PodRef = { uid: string; namespace: string; name: string };

export type HandlerResolution = { kind: 'found'; handler: RuntimeHandler } | { kind: 'failed'; reason: string; message: string };

/** The handler of the pod's RuntimeClass (or the node default); the sandbox's own once it has one. */
export async function resolveRuntimeHandler(o: {
  pod: Pod;
  sandbox: SandboxRecord | undefined;
  deps: PodSyncDeps;
  cfg: PodSyncConfig;
  signal: AbortSignal;
}): Promise<HandlerResolution> {
  const { deps } = o;
  if (o.sandbox) {
    const h = deps.runtimes.get(o.sandbox.handler);
    if (h) return { kind: 'found', handler: h };
  }
  const rcName = o.pod.spec?.runtimeClassName;
  let handlerName = o.cfg.defaultHandler;
  if (rcName) {
    const found = await runtimeClassHandler(deps, rcName, o.signal);
    if (found === undefined) return { kind: 'failed', reason: 'RuntimeClassNotFound', message: `RuntimeClass "${rcName}" not found` };
    handlerName = found;
  }
  const h = deps.runtimes.get(handlerName);
  if (!h) {
    return {
      kind: 'failed',
      reason: 'RuntimeHandlerNotFound',
      message: `no runtime for "${handlerName}" is configured on node ${o.cfg.nodeName} (offers: ${[...deps.runtimes.keys()].join(', ')})`,
    };
  }
  return { kind: 'found', handler: h };
}

async function runtimeClassHandler(deps: PodSyncDeps, name: string, signal: AbortSignal): Promise<string | undefined> {
  if (deps.runtimeClassHandler) return deps.runtimeClassHandler(name, signal);
  try {
    const rc = await deps.client.get(Resources.runtimeclasses, name, { signal });
    return typeof rc.handler === 'string' ? rc.handler : '';
  } catch (err) {
    if (isHedgeError(err, 'NotFound')) return undefined;
    throw err;
  }
}

/** What the NetworkPlugin sees of the pod: its netns and host ports. */
/** status.podIPs from a network result: the first address of each family, IPv4 first (podIP) */
export function podAddresses(net: NetworkResult): string[] {
  const first = (f: 4 | 6): string[] => net.ips.filter((x) => x.family === f).slice(0, 1).map((x) => x.address);
  return [...first(4), ...first(6)];
}

export function networkSandbox(pod: Pod, sb: SandboxRecord | undefined, ref: PodRef): NetworkSandbox {
  const ports = (pod.spec?.containers ?? []).flatMap((c) => c.ports ?? []).filter((p) => p.hostPort);
  return {
    id: sb?.id ?? '',
    pod: ref,
    netnsPath: sb?.netnsPath ?? '',
    ...(pod.metadata?.annotations ? { annotations: pod.metadata.annotations } : {}),
    ...(mayChangeNetns(pod) ? { mayChangeNetns: true } : {}),
    portMappings: ports.map((p) => ({
      hostPort: p.hostPort ?? 0,
      containerPort: p.containerPort,
      protocol: (p.protocol ?? 'TCP').toLowerCase() as 'tcp' | 'udp' | 'sctp',
      ...(p.hostIP ? { hostIP: p.hostIP } : {}),
    })),
  };
}

/** Some container of the pod gets CAP_NET_ADMIN (added, ALL, or privileged). */
function mayChangeNetns(pod: Pod): boolean {
  return [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].some((c) => {
    const sc = c.securityContext;
    return effectiveCapabilities(sc?.capabilities?.add ?? [], sc?.capabilities?.drop ?? [], sc?.privileged ?? false).includes('CAP_NET_ADMIN');
  });
}

type SandboxArgs = {
  pod: Pod;
  ref: PodRef;
  sb: SandboxRecord;
  handler: RuntimeHandler;
  deps: PodSyncDeps;
  cfg: PodSyncConfig;
  trace: StartTrace;
  signal: AbortSignal;
  /** the pod's PVC directories, for a handler with persistentVolumesAtCreate */
  persistentVolumes?: SandboxPersistentVolume[];
};

/** Makes `sb` real: record, network (unless hostNetwork), runtime sandbox; sets podIP and created. Throws on failure. */
export async function createPodSandbox(o: SandboxArgs): Promise<void> {
  const { pod, ref, sb, cfg, trace, signal } = o;
  await trace.span('sandbox record', () => saveSandbox(cfg.dataDir, sb));
  let podIP = cfg.hostIP;
  if (sb.netnsPath) {
    const net = await trace.span('network (netns + CNI)', () => o.deps.network.setUp(networkSandbox(pod, sb, ref), signal));
    podIP = noteNetwork(sb, net);
  }
  sb.podIP = podIP;
  await runtimeSandbox(o, podIP);
  sb.created = true;
  await trace.span('sandbox record', () => saveSandbox(cfg.dataDir, sb));
}

/**
 * The same sandbox with its network attached beside the runtime's work: the netns is made while
 * the runtime sandbox is, then CNI ADD runs while (in the worker) the first containers are
 * created in it; `attached` settles once the pod has its addresses and the hosts file names them.
 * Nothing in the pod may start before `attached` resolves (the worker awaits it before every
 * container start and before its pass ends); `sb.created` stays false until the worker has seen it.
 * Needs `deps.network.prepare` and `handler.setSandboxHosts`. Throws when the netns or the runtime
 * sandbox fails (after everything has settled, so the caller's release finds it all; the runtime
 * sandbox may exist then); `attached` rejects when the network fails.
 */
export async function createPodSandboxBeside(o: SandboxArgs): Promise<{ attached: Promise<void> }> {
  const { pod, ref, sb, cfg, trace, signal } = o;
  const { network } = o.deps;
  const setSandboxHosts = o.handler.setSandboxHosts?.bind(o.handler);
  if (!network.prepare || !setSandboxHosts || !sb.netnsPath) throw new Error('createPodSandboxBeside: needs a netns, network.prepare and handler.setSandboxHosts');
  await trace.span('sandbox record', () => saveSandbox(cfg.dataDir, sb));
  const nsb = networkSandbox(pod, sb, ref);
  // the runtime sandbox needs no netns (only containers do): made side by side with it
  const ns = trace.span('netns', () => network.prepare!(nsb, signal));
  const made = runtimeSandbox(o, undefined);
  const attached = trace.span('network (CNI, beside create)', async () => {
    await ns;
    const podIP = noteNetwork(sb, await network.setUp(nsb, signal));
    sb.podIP = podIP;
    await made; // the hosts file to rewrite is the runtime sandbox's
    await setSandboxHosts(sb.id, hostsFile(pod, podIP, cfg.clusterDomain), signal);
  });
  // awaited below and by the worker: none of them is an unhandled rejection meanwhile
  for (const p of [ns, made, attached]) p.catch(() => undefined);
  try {
    await Promise.all([ns, made]);
  } catch (err) {
    await Promise.allSettled([ns, made, attached]);
    throw err;
  }
  return { attached };
}

/** the network's addresses and Multus status on the record; returns the pod IP */
function noteNetwork(sb: SandboxRecord, net: NetworkResult): string | undefined {
  sb.podIPs = podAddresses(net);
  if (net.networkStatus) sb.networkStatus = renderNetworkStatus(net.networkStatus);
  return sb.podIPs[0];
}

/** the runtime's side of the sandbox (pod cgroup, hosts/resolv.conf/hostname files, ...) */
async function runtimeSandbox(o: SandboxArgs, podIP: string | undefined): Promise<void> {
  const { pod, ref, sb, cfg, trace, signal } = o;
  // the host's resolv.conf (and hosts file) and the sandbox dir: synchronous, a few syscalls on
  // small local files, where each fs/promises call waited a thread-pool turn and an event-loop turn
  // before the sandbox create (host/atomic-fs.ts)
  const host = parseResolvConf(readOr(cfg.hostResolvConf, ''));
  const hostNetwork = !!pod.spec?.hostNetwork;
  const hostHosts = hostNetwork ? readOr(cfg.hostHostsFile ?? '/etc/hosts', '') : '';
  // the kubelet warns at each sandbox it makes so (and the pod gets the host's resolvers)
  const noDns = missingClusterDNS(pod, cfg.clusterDNS);
  if (noDns) {
    // on the Node (the kubelet's nodeRef: uid = the node's name) and on the pod, as the kubelet's dns.go
    const node = { apiVersion: 'v1', kind: 'Node', metadata: { name: cfg.nodeName, uid: cfg.nodeName } };
    o.deps.events.emit({ involved: node, type: 'Warning', reason: 'MissingClusterDNS', message: MISSING_CLUSTER_DNS_NODE_MESSAGE });
    o.deps.events.emit({ involved: { ...pod, apiVersion: 'v1', kind: 'Pod' }, type: 'Warning', reason: 'MissingClusterDNS', message: noDns });
  }
  const dir = join(cfg.dataDir, 'pods', ref.uid, 'sandbox');
  mkdirSync(dir, { recursive: true });
  await trace.span('sandbox create', () =>
    o.handler.createSandbox(
      {
        id: sb.id,
        pod: ref,
        hostname: hostNetwork ? (cfg.hostName ?? osHostname()) : podHostname(pod),
        netnsPath: sb.netnsPath,
        // upstream's containers always share the pause container's; a lone container needs no
        // separate namespace to share (that would cost two execs on its start)
        shareIpc: !pod.spec?.hostIPC && (pod.spec?.containers?.length ?? 0) + (pod.spec?.initContainers?.length ?? 0) > 1,
        ...(pod.spec?.hostIPC ? { hostIpc: true } : {}),
        ...(hostNetwork ? { hostUts: true } : {}),
        ...(pod.spec?.hostPID ? { hostPid: true } : pod.spec?.shareProcessNamespace ? { sharePid: true } : {}),
        cgroupParent: `${cfg.cgroupRoot}/pod${ref.uid}`,
        resources: podResources(pod),
        hostsFile: hostsFile(pod, podIP, cfg.clusterDomain, hostHosts),
        resolvConf: resolvConf(pod, host, { dns: cfg.clusterDNS, domain: cfg.clusterDomain }),
        stateDir: dir,
        labels: { [Labels.podUid]: ref.uid, [Labels.podName]: ref.name, [Labels.podNamespace]: ref.namespace },
        annotations: {},
        ...(o.persistentVolumes?.length ? { persistentVolumes: o.persistentVolumes } : {}),
      },
      signal,
    ),
  );
}

/** a small file's text, or `otherwise` when it cannot be read */
function readOr(path: string, otherwise: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return otherwise;
  }
}
