import { nodeSocketBalancer, ServiceProxy } from '../agent/network/proxy/index.ts';
import { PolicyController } from '../agent/network/policy/controller.ts';
import { MultusNetworkPlugin, NadFirewall } from '../agent/network/multus/index.ts';
import { Resources } from '../client/resources.ts';
import { SharedInformerFactory } from '../client/shared-informers.ts';
import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { startAgent, type Agent } from '../agent/agent.ts';
import { LocalImageStore } from '../agent/image/index.ts';
import { CniNetworkPlugin, NETNS_POOL_STATE_FILE, NetnsPool } from '../agent/network/index.ts';
import { GuardedNetworkPlugin, guardTableName, PodGuard, sweepStaleGuards } from '../agent/network/guard/index.ts';
import { nodeMasqChain, removeNodeMasq } from '../agent/network/node-masq.ts';
import { cgroupHostProblem, removePodCgroup } from '../agent/host/cgroup.ts';
import { runCommand, setCommandSpawner } from '../agent/host/run-command.ts';
import { ensureBridgeGateway, startClusterDns, upstreamsFromResolvConf, type RunningClusterDns } from '../agent/network/dns/index.ts';
import { INGRESS_SERVING_LABEL, startIngressController, type RunningIngressController } from '../agent/network/ingress/index.ts';
import { parseResolvConf } from '../agent/podsync/index.ts';
import { startLocalControl } from '../agent/server/index.ts';
import { logStartupPhase, RUNTIME_SPAN_MSG } from '../agent/podsync/start-trace.ts';
import { OciRuntimeHandler } from '../agent/runtime/oci/index.ts';
import { Spawner } from '../agent/host/spawner.ts';
import { MICROVM_ACCELERATOR_LABEL, setUpMicroVm } from '../agent/runtime/microvm/node-setup.ts';
import type { RuntimeHandler } from '../agent/runtime/types.ts';
import { isolationLabels, ociIsolation, type SandboxIsolation } from '../agent/runtime/isolation.ts';
import { OverlaySnapshotter } from '../agent/snapshot/index.ts';
import { HttpKubeClient, loadKubeconfig, stripManagedFields, type ConnectionConfig } from '../client/index.ts';
import { startTunnelClient, type TunnelClient } from '../edgehub/tunnel/index.ts';
import { HEARTBEAT_MS, startHub, type CloudLink, type LocalNodeServer, type RunningHub } from '../edgehub/index.ts';
import { familyOf } from '../lib/cidr.ts';
import { HedgeError } from '../lib/errors.ts';
import { sideBySide } from '../lib/side-by-side.ts';
import { timeoutSignal } from '../lib/signals.ts';
import { connect as netConnect } from 'node:net';
import type { Logger } from '../lib/log.ts';
import { controlSocketPath } from './image.ts';
import { FALLBACK_POD_SUBNET, podSubnetFromControlPlane } from './pod-subnet.ts';
import { IpNetlink, Overlay, startOverlayController } from '../agent/network/overlay/index.ts';
import { enforcesPodsAllocatable, imageGCPolicy, nodeEvictionThresholds, nodeReserved, type NodeRuntime, type NodeSettings } from './node-config.ts';
import { createSink, LogShipper, parseSinkUrl, registerShipperMetrics, type LogSink } from '../logship/index.ts';
import { Registry } from '../lib/prom.ts';
import { EventRecorder } from '../client/event-recorder.ts';
import { systemClock } from '../client/clock.ts';
import type { KubeClient } from '../client/types.ts';

export interface RunningNode {
  nodeName: string;
  /** port of the kubelet-style server */
  port: number;
  /** RuntimeClass handlers offered (those whose binaries exist) */
  runtimes: string[];
  /** what separates each handler's sandboxes from the host (also the node's isolation.hedge.io/<handler> labels) */
  isolation: Map<string, SandboxIsolation>;
  agent: Agent;
  images: LocalImageStore;
  /** stop the agent loops and close the client; containers keep running (conmon supervises them) */
  close(): Promise<void>;
  /**
   * close(), then stop and remove every pod and what the node made on the host, in order: pods
   * (containers get `graceSeconds` after SIGTERM, none once `forced` aborts), guard tables,
   * masquerade rules, overlay device, bridge, netns dir, cgroup root. For `hedge up` on its way out
   * (a plain `hedge node` keeps its pods and network). Resolves with what it removed, in order;
   * a step that fails is logged and the next still runs.
   */
  removeAll(opts: { graceSeconds: number; forced: AbortSignal }): Promise<string[]>;
}

interface RuntimeBinary {
  binary: string;
  kind: 'runc' | 'runsc';
  globalArgs: string[];
}

/** Where each handler's runtime lives (Debian paths) and the flags docs/host-notes.md explains. */
export const RUNTIME_BINARIES: Record<Exclude<NodeRuntime, 'microvm'>, RuntimeBinary> = {
  runc: { binary: '/usr/sbin/runc', kind: 'runc', globalArgs: [] },
  // gVisor runs in the pod netns on its host stack: its own netstack needs one sandbox per pod (docs/decisions/0004)
  gvisor: { binary: '/usr/bin/runsc', kind: 'runsc', globalArgs: ['--network=host', '--platform=ptrace'] },
};

