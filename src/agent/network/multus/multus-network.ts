/**
 * Network modes per pod, the Multus way: a NetworkPlugin in front of the node's cluster network.
 * A pod without Multus annotations gets the cluster network only (nothing changes for it). A pod
 * whose `v1.multus-cni.io/default-network` names a NetworkAttachmentDefinition gets that network
 * as eth0 instead; each entry of `k8s.v1.cni.cncf.io/networks` adds an interface (net1, net2, …
 * or the name given). Every attachment is a CNI ADD of the NAD's config against the pod's netns,
 * cached on disk (cni.ts) in `<dataDir>/cni/multus`, so tearDown DELs exactly what was added —
 * after an agent restart, or after the NAD was changed or deleted — before the netns goes.
 *
 * Rules of our own, because the pods are untrusted: host-device may hand a pod only a device from
 * the node's pool (--passthrough-devices), one pod at a time; host-local IPAM state stays under
 * the data dir unless the NAD says otherwise; a plugin whose link type the kernel lacks (ipvlan
 * here) fails the pod with a message saying so, before anything is made.
 */
import { compareStrings } from '../../../lib/compare.ts';
import { KeyedLock } from '../../../lib/keyed-lock.ts';
import type { Logger } from '../../../lib/log.ts';
import { HedgeError, isHedgeError } from '../../../lib/errors.ts';
import {
  DEFAULT_NETWORK_ANNOTATION,
  NETWORKS_ANNOTATION,
  parseDefaultNetworkAnnotation,
  parseNetworksAnnotation,
  type NetworkSelection,
  type NetworkStatusEntry,
} from '../../../api/annotations/multus.ts';
import { parseCniConfig } from '../../../api/validation/network-attachment-definition.ts';
import { CNI_VERSION, CniRunner, podCniArgs, type CniCachedAttachment, type CniJson, type CniNetworkConfigList, type CniPluginConf, type CniResult, type CniRuntimeConf } from '../cni.ts';
import { toNetworkResult } from '../cni-plugin.ts';
import { createNetns, netnsExists, removeNetns } from '../netns.ts';
import type { NetworkPlugin, NetworkResult, NetworkSandbox } from '../types.ts';
import { KernelLinkKinds, PLUGIN_LINK_KIND, type LinkKinds } from './link-kinds.ts';
import type { NadFirewall, NadSandbox } from './nad-firewall.ts';

/** What the agent needs of a NetworkAttachmentDefinition. */
export interface NetworkAttachmentDefinition {
  metadata: { name?: string; namespace?: string };
  spec?: { config?: string };
}

/** Reads NADs (the API through the node's hub; a fake in tests). undefined = there is none. */
export interface NadSource {
  get(namespace: string, name: string, signal: AbortSignal): Promise<NetworkAttachmentDefinition | undefined>;
}

export interface MultusOptions {
  /** the cluster network: every pod's eth0 unless its default-network says otherwise */
  cluster: NetworkPlugin;
  /** its name in network-status (the CNI network name) */
  clusterNetworkName: string;
  nads: NadSource;
  /** attachments are cached in <dataDir>/cni/multus; host-local IPAM defaults to <dataDir>/cni/ipam */
  dataDir: string;
  /** default /usr/lib/cni, /opt/cni/bin */
  cniPath?: string[];
  /** host interfaces host-device NADs may hand out, one pod at a time */
  passthroughDevices?: string[];
  linkKinds?: LinkKinds;
  logger?: Logger;
  /** per plugin exec; default 60 s */
  timeoutMs?: number;
  /** NetworkPolicy and the source guard on NAD interfaces, in the pod's netns (nad-firewall.ts) */
  firewall?: NadFirewall;
}

/** One interface to attach: which NAD, as which interface, with its CNI config. */
interface Attachment {
  selection: NetworkSelection;
  ifName: string;
  list: CniNetworkConfigList;
}

const PRIMARY_IF = 'eth0';
const POOL_LOCK = '\0passthrough-pool';

export class MultusNetworkPlugin implements NetworkPlugin {
  readonly name: string;
  private readonly runner: CniRunner;
  private readonly linkKinds: LinkKinds;
  private readonly locks = new KeyedLock();

