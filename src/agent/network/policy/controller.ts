import { isIPv4, isIPv6 } from 'node:net';
import type { Namespace, Pod } from 'kubernetes-types/core/v1.js';
import type { NetworkPolicy } from 'kubernetes-types/networking/v1.js';
import type { KubeObject } from '../../../api/object.ts';
import { SharedInformerFactory, type SharedInformer } from '../../../client/shared-informers.ts';
import { Resources } from '../../../client/resources.ts';
import type { KubeClient } from '../../../client/types.ts';
import { HedgeError } from '../../../lib/errors.ts';
import type { Logger } from '../../../lib/log.ts';
import { SlowSetFeed } from '../guard/fast-path.ts';
import { DebouncedTableSync, nftBinary, type Nft } from '../nft.ts';
import { NETWORK_STATUS_ANNOTATION } from '../../../api/annotations/multus.ts';
import { POLICY_TABLE, isolatedPodIps, policyDeleteScript, policyScript, renderPolicyTable, type PolicyInput, type PolicyPod } from './render.ts';

type PodObject = Pod & KubeObject;
type NamespaceObject = Namespace & KubeObject;
type NetworkPolicyObject = NetworkPolicy & KubeObject;

export interface PolicyControllerOptions {
  client: KubeClient;
  nodeName: string;
  logger: Logger;
  /** nftables table (family inet); default `hedge-policy` */
  table?: string;
  /** the seam to the kernel (the service proxy's: one `nft -f -` per call) */
  nft?: Nft;
  /** changes arriving within this window are applied together (default 50 ms) */
  debounceMs?: number;
  /**
   * Told the addresses of this node's pods some policy isolates, before the table that isolates
   * them is applied (and the narrowed set after): the pod guard keeps their traffic off its fast
   * path, which would bypass this table (guard/fast-path.ts).
   */
  onIsolated?: (ips: string[], signal?: AbortSignal) => Promise<void>;
  /** told every sync's policies: enforces them on NetworkAttachmentDefinition interfaces (../multus/nad-firewall.ts) */
  nadFirewall?: { setPolicy(policy: NadPolicy, signal?: AbortSignal): Promise<void> };
  /** the node's shared informers; its own otherwise */
  informers?: SharedInformerFactory;
}

/** What the NAD firewall needs: the input of the node's table, and this node's pods by `namespace/name`, addressed or not yet. */
export interface NadPolicy {
  input: PolicyInput;
  localPod(namespace: string, name: string): PolicyPod | undefined;
}

/**
 * What the renderer needs of a pod: addressed, not host-network, not finished. Its addresses (by
 * family) are its pod IPs and those of its NetworkAttachmentDefinition interfaces (network-status), so a peer
 * selected by labels matches on a macvlan L2 too. `unaddressed` keeps a pod without any yet.
 */
export function policyPod(pod: Pod, opts?: { unaddressed?: boolean }): PolicyPod | undefined {
  if (pod.spec?.hostNetwork || pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') return undefined;
  const all = [...new Set([...(pod.status?.podIPs ?? []).map((p) => p.ip ?? ''), pod.status?.podIP ?? '', ...networkStatusIps(pod)])];
  const ips = all.filter((ip) => isIPv4(ip));
  const ips6 = all.filter((ip) => isIPv6(ip));
  if (ips.length === 0 && ips6.length === 0 && !opts?.unaddressed) return undefined;
  const namedPorts: PolicyPod['namedPorts'] = {};
  for (const c of [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])]) {
    for (const p of c.ports ?? []) if (p.name) (namedPorts[p.name] ??= []).push({ protocol: p.protocol ?? 'TCP', port: p.containerPort });
  }
  return { namespace: pod.metadata?.namespace ?? 'default', name: pod.metadata?.name ?? '', labels: pod.metadata?.labels ?? {}, ips, ...(ips6.length ? { ips6 } : {}), namedPorts };
}

function networkStatusIps(pod: Pod): string[] {
  const text = pod.metadata?.annotations?.[NETWORK_STATUS_ANNOTATION];
  if (!text) return [];
  try {
    const entries = JSON.parse(text) as unknown;
    return Array.isArray(entries) ? entries.flatMap((e) => (Array.isArray((e as { ips?: unknown }).ips) ? ((e as { ips: unknown[] }).ips.filter((ip) => typeof ip === 'string') as string[]) : [])) : [];
  } catch {
    return [];
  }
}

/**
 * The node's NetworkPolicy enforcement: NetworkPolicies, Pods and Namespaces from the node's
 * client (the hub when there is one, whose cache answers while the cloud is unreachable, so the
 * last policy stays enforced offline), rendered into one `inet` table (render.ts) and loaded as
 * one `nft -f -` transaction. Only this node's pods get chains; every pod the client lists is a
 * possible peer. Through the hub that is the pods bound to this node (its reflection is scoped
 * to them), so a pod/namespace-selector peer on another node is not matched there: reach it
 * with an `ipBlock` (e.g. the other node's podCIDR). The debounce / retry / remove-on-stop loop
 * is the service proxy's (DebouncedTableSync, ../nft.ts).
 */