const CONMON = '/usr/bin/conmon';
/** where the cgroup v1 hierarchies are mounted (the runtimes' default) */
const CGROUP_ROOT = '/sys/fs/cgroup';
/**
 * The bound on each step of the node's host network setup at start (bridge, guard tables, overlay):
 * milliseconds of `ip` and `nft` work, but each waits for the kernel's rtnl lock, which a host
 * tearing down many network namespaces holds for long stretches (CI: an `ip` at a node's start
 * waited past 30 s beside other tests). A slow start beats a node that gives up.
 */
const HOST_NET_SETUP_MS = 120_000;

/** The host's first non-internal IPv4, which is what other machines can dial; loopback otherwise. */
export function defaultInternalIP(listenHost: string): string {
  if (listenHost !== '0.0.0.0' && listenHost !== '::') return listenHost;
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

/** The node server's certificate: self-issued, kept in <data-dir>/pki so restarts reuse it. */
async function nodeServingCert(dataDir: string, hosts: string[]): Promise<{ cert: string; key: string }> {
  const dir = join(dataDir, 'pki');
  const certPath = join(dir, 'node-server.crt');
  const keyPath = join(dir, 'node-server.key');
  try {
    return { cert: await readFile(certPath, 'utf8'), key: await readFile(keyPath, 'utf8') };
  } catch {
    // first start: make one below
  }
  // The apiserver does not verify kubelet serving certificates unless given a CA, so a
  // private throwaway CA is enough; its key is not kept.
  // loaded only here: the certificate library costs ~5 MB of resident memory for a one-off job
  const { generateCa, generateServingCert } = await import('../apiserver/auth/pki.ts');
  const ca = await generateCa('hedge-node-serving-ca');
  const pair = await generateServingCert({ ca, hosts });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFile(keyPath, pair.key, { mode: 0o600 });
  await writeFile(certPath, pair.cert);
  return pair;
}

async function loadNodeKubeconfig(path: string): Promise<ConnectionConfig> {
  try {
    return await loadKubeconfig(path);
  } catch (err) {
    throw new HedgeError('Invalid', `--kubeconfig ${path}: ${(err as Error).message.replace(/^kubeconfig \S+: /, '')}`, { cause: err });
  }
}

async function withClient<T>(conn: ConnectionConfig, nodeName: string, fn: (c: HttpKubeClient) => Promise<T>): Promise<T> {
  const client = new HttpKubeClient({ ...conn, userAgent: `hedge-node/0.1 (${nodeName})` });
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

/**
 * Wire the real parts of an edge node (OCI runtimes under conmon, CNI bridge, image store
 * over overlay snapshots, CRI log rotation) into the agent and start it.
 */
export async function startNode(settings: NodeSettings, logger: Logger): Promise<RunningNode> {
  const { dataDir, nodeName } = settings;
  logStartupPhase(logger, 'modules loaded');
  const conn = await loadNodeKubeconfig(settings.kubeconfig);
  // checked before anything starts: a bad --log-sink fails the start with its message
  const logSinks = settings.logSink.map((url) => createSink(parseSinkUrl(url)));
  if (!existsSync(CONMON)) throw new HedgeError('Unavailable', `${CONMON} not found: install conmon (scripts/setup.sh)`);
  const cgroups = cgroupHostProblem(CGROUP_ROOT);
  if (cgroups) throw new HedgeError('Unavailable', cgroups);
  if (settings.cgroupV2Experimental) logger.info({ component: 'node' }, '--cgroup-v2-experimental (cgroupV2Experimental) is no longer needed: cgroup v2 hosts are supported; ignored');
  // microvm is set up (and checked) below, once the data dir exists
  const ociRuntimes = settings.runtimes.filter((r): r is Exclude<NodeRuntime, 'microvm'> => r !== 'microvm');
  const offered = ociRuntimes.filter((r) => existsSync(RUNTIME_BINARIES[r].binary));
  for (const r of ociRuntimes) {
    if (!offered.includes(r)) logger.warn({ component: 'node', runtime: r, binary: RUNTIME_BINARIES[r].binary }, 'runtime binary missing; handler not offered');
  }
  if (offered.length === 0 && !settings.runtimes.includes('microvm')) {
    throw new HedgeError('Unavailable', `--runtimes: none of ${settings.runtimes.join(', ')} is installed (${ociRuntimes.map((r) => RUNTIME_BINARIES[r].binary).join(', ')})`);
  }
  try {
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new HedgeError('Internal', `--data-dir ${dataDir}: cannot create: ${(err as Error).message}`, { cause: err });
  }

  const internalIP = settings.internalIP ?? defaultInternalIP(settings.listen.host);
  // runs the node's host commands (overlay mount, conmon, CNI plugins, and every runCommand: ip,
  // nft, mount, runc) so that the agent does not fork itself for each; it ends with the agent (its
  // stdin closes)
  const spawner = new Spawner();
  setCommandSpawner(spawner);
  // opened once the agent serves (below); while it is up the hub pings it for the cloud's health
  let tunnel: TunnelClient | undefined = undefined;
  // The hub serves local `kubectl logs/exec/attach/port-forward` by calling the node server on
  // loopback as system:hedge-edgehub (system:masters): this token, in memory only, is how the node
  // server knows it (decision 0018). Set once the agent's server is up.
  const hubToken = settings.hubListen === 'off' ? undefined : randomBytes(32).toString('base64url');
  let localNodeServer: LocalNodeServer | undefined = undefined;
  // These steps need nothing of each other and each waits mostly outside this process (disk, the
  // ip/nft/CNI executables, a microVM probe, the hub's SQLite replica): side by side, a node that
  // starts again (after a reboot while the cloud is unreachable its pods wait for all of them)
  // is up in the time of the slowest instead of the sum. A failure is reported in this order.
  const [{ tls, snapshotter, images }, { podSubnet, podSubnetV6, overlay, guard, clusterNetwork }, { runtimes, isolation, labels }, hub] = await sideBySide([
    { run: () => openImages(settings, internalIP, logger) },
    { run: () => setUpPodNetwork(settings, conn, internalIP, logger, spawner) },
    { run: () => setUpRuntimes(settings, offered, logger, spawner) },
    {
      run: async () => {
        const h = await startNodeHub(settings, conn, { link: () => tunnel?.link(), nodeServer: () => localNodeServer }, logger);
        logStartupPhase(logger, 'hub open');
        return h;
      },
      undo: async (h) => h?.close(),
    },
  ]);
  if (hub) await guard.denyNodePorts([Number(new URL(hub.url).port)], AbortSignal.timeout(HOST_NET_SETUP_MS));
  // the agent never talks to the cloud itself: through the hub it keeps working offline, over the
  // hub's root-only unix socket (plain HTTP: no TLS connection per concurrent request in this
  // process; idle ones closed after 2 s, a new one is a connect(2)), else its HTTPS endpoint
  const userAgent = `hedge-node/0.1 (${nodeName})`;
  const client = hub?.socketPath
    ? new HttpKubeClient({ server: 'http://localhost', socketPath: hub.socketPath, keepAliveMs: HUB_SOCKET_IDLE_MS, userAgent })
    : new HttpKubeClient({ ...(hub ? await loadKubeconfig(hub.kubeconfigPath) : conn), userAgent });
  // one list+watch and one cache per resource and selectors for the whole node: Services are read
  // by the pods' service variables, the service proxy and cluster DNS, EndpointSlices by the last two.
  // Nothing on the node reads managedFields: the caches keep objects without them (client-go's
  // TransformStripManagedFields), a pod's being a few KiB each
  const informers = new SharedInformerFactory({ client, logger: logger.child({ component: 'informers' }), transform: stripManagedFields });
  let dns: RunningClusterDns | undefined;
  try {
    dns = await startNodeDns(settings, { v4: podSubnet, v6: podSubnetV6 }, { client, informers }, logger);
  } catch (err) {
    await informers.shutdown();
    await client.close();
    await hub?.close();
    throw err;
  }
  // a label value holds no ':': the IPv4 address names it (every node has one; an IPv6-only --cluster-dns goes unlabelled)
  const dns4 = dns?.addresses.find((a) => familyOf(a.host) === 4);
  if (dns4) labels[CLUSTER_DNS_LABEL] = dns4.host;
  // Ingresses of the hedge.io/ingress classes, routed from the same informers (the hub's cache offline)
  const ingress = await startNodeIngress(settings, { client, informers }, logger);
  // "false" rather than absent: registration merges labels, so a node restarted without ingress would keep a "true"
  labels[INGRESS_SERVING_LABEL] = ingress ? 'true' : 'false';
  // NAD interfaces bypass the bridge: their guard and NetworkPolicy live in each pod's netns
  const nadFirewall = new NadFirewall({ enforcePolicy: settings.networkPolicy, logger: logger.child({ component: 'network-policy' }) });
  // Multus annotations pick each pod's networks (NetworkAttachmentDefinitions read through the hub)
  const network = new MultusNetworkPlugin({
    firewall: nadFirewall,
    cluster: clusterNetwork,
    clusterNetworkName: 'hedge',
    nads: { get: (namespace, name, signal) => client.get(Resources.networkattachmentdefinitions, name, { namespace, signal }) },
    dataDir,
    passthroughDevices: settings.passthroughDevices,
    logger: logger.child({ component: 'network' }),
  });
  logStartupPhase(logger, 'dns serving');
  const stop = new AbortController();
  // the log shipper's figures on the node's /metrics (filled in once the shipper has opened its state)
  const logMetrics = new Registry();
  // one shutdown signal is shared by every pod worker, watch and retry wait: many listeners is normal
  setMaxListeners(0, stop.signal);
  let agent: Agent;
  try {
    agent = await startAgent(
      {
        nodeName,
        dataDir,
        internalIP,
        labels,
        defaultRuntimeHandler: offered.includes('runc') ? 'runc' : (offered[0] ?? 'microvm'),
        netnsDir: settings.netnsDir,
        cgroupRoot: settings.cgroupRoot,
        reserved: nodeReserved(settings),
        // the kubelet's kubepods limits: allocatable with `pods` enforced, the node's capacity without
        podsCgroupLimits: { cgroupFs: CGROUP_ROOT, enforcePods: enforcesPodsAllocatable(settings) },
        leaseDurationSeconds: settings.nodeLeaseDurationSeconds,
        // the kubelet renews at a quarter of the duration (nodeLeaseRenewIntervalFraction 0.25)
        leaseRenewIntervalMs: settings.nodeLeaseDurationSeconds * 250,
        volumeRefreshMs: settings.volumeRefreshSeconds * 1000,
        containerLogMaxSizeBytes: settings.containerLogMaxSize,
        containerLogMaxFiles: settings.containerLogMaxFiles,
        imageGC: imageGCPolicy(settings),
        imageFsPath: join(settings.dataDir, 'images'),
        eviction: {
          thresholds: nodeEvictionThresholds(settings),
          maxPodGracePeriodSeconds: settings.evictionMaxPodGracePeriod,
          pressureTransitionPeriodMs: settings.evictionPressureTransitionPeriod * 1000,
          imageDir: join(dataDir, 'images'),
        },
        clusterDNS: dns ? dns.addresses.map((a) => a.host) : [],
        clusterDomain: settings.clusterDomain,
        hostResolvConf: settings.resolvConf,
        ...(settings.staticPodPath !== undefined ? { staticPodPath: settings.staticPodPath } : {}),
        server: {
          host: settings.listen.host,
          port: settings.listen.port,
          // client certificates are checked against the cluster CA: the apiserver's kubelet client cert is signed by it
          tls: { cert: tls.cert, key: tls.key, ca: conn.ca },
          auth: { clientCerts: conn.ca !== undefined, anonymous: settings.anonymousAuth, authorization: settings.authorizationMode, localToken: hubToken },
        },
      },
      {
        client,
        informers,
        runtimes,
        network,
        images,
        snapshotter,
        logger,
        metrics: [logMetrics],
        // --netns-pool (default 2: two pods created together both find one); 0 makes none but still
        // frees what a run with a pool left
        netnsPool: new NetnsPool({
          dir: settings.netnsDir,
          network,
          size: settings.netnsPool,
          stateFile: join(dataDir, NETNS_POOL_STATE_FILE),
          logger: logger.child({ component: 'network' }),
        }),
      },
      stop.signal,
    );
  } catch (err) {
    await ingress?.close();
    await dns?.close();
    await informers.shutdown();
    await client.close();
    await hub?.close();
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EADDRNOTAVAIL' || code === 'EACCES') {
      throw new HedgeError('Unavailable', `--listen ${settings.listen.host}:${settings.listen.port}: ${code}`, { cause: err });
    }
    throw err;
  }
  logStartupPhase(logger, 'agent started');
  // --listen HOST:0: the port is known only now (no pod has started yet: the agent has just begun its first sync)
  await guard.denyNodePorts([agent.server.port], AbortSignal.timeout(HOST_NET_SETUP_MS));
  // the apiserver reaches the node server through this outbound tunnel (each stream = one local connection)
  const localHost = settings.listen.host === '0.0.0.0' ? '127.0.0.1' : settings.listen.host === '::' ? '::1' : settings.listen.host;
  if (hubToken) localNodeServer = { host: localHost, port: agent.server.port, cert: tls.cert, token: hubToken };
  tunnel = settings.tunnel
    ? // the hub's health probe need not ping while the apiserver's heartbeat arrives (cloud-health.ts)
      startTunnelClient({ ...conn, nodeName, connectLocal: () => netConnect(agent.server.port, localHost), logger, heartbeatMs: HEARTBEAT_MS }, stop.signal)
    : undefined;
  // `hedge image import|ls|rm` on this host reach the agent's image store through this socket
  const control = await startLocalControl({ socketPath: controlSocketPath(dataDir), images, logger }).catch(async (err: unknown) => {
    // the agent is up already: stop it rather than leave its loops running behind a failed start
    stop.abort();
    await agent.done;
    await tunnel?.done;
    await ingress?.close();
    await dns?.close();
    await informers.shutdown();
    await client.close();
    await hub?.close();
    throw new HedgeError('Unavailable', `${controlSocketPath(dataDir)}: cannot serve the local control socket: ${(err as Error).message}`, { cause: err });
  });

  const shipping = startLogShipping({ settings, sinks: logSinks, logger, client, registry: logMetrics }, stop.signal);
  // programmed from the Nodes the node sees (through its hub); it stays in the kernel when the node stops, like its pods
  const overlayCtl = overlay ? startOverlayController({ client, overlay, logger, informers }, stop.signal) : undefined;
  // Services: nftables DNAT from what the node's client sees (the hub's cache while offline); the table goes on stop
  const proxyDone =
    settings.serviceProxyTable === 'off'
      ? Promise.resolve()
      : // what the proxy may DNAT to is kept off the guard's pod → pod fast path (replies need conntrack)
        new ServiceProxy({
          client,
          informers,
          nodeName,
          logger,
          table: settings.serviceProxyTable,
          onEndpoints: (eps, signal) => guard.setSlowEndpoints(eps, signal),
          socketLb: settings.socketLb === 'off' ? undefined : await nodeSocketBalancer({ nodeName, cgroupName: settings.cgroupRoot, dataDir, logger }),
        })
          .run(stop.signal)
          .catch((err: unknown) => logger.error({ err, component: 'service-proxy' }, 'service proxy stopped'));
  // NetworkPolicy for this node's pods, every runtime (rules match pod addresses); the table goes on stop
  const policyDone = settings.networkPolicy
    ? // pods a policy isolates are kept off the guard's fast path, which would bypass this table
      new PolicyController({ client, informers, nodeName, logger, table: settings.networkPolicyTable, nadFirewall, onIsolated: (ips, signal) => guard.setSlowPods(ips, signal) })
        .run(stop.signal)
        .catch((err: unknown) => logger.error({ err, component: 'network-policy' }, 'network policy controller stopped'))
    : Promise.resolve();

  let closing: Promise<void> | undefined;
  const node: RunningNode = {
    nodeName,
    port: agent.server.port,
    runtimes: [...runtimes.keys()],
    isolation,
    agent,
    images,
    close() {
      closing ??= (async () => {
        stop.abort();
        await control.close();
        await agent.done;
        await shipping;
        await overlayCtl?.done;
        await proxyDone;
        await policyDone;
        await tunnel?.done;
        await ingress?.close();
        await dns?.close();
        await informers.shutdown();
        await client.close();
        await hub?.close();
      })();
      return closing;
    },
    async removeAll(o) {
      await node.close();
      return removeNodeHostState({ settings, podSync: agent.podSync, guard, overlay, logger, ...o });
    },
  };
  return node;
}

/** what RunningNode.removeAll removes once the node has stopped (see there) */
async function removeNodeHostState(o: {
  settings: NodeSettings;
  podSync: Agent['podSync'];
  guard: PodGuard;
  overlay: Overlay | undefined;
  logger: Logger;
  graceSeconds: number;
  forced: AbortSignal;
}): Promise<string[]> {
  const { settings, logger } = o;
  const log = logger.child({ component: 'node' });
  const removed: string[] = [];
  const step = async (what: string, fn: () => Promise<boolean>): Promise<void> => {
    try {
      if (!(await fn())) return;
      removed.push(what);
      log.info({ removed: what }, 'removed');
    } catch (err) {
      log.warn({ err, what }, 'removing failed');
    }
  };
  let pods = 0;
  // graceful first; a forced stop (during it or before) kills what is left without a grace period
  if (!o.forced.aborted) {
    const bounded = timeoutSignal(o.forced, (o.graceSeconds + 60) * 1000);
    pods += await o.podSync.removeAll({ timeoutSeconds: o.graceSeconds, signal: bounded }).catch(() => 0);
    bounded.clear();
  }
  if (o.forced.aborted) pods += await o.podSync.removeAll({ timeoutSeconds: 0, signal: AbortSignal.timeout(60_000) }).catch(() => 0);
  removed.push(`${pods} pod${pods === 1 ? '' : 's'} (containers, sandboxes, pod networks, volumes, snapshots)`);
  log.info({ pods }, 'removed pods');
  const signal = (): AbortSignal => AbortSignal.timeout(30_000);
  const bridge = settings.bridge;
  await step(`nftables tables netdev/bridge/inet ${guardTableName(bridge)}`, async () => (await o.guard.destroy(signal()), true));
  await step(`iptables/ip6tables nat chain ${nodeMasqChain({ bridge })} and its POSTROUTING jumps`, async () => (await removeNodeMasq({ bridge }, { signal: signal() }), true));
  if (o.overlay) await step(`overlay device ${o.overlay.device} and its routes`, async () => (await o.overlay!.tearDown(signal()), true));
  await step(`bridge ${bridge}`, async () => {
    if (!existsSync(`/sys/class/net/${bridge}`)) return false;
    const res = await runCommand('ip', ['link', 'del', bridge], { signal: signal() });
    if (res.code !== 0) throw new HedgeError('Internal', `ip link del ${bridge}: ${res.stderr.trim()}`);
    return true;
  });
  // only when empty: another node's namespaces may share it
  await step(`directory ${settings.netnsDir}`, async () => rmdir(settings.netnsDir).then(() => true, () => false));
  await step(`cgroup ${settings.cgroupRoot} (every hierarchy)`, async () => (await removePodCgroup({ cgroupRoot: CGROUP_ROOT, cgroupParent: settings.cgroupRoot }), true));
  return removed;
}

/** The node server's certificate and the image store over its overlay snapshots. */
async function openImages(settings: NodeSettings, internalIP: string, logger: Logger): Promise<{ tls: { cert: string; key: string }; snapshotter: OverlaySnapshotter; images: LocalImageStore }> {
  const { dataDir, nodeName } = settings;
  const tls = await nodeServingCert(dataDir, [...new Set([nodeName, internalIP, '127.0.0.1', 'localhost'])]);
  const snapshotter = await OverlaySnapshotter.open({ root: join(dataDir, 'snapshots') });
  const images = await LocalImageStore.open({
    root: join(dataDir, 'images'),
    snapshotter,
    registry: { insecureRegistries: settings.insecureRegistry, userAgent: 'hedge-node/0.1' },
  });
  logStartupPhase(logger, 'images opened');
  return { tls, snapshotter, images };
}

/** The pod subnet, the overlay between nodes, the CNI bridge and the guard on its ports. */
async function setUpPodNetwork(
  settings: NodeSettings,
  conn: ConnectionConfig,
  internalIP: string,
  logger: Logger,
  spawner: Spawner,
): Promise<{ podSubnet: string; podSubnetV6: string | undefined; overlay: Overlay | undefined; guard: PodGuard; clusterNetwork: GuardedNetworkPlugin }> {
  const { dataDir, nodeName } = settings;
  // --pod-subnet overrides; otherwise the Node's spec.podCIDRs (remembered for offline starts):
  // an IPv4 range, and an IPv6 one in a dual-stack cluster
  const podSubnets = settings.podSubnet ?? (await withClient(conn, nodeName, (client) => podSubnetFromControlPlane({ client, nodeName, dataDir, logger })));
  const podSubnet = podSubnets[0]!;
  const podSubnetV6 = podSubnets.find((c) => familyOf(c) === 6);
  const overlay = await setUpOverlay(settings, { v4: podSubnet, v6: podSubnetV6 }, internalIP, logger);
  const cni = new CniNetworkPlugin(
    {
      mode: {
        type: 'bridge',
        bridge: settings.bridge,
        subnet: podSubnet,
        ...(podSubnetV6 ? { ipv6Subnet: podSubnetV6 } : {}),
        noMasq: settings.clusterCidr,
        ...(overlay?.podMtu ? { mtu: overlay.podMtu } : {}),
      },
      dataDir,
      netnsDir: settings.netnsDir,
      spawner,
    },
    logger.child({ component: 'network' }),
  );
  await cni.writeConfig();
  // the bridge exists before its guard table: another node starting on this host sweeps guard
  // tables whose bridge is gone, and must not take ours for one (the CNI plugin adopts the bridge)
  await ensureBridgeGateway(settings.bridge, podSubnet, AbortSignal.timeout(HOST_NET_SETUP_MS), podSubnetV6);
  // anti-spoofing per pod port, and no pod reaches the node's own ports (agent API, hub) on any node address
  const guard = new PodGuard({ bridge: settings.bridge });
  await guard.ensure([settings.listen.port, settings.hubListen === 'off' ? 0 : settings.hubListen.port].filter((p) => p > 0), AbortSignal.timeout(HOST_NET_SETUP_MS));
  await sweepStaleGuards(settings.bridge, async (b) => existsSync(`/sys/class/net/${b}`), { signal: AbortSignal.timeout(HOST_NET_SETUP_MS) }).catch((err: unknown) =>
    logger.warn({ component: 'network', err }, 'sweeping guard tables of gone bridges failed'),
  );
  const clusterNetwork = new GuardedNetworkPlugin(cni, guard, logger.child({ component: 'network' }));
  logStartupPhase(logger, 'network ready');
  return { podSubnet, podSubnetV6, overlay, guard, clusterNetwork };
}

/** The RuntimeClass handlers offered (microVM when its guest boots) and the node labels saying how each isolates. */
async function setUpRuntimes(
  settings: NodeSettings,
  offered: Exclude<NodeRuntime, 'microvm'>[],
  logger: Logger,
  spawner: Spawner,
): Promise<{ runtimes: Map<string, RuntimeHandler>; isolation: Map<string, SandboxIsolation>; labels: Record<string, string> }> {
  const { dataDir, nodeName } = settings;
  const runtimes = new Map<string, RuntimeHandler>();
  const labels: Record<string, string> = { 'kubernetes.io/hostname': nodeName, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64' };
  const isolation = new Map<string, SandboxIsolation>();
  if (settings.runtimes.includes('microvm')) {
    const mvm = await setUpMicroVm({
      stateDir: join(dataDir, 'runtimes', 'microvm'),
      guestDir: settings.guestDir ?? join(dataDir, 'guest'),
      accelerator: settings.microvmAccelerator,
      bootTimeoutMs: settings.microvmBootTimeoutSeconds * 1000,
      logger: logger.child({ component: 'runtime', handler: 'microvm' }),
      signal: AbortSignal.timeout(300_000),
    });
    if (mvm.ok) {
      runtimes.set('microvm', mvm.handler);
      labels[MICROVM_ACCELERATOR_LABEL] = mvm.accelerator;
      isolation.set('microvm', { kind: 'vm', accelerator: mvm.accelerator });
      logger.info({ component: 'node', accelerator: mvm.accelerator, guestKernel: mvm.kernelVersion }, 'microvm handler offered');
    } else {
      logger.warn({ component: 'node', runtime: 'microvm', reason: mvm.reason }, 'microvm handler not offered');
      if (offered.length === 0) throw new HedgeError('Unavailable', `--runtimes: microvm: ${mvm.reason}`);
    }
  }
  for (const name of offered) {
    const log = logger.child({ component: 'runtime', handler: name });
    runtimes.set(
      name,
      new OciRuntimeHandler({
        name,
        runtime: RUNTIME_BINARIES[name],
        stateDir: join(dataDir, 'runtimes', name),
        conmonBinary: CONMON,
        logger: log,
        seccomp: { defaultRuntimeDefault: settings.seccompDefault, profileDir: join(dataDir, 'seccomp') },
        spawner,
        // the handler's own steps beside the pod's start trace, at debug only (bench/pod-start.ts reads them)
        ...(log.isLevelEnabled('debug') ? { onSpan: (step: string, ms: number, container: string) => log.debug({ container, step, ms: Math.round(ms * 10) / 10 }, RUNTIME_SPAN_MSG) } : {}),
      }),
    );
  }

  for (const name of offered) isolation.set(name, ociIsolation(RUNTIME_BINARIES[name].kind, RUNTIME_BINARIES[name].globalArgs));
  Object.assign(labels, isolationLabels(isolation));
  logStartupPhase(logger, 'runtimes ready');
  return { runtimes, isolation, labels };
}

/**
 * The pod network between nodes (agent/network/overlay): --overlay auto is vxlan when the pod
 * range comes from the cluster and the node has a routable InternalIP, none otherwise. The
 * device is set up before the CNI config is written, whose MTU follows it.
 */
async function setUpOverlay(settings: NodeSettings, ranges: { v4: string; v6?: string }, internalIP: string, logger: Logger): Promise<Overlay | undefined> {
  const log = logger.child({ component: 'overlay' });
  const podSubnet = ranges.v4;
  let mode: 'vxlan' | 'host-gw' | 'none';
  switch (settings.overlay) {
    case 'auto':
      mode = settings.podSubnet === undefined && podSubnet !== FALLBACK_POD_SUBNET && !internalIP.startsWith('127.') ? 'vxlan' : 'none';
      break;
    default:
      mode = settings.overlay;
  }
  if (mode === 'none') {
    if (settings.overlay === 'auto') log.info({ podSubnet, internalIP }, 'no overlay: the pod range is not the cluster\'s or the node has no routable InternalIP');
    return undefined;
  }
  const overlay = new Overlay({ mode, nodeName: settings.nodeName, podCIDR: podSubnet, ...(ranges.v6 ? { podCIDRv6: ranges.v6 } : {}), publicIP: internalIP }, new IpNetlink(), log);
  try {
    await overlay.setUp(AbortSignal.timeout(HOST_NET_SETUP_MS));
  } catch (err) {
    throw new HedgeError('Unavailable', `--overlay ${mode}: ${(err as Error).message}`, { cause: err });
  }
  log.info({ mode, device: mode === 'vxlan' ? overlay.device : undefined, podMtu: overlay.podMtu }, 'overlay set up');
  return overlay;
}

/**
 * Ships every container's CRI logs to the --log-sink collectors until `signal` aborts. The URLs
 * are checked before anything starts (a bad one fails `hedge node` with its message); no sinks:
 * nothing runs.
 */
function startLogShipping(o: { settings: NodeSettings; sinks: LogSink[]; logger: Logger; client: KubeClient; registry: Registry }, signal: AbortSignal): Promise<void> {
  const { settings, sinks } = o;
  if (sinks.length === 0) return Promise.resolve();
  const log = o.logger.child({ component: 'logship' });
  // a loss is a Warning Event on the pod (kubectl describe shows it) besides the node's metric
  const events = new EventRecorder({ client: o.client, component: 'hedge-logship', host: settings.nodeName, instance: settings.nodeName, clock: systemClock, logger: log, failureLevel: 'debug' });
  return (async () => {
    const shipper = await LogShipper.open({
      nodeName: settings.nodeName,
      podLogsDir: join(settings.dataDir, 'logs', 'pods'),
      stateDir: join(settings.dataDir, 'logship'),
      sinks,
      bufferBytes: settings.logBufferBytes,
      logger: log,
      onDropped: (d) =>
        events.emit({
          involved: { apiVersion: 'v1', kind: 'Pod', metadata: { namespace: d.labels.namespace, name: d.labels.pod, uid: d.labels.podUid } },
          type: 'Warning',
          reason: 'LogLinesDropped',
          message:
            d.reason === 'buffer-bound'
              ? `${d.lines} lines of container ${d.labels.container} dropped for log sink ${d.sink}: the sink was down past the log buffer bound (--log-buffer-bytes ${settings.logBufferBytes})`
              : `${d.lines} lines of container ${d.labels.container} refused by log sink ${d.sink} and dropped`,
        }),
    });
    registerShipperMetrics(shipper, o.registry);
    log.info({ sinks: settings.logSink }, 'shipping container logs');
    await shipper.run(signal);
  })().catch((err: unknown) => log.error({ err }, 'log shipping stopped'));
}

/**
 * The ingress controller (agent/network/ingress) on --ingress-bind-address, ports
 * --ingress-http-port / --ingress-https-port (0 = that one off). A port it cannot bind (taken,
 * not permitted) is logged with its flag and the node runs without ingress: pods come first on
 * an edge host, and the Node is then not labelled as serving (status.loadBalancer leaves it out).
 */
async function startNodeIngress(
  settings: NodeSettings,
  api: { client: HttpKubeClient; informers: SharedInformerFactory },
  logger: Logger,
): Promise<RunningIngressController | undefined> {
  const { ingressHttpPort: http, ingressHttpsPort: https, ingressBindAddress: host } = settings;
  if (http === 0 && https === 0) return undefined;
  const log = logger.child({ component: 'ingress' });
  try {
    return await startIngressController({
      ...api,
      logger: log,
      listen: { ...(http ? { http: { host, port: http } } : {}), ...(https ? { https: { host, port: https } } : {}) },
      defaultCertificate: await ingressDefaultCert(settings.dataDir),
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    log.error({ err }, `--ingress-http-port ${http} / --ingress-https-port ${https} on ${host}: ${code}: the node runs without ingress`);
    return undefined;
  }
}

/** the certificate of hosts without one of their own (ingress-nginx's "fake certificate"), kept in <data-dir>/pki */
async function ingressDefaultCert(dataDir: string): Promise<{ cert: string; key: string }> {
  const dir = join(dataDir, 'pki');
  const certPath = join(dir, 'ingress-default.crt');
  const keyPath = join(dir, 'ingress-default.key');
  try {
    return { cert: await readFile(certPath, 'utf8'), key: await readFile(keyPath, 'utf8') };
  } catch {
    // first start: make one below
  }
  const { generateCa, generateServingCert } = await import('../apiserver/auth/pki.ts');
  const pair = await generateServingCert({ ca: await generateCa('hedge-ingress-default-ca'), hosts: ['ingress.local'], commonName: 'Hedge Ingress Controller Fake Certificate' });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFile(keyPath, pair.key, { mode: 0o600 });
  await writeFile(certPath, pair.cert);
  return pair;
}

/** Node label naming the address of the cluster DNS this node serves to its pods. */
export const CLUSTER_DNS_LABEL = 'dns.hedge.io/cluster-dns';

/**
 * Cluster DNS (issue 12) on port 53 of the pod bridge's gateway address (--cluster-dns auto; on a
 * dual-stack node its IPv6 gateway too, and pods get both nameservers) or of the addresses given, answering from the Services and EndpointSlices the node sees through
 * `client` (the hub: it keeps answering while the cloud is unreachable); undefined with off.
 */
async function startNodeDns(
  settings: NodeSettings,
  podSubnets: { v4: string; v6: string | undefined },
  api: { client: HttpKubeClient; informers: SharedInformerFactory },
  logger: Logger,
): Promise<RunningClusterDns | undefined> {
  if (settings.clusterDns === 'off') return undefined;
  const log = logger.child({ component: 'dns' });
  const hosts = settings.clusterDns === 'auto' ? await ensureBridgeGateway(settings.bridge, podSubnets.v4, AbortSignal.timeout(HOST_NET_SETUP_MS), podSubnets.v6) : settings.clusterDns.split(',');
  let nameservers: string[] = [];
  try {
    nameservers = parseResolvConf(await readFile(settings.resolvConf, 'utf8')).nameservers;
  } catch (err) {
    log.warn({ err, resolvConf: settings.resolvConf }, 'cannot read the host resolver config; names outside the cluster will not resolve');
  }
  try {
    return await startClusterDns({ ...api, logger: log, domain: settings.clusterDomain, listen: hosts.map((host) => ({ host, port: 53 })), upstreams: upstreamsFromResolvConf(nameservers) });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EADDRNOTAVAIL' || code === 'EACCES') {
      throw new HedgeError('Unavailable', `--cluster-dns ${settings.clusterDns}: cannot serve DNS on ${hosts.join(', ')} port 53: ${code}`, { cause: err });
    }
    throw err;
  }
}

/** the agent's idle connections on the hub's unix socket are closed after this (the hub's own limit: 5 s) */
const HUB_SOCKET_IDLE_MS = 2_000;

/** The edgehub (issue 9): the node's loopback API, cache and write journal; undefined with --hub-listen off. */
async function startNodeHub(
  settings: NodeSettings,
  cloud: ConnectionConfig,
  local: { link: () => CloudLink | undefined; nodeServer: () => LocalNodeServer | undefined },
  logger: Logger,
): Promise<RunningHub | undefined> {
  if (settings.hubListen === 'off') return undefined;
  try {
    return await startHub({
      nodeName: settings.nodeName,
      dir: join(settings.dataDir, 'hub'),
      cloud,
      link: local.link,
      nodeServer: local.nodeServer,
      host: settings.hubListen.host,
      port: settings.hubListen.port,
      logger,
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EADDRNOTAVAIL' || code === 'EACCES') {
      throw new HedgeError('Unavailable', `--hub-listen ${settings.hubListen.host}:${settings.hubListen.port}: ${code}`, { cause: err });
    }
    throw err;
  }
}