  constructor(private readonly o: MultusOptions) {
    this.name = `multus+${o.cluster.name}`;
    this.runner = new CniRunner({ cniPath: o.cniPath ?? ['/usr/lib/cni', '/opt/cni/bin'], cacheDir: `${o.dataDir}/cni/multus`, timeoutMs: o.timeoutMs });
    this.linkKinds = o.linkKinds ?? new KernelLinkKinds();
    o.firewall?.useSource(() => this.nadSandboxes());
  }

  /** Every sandbox with NAD interfaces, from the attachment cache (what the firewall guards). */
  async nadSandboxes(): Promise<NadSandbox[]> {
    const byId = new Map<string, CniCachedAttachment[]>();
    for (const a of await this.runner.listCachedAttachments()) byId.set(a.containerId, [...(byId.get(a.containerId) ?? []), a]);
    return [...byId.values()].map(nadSandboxOf);
  }

  setUp(sandbox: NetworkSandbox, signal: AbortSignal): Promise<NetworkResult> {
    return this.locks.run(sandbox.id, () => this.doSetUp(sandbox, signal));
  }

  /** the netns alone: every mode attaches to it (setUp finds it made) */
  prepare(sandbox: NetworkSandbox, signal: AbortSignal): Promise<void> {
    return this.locks.run(sandbox.id, () => createNetns(sandbox.netnsPath, { signal }));
  }

  tearDown(sandbox: NetworkSandbox, signal: AbortSignal): Promise<void> {
    return this.locks.run(sandbox.id, () => this.doTearDown(sandbox, signal));
  }

  async status(sandbox: NetworkSandbox, signal: AbortSignal, opts?: { check?: boolean }): Promise<NetworkResult | undefined> {
    const mine = await this.attachmentsOf(sandbox.id);
    if (mine.length === 0) return this.o.cluster.status(sandbox, signal, opts);
    const primary = mine.find((a) => a.ifName === PRIMARY_IF);
    if (primary && !(await netnsExists(primary.netns))) return undefined;
    const cluster = primary ? undefined : await this.o.cluster.status(sandbox, signal, opts);
    if (!primary && !cluster) return undefined;
    if (opts?.check) for (const a of mine) await this.runner.checkNetworkList(a.config, this.cachedConf(a, a.netns), signal);
    const base = primary ? toNetworkResult(primary.result, primary.config) : (cluster as NetworkResult);
    return this.withStatus(base, primary ? undefined : cluster, mine);
  }

  private async doSetUp(sandbox: NetworkSandbox, signal: AbortSignal): Promise<NetworkResult> {
    const ann = sandbox.annotations ?? {};
    if (ann[DEFAULT_NETWORK_ANNOTATION] === undefined && ann[NETWORKS_ANNOTATION] === undefined) return this.o.cluster.setUp(sandbox, signal);
    // everything is resolved and checked before anything is made: a bad pod leaves nothing behind
    const { primary, extras } = await this.plan(sandbox, signal);
    let cluster: NetworkResult | undefined;
    try {
      if (primary) {
        if (!(await netnsExists(sandbox.netnsPath))) await createNetns(sandbox.netnsPath, { signal });
        await this.attach(sandbox, primary, true, signal);
      } else {
        cluster = await this.o.cluster.setUp(sandbox, signal);
      }
      for (const a of extras) await this.attach(sandbox, a, false, signal);
      // guarded (and closed or policed) before anything in the pod can use them
      if (this.o.firewall) await this.o.firewall.protect(nadSandboxOf(await this.attachmentsOf(sandbox.id)), signal);
    } catch (err) {
      await this.doTearDown(sandbox, signal).catch((e: unknown) => this.o.logger?.warn({ err: e, sandbox: sandbox.id }, 'teardown after a failed attachment failed'));
      throw err;
    }
    const mine = await this.attachmentsOf(sandbox.id);
    const p = mine.find((a) => a.ifName === PRIMARY_IF);
    const base = p ? toNetworkResult(p.result, p.config) : (cluster as NetworkResult);
    const res = this.withStatus(base, cluster, mine);
    this.o.logger?.debug({ sandbox: sandbox.id, networks: res.networkStatus?.map((n) => `${n.name}@${n.interface}`) }, 'networks attached');
    return res;
  }