export class PolicyController {
  readonly table: string;
  readonly stats = { syncs: 0, applies: 0, failures: 0 };
  readonly #opts: PolicyControllerOptions;
  readonly #nft: Nft;
  readonly #log: Logger;
  readonly #policies: SharedInformer<NetworkPolicyObject>;
  readonly #pods: SharedInformer<PodObject>;
  readonly #namespaces: SharedInformer<NamespaceObject>;
  readonly #loop: DebouncedTableSync;
  #applied: string | undefined;
  readonly #isolatedFeed: SlowSetFeed<string> | undefined;

  constructor(opts: PolicyControllerOptions) {
    this.#opts = opts;
    this.table = opts.table ?? POLICY_TABLE;
    if (!/^[A-Za-z][A-Za-z0-9_-]{0,60}$/.test(this.table)) throw new HedgeError('Invalid', `network policy table ${this.table}: letters, digits, - and _ only`);
    this.#nft = opts.nft ?? nftBinary();
    this.#log = opts.logger.child({ component: 'network-policy' });
    const onIsolated = opts.onIsolated;
    this.#isolatedFeed = onIsolated && new SlowSetFeed<string>((ip) => ip, onIsolated);
    const onChange = (): void => this.#loop.markDirty();
    const handlers = { onAdd: onChange, onUpdate: onChange, onDelete: onChange };
    const informers = opts.informers ?? new SharedInformerFactory({ client: opts.client, logger: this.#log });
    this.#policies = informers.informer<NetworkPolicyObject>({ resource: Resources.networkpolicies, ...handlers });
    this.#pods = informers.informer<PodObject>({ resource: Resources.pods, ...handlers });
    this.#namespaces = informers.informer<NamespaceObject>({ resource: Resources.namespaces, ...handlers });
    this.#loop = new DebouncedTableSync({
      what: 'network policy',
      logger: this.#log,
      sources: [this.#policies, this.#pods, this.#namespaces],
      debounceMs: opts.debounceMs,
      sync: (signal) => this.syncOnce(signal),
      removeTable: async () => {
        this.#applied = undefined;
        await this.#nft.apply(policyDeleteScript(this.table));
      },
      onFailure: () => void this.stats.failures++,
    });
  }

  /** the table as the caches stand now */
  render(): string {
    return this.snapshot().rendered;
  }

  private snapshot(): { input: PolicyInput; rendered: string; nad: NadPolicy } {
    const namespaces: Record<string, Record<string, string>> = {};
    for (const ns of this.#namespaces.list()) {
      const name = ns.metadata?.name ?? '';
      // upstream sets this label on every namespace; older objects may lack it
      namespaces[name] = { 'kubernetes.io/metadata.name': name, ...(ns.metadata?.labels ?? {}) };
    }
    const nodeOf = new Map<string, string>();
    const pods: PolicyPod[] = [];
    const local = new Map<string, PolicyPod>();
    for (const pod of this.#pods.list()) {
      const p = policyPod(pod, { unaddressed: true });
      if (!p) continue;
      if (p.ips.length > 0 || p.ips6?.length) pods.push(p);
      nodeOf.set(`${p.namespace}/${p.name}`, pod.spec?.nodeName ?? '');
      if (pod.spec?.nodeName === this.#opts.nodeName) local.set(`${p.namespace}/${p.name}`, p);
    }
    const input: PolicyInput = { policies: this.#policies.list(), pods, namespaces, localPods: (p) => nodeOf.get(`${p.namespace}/${p.name}`) === this.#opts.nodeName };
    return { input, rendered: renderPolicyTable(input, this.table), nad: { input, localPod: (ns, name) => local.get(`${ns}/${name}`) } };
  }

  /** one render + (if it changed) apply */
  async syncOnce(signal?: AbortSignal): Promise<void> {
    this.#loop.markClean();
    const { input, rendered, nad } = this.snapshot();
    this.stats.syncs++;
    const apply = async (): Promise<void> => {
      if (rendered === this.#applied) return;
      await this.#nft.apply(policyScript(rendered, this.table), signal);
      this.stats.applies++;
    };
    try {
      if (this.#isolatedFeed) await this.#isolatedFeed.around(isolatedPodIps(input), apply, signal);
      else await apply();
    } catch (err) {
      this.#loop.markDirty();
      this.#applied = undefined;
      throw err;
    }
    this.#applied = rendered;
    // the NAD firewall keeps its own per-namespace copies and applies only what changed there
    await this.#opts.nadFirewall?.setPolicy(nad, signal).catch((err: unknown) => {
      this.#loop.markDirty();
      throw err;
    });
  }

  /** until `signal` aborts: informers, debounced syncs; then the table is removed */
  run(signal: AbortSignal): Promise<void> {
    return this.#loop.run(signal);
  }
}