  /** DEL of every NAD attachment of the sandbox (extras first), then the cluster network or the netns. */
  private async doTearDown(sandbox: NetworkSandbox, signal: AbortSignal): Promise<void> {
    this.o.firewall?.forget(sandbox.id);
    const mine = await this.attachmentsOf(sandbox.id);
    const primary = mine.find((a) => a.ifName === PRIMARY_IF);
    for (const a of [...mine.filter((x) => x !== primary).reverse(), ...(primary ? [primary] : [])]) {
      const alive = await netnsExists(a.netns);
      const del = (): Promise<void> => this.runner.delNetworkList(a.config, this.cachedConf(a, alive ? a.netns : ''), signal);
      // the pool's bookkeeping is the cache: a device is free again once its entry is gone
      await (usesPool(a.config) ? this.locks.run(POOL_LOCK, del) : del());
    }
    if (primary) {
      await removeNetns(primary.netns, { signal });
      if (sandbox.netnsPath && sandbox.netnsPath !== primary.netns) await removeNetns(sandbox.netnsPath, { signal });
    } else {
      await this.o.cluster.tearDown(sandbox, signal);
    }
  }

  /** The pod's annotations → NADs → CNI configs, every check made before any ADD. */
  private async plan(sandbox: NetworkSandbox, signal: AbortSignal): Promise<{ primary?: Attachment; extras: Attachment[] }> {
    const ann = sandbox.annotations ?? {};
    const ns = sandbox.pod.namespace;
    let primarySel: NetworkSelection | undefined;
    const defText = ann[DEFAULT_NETWORK_ANNOTATION];
    if (defText !== undefined && defText.trim() !== '') {
      const r = parseDefaultNetworkAnnotation(defText, ns);
      if (!r.ok) throw new HedgeError('Invalid', `pod annotation ${DEFAULT_NETWORK_ANNOTATION}: ${r.message}`);
      primarySel = r.selection;
    }
    let extraSels: NetworkSelection[] = [];
    const extraText = ann[NETWORKS_ANNOTATION];
    if (extraText !== undefined) {
      const r = parseNetworksAnnotation(extraText, ns);
      if (!r.ok) throw new HedgeError('Invalid', `pod annotation ${NETWORKS_ANNOTATION}: ${r.message}`);
      extraSels = r.selections;
    }
    if (this.o.firewall && sandbox.mayChangeNetns && (primarySel || extraSels.length > 0)) {
      throw new HedgeError(
        'Forbidden',
        `a pod with CAP_NET_ADMIN (or privileged) may rewrite the nftables of its own network namespace, where the node enforces NetworkPolicy and the source guard on NetworkAttachmentDefinition interfaces: it gets the cluster network only (drop the ${primarySel ? DEFAULT_NETWORK_ANNOTATION : NETWORKS_ANNOTATION} annotation or the capability)`,
      );
    }
    const names = new Set<string>([PRIMARY_IF]);
    const extras: Attachment[] = [];
    for (const [i, sel] of extraSels.entries()) {
      // Multus numbers unnamed interfaces by their position in the list
      const ifName = sel.interface ?? `net${i + 1}`;
      if (names.has(ifName)) throw new HedgeError('Invalid', `pod annotation ${NETWORKS_ANNOTATION}: interface ${ifName} is used twice (the primary network is ${PRIMARY_IF})`);
      names.add(ifName);
      extras.push({ selection: sel, ifName, list: await this.configFor(sel, NETWORKS_ANNOTATION, signal) });
    }
    const primary = primarySel ? { selection: primarySel, ifName: PRIMARY_IF, list: await this.configFor(primarySel, DEFAULT_NETWORK_ANNOTATION, signal) } : undefined;
    return { primary, extras };
  }

  private async configFor(sel: NetworkSelection, annotation: string, signal: AbortSignal): Promise<CniNetworkConfigList> {
    const ref = `${sel.namespace}/${sel.name}`;
    let nad: NetworkAttachmentDefinition | undefined;
    try {
      nad = await this.o.nads.get(sel.namespace, sel.name, signal);
    } catch (err) {
      if (!isHedgeError(err, 'NotFound')) throw new HedgeError(isHedgeError(err, 'Forbidden') ? 'Forbidden' : 'Unavailable', `NetworkAttachmentDefinition ${ref} (pod annotation ${annotation}): ${(err as Error).message}`, { cause: err });
    }
    if (!nad) throw new HedgeError('NotFound', `NetworkAttachmentDefinition ${ref} not found (pod annotation ${annotation})`);
    const text = nad.spec?.config ?? '';
    const parsed = parseCniConfig(text);
    if (!parsed.ok) throw new HedgeError('Invalid', `NetworkAttachmentDefinition ${ref}: spec.config ${parsed.message}`);
    for (const p of parsed.config.plugins) {
      const kind = PLUGIN_LINK_KIND[p.type];
      if (kind !== undefined && !(await this.linkKinds.supported(kind, signal))) {
        throw new HedgeError('Unavailable', `NetworkAttachmentDefinition ${ref}: the ${p.type} CNI plugin needs the kernel's ${kind} link type, which this node's kernel does not have`);
      }
      if (p.type === 'host-device') {
        const named = ['pciBusID', 'hwaddr', 'kernelpath', 'deviceID'].find((k) => p[k] !== undefined);
        if (named) throw new HedgeError('Invalid', `NetworkAttachmentDefinition ${ref}: host-device by ${named} is not offered; name a device from the node's --passthrough-devices pool, or none to get a free one`);
        if (p.device !== undefined && !(this.o.passthroughDevices ?? []).includes(String(p.device))) {
          throw new HedgeError('Forbidden', `NetworkAttachmentDefinition ${ref}: device ${String(p.device)} is not in this node's --passthrough-devices pool (${(this.o.passthroughDevices ?? []).join(', ') || 'empty'})`);
        }
      }
    }
    const plugins = parsed.config.plugins.map((p) => this.withIpamDir(p as CniPluginConf));
    // the CNI name stays as the NAD says: plugins key state (host-local leases) by it
    return { cniVersion: parsed.config.cniVersion ?? CNI_VERSION, name: parsed.config.name ?? sel.name, plugins };
  }

  /** host-local without a dataDir would write /var/lib/cni: keep IPAM state in the node's data dir */
  private withIpamDir(p: CniPluginConf): CniPluginConf {
    const ipam = p.ipam;
    if (typeof ipam !== 'object' || ipam === null || Array.isArray(ipam) || ipam.type !== 'host-local' || ipam.dataDir !== undefined) return p;
    return { ...p, ipam: { ...ipam, dataDir: `${this.o.dataDir}/cni/ipam` } };
  }

  private async attach(sandbox: NetworkSandbox, a: Attachment, primary: boolean, signal: AbortSignal): Promise<void> {
    const cached = await this.runner.getCachedAttachment(a.list.name, sandbox.id, a.ifName);
    if (cached && cached.netns === sandbox.netnsPath) return;
    const rt: CniRuntimeConf = {
      containerId: sandbox.id,
      netns: sandbox.netnsPath,
      ifName: a.ifName,
      args: [
        ...podCniArgs(sandbox.id, sandbox.pod),
        // ignored by plugins (IgnoreUnknown); kept in the cache so network-status can name the NAD
        ['HEDGE_NAD', `${a.selection.namespace}/${a.selection.name}`],
      ],
      capabilityArgs: capabilityArgs(sandbox, a.selection, primary),
    };
    const add = async (): Promise<void> => {
      const list = usesPool(a.list) ? await this.withPoolDevice(a.list, a.selection) : a.list;
      try {
        await this.runner.addNetworkList(list, rt, signal);
      } catch (err) {
        // the spec asks for a DEL after a failed ADD: half-made links and leased addresses go
        await this.runner.delNetworkList(list, rt).catch(() => undefined);
        throw err;
      }
    };
    await (usesPool(a.list) ? this.locks.run(POOL_LOCK, add) : add());
  }

  /** host-device without a device: the first pool device no cached attachment holds */
  private async withPoolDevice(list: CniNetworkConfigList, sel: NetworkSelection): Promise<CniNetworkConfigList> {
    const pool = this.o.passthroughDevices ?? [];
    const inUse = new Set((await this.runner.listCachedAttachments()).flatMap((c) => c.config.plugins.filter((p) => p.type === 'host-device').map((p) => String(p.device))));
    const idx = list.plugins.findIndex((p) => p.type === 'host-device');
    const dev = list.plugins[idx];
    if (dev === undefined) return list;
    if (dev.device !== undefined) {
      if (inUse.has(String(dev.device))) throw new HedgeError('Unavailable', `NetworkAttachmentDefinition ${sel.namespace}/${sel.name}: device ${String(dev.device)} is in use by another pod`);
      return list;
    }
    const free = pool.find((d) => !inUse.has(d));
    if (free === undefined) {
      throw new HedgeError('Unavailable', `NetworkAttachmentDefinition ${sel.namespace}/${sel.name}: no free passthrough device (pool: ${pool.join(', ') || 'empty; see --passthrough-devices'})`);
    }
    return { ...list, plugins: list.plugins.map((p, i) => (i === idx ? { ...p, device: free } : p)) };
  }

  private async attachmentsOf(id: string): Promise<CniCachedAttachment[]> {
    const all = (await this.runner.listCachedAttachments()).filter((a) => a.containerId === id);
    // in interface order (eth0, net1, net2, … then named ones as they sort)
    return all.sort((x, y) => ifOrder(x.ifName) - ifOrder(y.ifName) || compareStrings(x.ifName, y.ifName));
  }

  private cachedConf(a: CniCachedAttachment, netns: string): CniRuntimeConf {
    return { containerId: a.containerId, netns, ifName: a.ifName, args: a.cniArgs, capabilityArgs: a.capabilityArgs };
  }

  /** The seam's result for the primary network plus network-status for all of them. */
  private withStatus(base: NetworkResult, cluster: NetworkResult | undefined, mine: CniCachedAttachment[]): NetworkResult {
    const entries: NetworkStatusEntry[] = [];
    if (cluster) entries.push(statusEntry(this.o.clusterNetworkName, 'eth0', cluster, true));
    for (const a of mine) {
      const nadName = a.cniArgs.find(([k]) => k === 'HEDGE_NAD')?.[1] ?? a.networkName;
      entries.push(statusEntry(nadName, a.ifName, toNetworkResult(a.result, a.config), a.ifName === PRIMARY_IF, a.result));
    }
    // the seam's `ips` are the pod IPs: the primary network's only
    return { ...base, ips: base.ips.filter((ip) => ip.interface === '' || ip.interface === PRIMARY_IF), networkStatus: entries };
  }
}

/** The firewall's view of a sandbox's cached attachments: interfaces with their MAC and addresses, the pod from CNI_ARGS. */
function nadSandboxOf(mine: CniCachedAttachment[]): NadSandbox {
  const first = mine[0];
  const arg = (k: string): string => first?.cniArgs.find(([n]) => n === k)?.[1] ?? '';
  return {
    id: first?.containerId ?? '',
    netns: first?.netns ?? '',
    pod: { namespace: arg('K8S_POD_NAMESPACE'), name: arg('K8S_POD_NAME') },
    interfaces: mine.map((a) => {
      const r = toNetworkResult(a.result, a.config);
      const mac = r.interfaces.find((i) => i.sandbox !== undefined && i.name === a.ifName)?.mac;
      const addresses = r.ips.filter((ip) => ip.interface === '' || ip.interface === a.ifName).map((ip) => ({ address: ip.address, family: ip.family }));
      return { name: a.ifName, ...(mac ? { mac } : {}), addresses };
    }),
  };
}

function usesPool(list: CniNetworkConfigList): boolean {
  return list.plugins.some((p) => p.type === 'host-device');
}

function ifOrder(name: string): number {
  if (name === PRIMARY_IF) return 0;
  const m = /^net(\d+)$/.exec(name);
  return m ? Number(m[1]) : 1_000_000;
}

/** ips/mac from the selection and the pod's host ports (primary only), for plugins declaring those capabilities */
function capabilityArgs(sandbox: NetworkSandbox, sel: NetworkSelection, primary: boolean): Record<string, CniJson> {
  const out: Record<string, CniJson> = {};
  if (sel.ips) out.ips = sel.ips;
  if (sel.mac) out.mac = sel.mac;
  if (primary && sandbox.portMappings.length > 0) {
    out.portMappings = sandbox.portMappings.map((p) => ({ hostPort: p.hostPort, containerPort: p.containerPort, protocol: p.protocol, ...(p.hostIP ? { hostIP: p.hostIP } : {}) }));
  }
  return out;
}

function statusEntry(name: string, ifName: string, res: NetworkResult, isDefault: boolean, raw?: CniResult): NetworkStatusEntry {
  const ips = res.ips.filter((ip) => ip.interface === '' || ip.interface === ifName);
  const mac = res.interfaces.find((i) => i.sandbox !== undefined && i.name === ifName)?.mac;
  const gateways = ips.map((ip) => ip.gateway).filter((g): g is string => g !== undefined);
  return {
    name,
    interface: ifName,
    ips: ips.map((ip) => ip.address),
    ...(mac ? { mac } : {}),
    ...(isDefault ? { default: true } : {}),
    dns: raw?.dns ?? {},
    ...(isDefault && gateways.length > 0 ? { gateway: gateways } : {}),
  };
}
