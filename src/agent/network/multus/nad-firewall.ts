/**
 * NetworkPolicy and the anti-spoofing guard on a pod's NetworkAttachmentDefinition interfaces.
 *
 * Frames on a macvlan or host-device interface never cross the node's bridge or forward path, so
 * the bridge guard (../guard) and the node's policy table (../policy) cannot see them; a macvlan
 * has no host-side interface at all. The one place every such interface passes is the pod's own
 * network namespace, so the node installs two tables there (one `nft -f -` transaction, entered
 * with `nsenter --net`):
 *
 *   table netdev hedge-nad   one egress chain per NAD interface, policy drop: a frame leaves only
 *       with the interface's own MAC and its own IPv4/ARP source (IPv6: its own or link-local).
 *       The egress hook also sees AF_PACKET sockets (with or without PACKET_QDISC_BYPASS), so a
 *       pod with NET_RAW cannot forge a neighbour's address on the L2. One ingress chain per NAD
 *       interface marks what arrives on it (INGRESS_MARK), so the forward chain below can tell the
 *       directions of bridged traffic apart.
 *   table inet hedge-nad     input/output on the NAD interfaces: replies of allowed connections
 *       pass (conntrack of the namespace), then the pod's NetworkPolicy chains — the same rules
 *       the node's forward table uses (podPolicyRules) — or nothing when no policy isolates it;
 *       forwarding through a NAD interface is dropped.
 *
 * The pod cannot undo them: changing nftables in its namespace needs CAP_NET_ADMIN, which the
 * runtimes here do not grant by default (a pod that adds it is refused a NAD interface, see
 * MultusNetworkPlugin). A microVM guest owns its own interfaces and the host's netns stack never
 * sees their traffic: the microVM runtime joins each guarded interface to the guest's tap with a
 * bridge `hedgebr<N>` (runtime/microvm/pod-network.ts), whose frames br_netfilter passes through
 * the forward hook (in and out device: the bridge). There the same policy chains apply, the
 * direction told by the ingress mark: marked = arrived on the NAD interface = ingress to the pod;
 * conntrack lets replies of allowed connections back. The egress guard sees the guest's frames as
 * they leave the interface. The netns stack itself takes nothing from such a bridge.
 *
 * Until the policy controller has told the firewall the policies, NAD interfaces are closed (only
 * the guard's own traffic, replies and IPv6 neighbour discovery pass): a pod is never open because the node has not caught
 * up yet. With `--network-policy false` only the guard is installed.
 */
import { KeyedLock } from '../../../lib/keyed-lock.ts';
import { HedgeError } from '../../../lib/errors.ts';
import type { Logger } from '../../../lib/log.ts';
import { runCommand } from '../../host/run-command.ts';
import { checkAddress, checkIfname } from '../guard/pod-guard.ts';
import { netnsExists } from '../netns.ts';
import { NFT_TIMEOUT_MS } from '../nft.ts';
import type { NadPolicy } from '../policy/controller.ts';
import { NDP_RULE, podPolicyRules } from '../policy/render.ts';

export const NAD_TABLE = 'hedge-nad';
/** a bridge in a pod netns joining a microVM's tap to a NAD interface is named <prefix><N> (runtime/microvm/pod-network.ts) */
export const VM_BRIDGE_PREFIX = 'hedgebr';
/** set on every frame that arrives on a NAD interface: bridged to a microVM guest, it is ingress to the pod */
export const INGRESS_MARK = '0x6e616401';

/** The NAD interfaces a netns's guard chains name (`nft -j list table netdev hedge-nad`): those the microVM runtime bridges. */
export function guardedNadInterfaces(nftJson: string): string[] {
  const parsed = JSON.parse(nftJson) as { nftables?: { chain?: { name?: string; hook?: string } }[] };
  const out: string[] = [];
  // by the chain's name (guardChain): nft 1.0.6 leaves a netdev chain's device out of its JSON
  for (const e of parsed.nftables ?? []) if (e.chain?.hook === 'egress' && e.chain.name?.startsWith('guard-')) out.push(e.chain.name.slice('guard-'.length));
  return out;
}

/** One NetworkAttachmentDefinition interface in a pod's netns, as its CNI ADD reported it. */
export interface NadInterface {
  name: string;
  mac?: string;
  addresses: { address: string; family: 4 | 6 }[];
}

/** A pod sandbox with at least one NAD interface. */
export interface NadSandbox {
  id: string;
  netns: string;
  pod: { namespace: string; name: string };
  interfaces: NadInterface[];
}

/** undefined: policy is enforced but not known yet (closed); 'off': guard only. */
export type NadPolicyState = NadPolicy | 'off' | undefined;

const MAC_RE = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

const set = (xs: string[]): string => `{ ${xs.join(', ')} }`;

function guardChain(i: NadInterface): string {
  const ifn = checkIfname(i.name);
  if (i.mac !== undefined && !MAC_RE.test(i.mac)) throw new HedgeError('Invalid', `${JSON.stringify(i.mac)} is not a MAC address`);
  const mac = i.mac ? `ether saddr ${i.mac.toLowerCase()} ` : '';
  const v4 = i.addresses.filter((a) => a.family === 4).map((a) => checkAddress(a.address, 4));
  const v6 = i.addresses.filter((a) => a.family === 6).map((a) => checkAddress(a.address, 6));
  const rules = [
    ...(v4.length ? [`${mac}ether type ip ip saddr ${set(v4)} accept`] : []),
    ...(v4.length ? [`${mac}ether type arp ${i.mac ? `arp saddr ether ${i.mac.toLowerCase()} ` : ''}arp saddr ip ${set(v4)} accept`] : []),
    `${mac}ether type ip6 ip6 saddr fe80::/10 accept`,
    ...(v6.length ? [`${mac}ether type ip6 ip6 saddr ${set(v6)} accept`] : []),
    'counter drop',
  ];
  return [
    `\tchain guard-${ifn} {\n\t\ttype filter hook egress device "${ifn}" priority filter; policy drop;\n${rules.map((r) => `\t\t${r}\n`).join('')}\t}`,
    `\tchain mark-${ifn} {\n\t\ttype filter hook ingress device "${ifn}" priority filter; policy accept;\n\t\tmeta mark set ${INGRESS_MARK}\n\t}`,
  ].join('\n');
}

/** Both tables for one sandbox (pure): what `nft -f -` loads in its netns after deleting the old ones. */
export function renderNadTables(sb: NadSandbox, policy: NadPolicyState): string {
  const ifs = set(sb.interfaces.map((i) => `"${checkIfname(i.name)}"`));
  let ing: string[] | undefined;
  let egr: string[] | undefined;
  if (policy === undefined) {
    ing = egr = [NDP_RULE];
  } else if (policy !== 'off') {
    const pod = policy.localPod(sb.pod.namespace, sb.pod.name);
    // the pod is not in the node's cache yet: closed until it is
    const rules = pod ? podPolicyRules(policy.input, pod) : { ing: [NDP_RULE], egr: [NDP_RULE] };
    ing = rules.ing;
    egr = rules.egr;
  }
  const chains = (chain: 'ing' | 'egr', rules: string[] | undefined): string[] => (rules ? [`\tchain ${chain} {`, ...rules.map((r) => `\t\t${r}`), '\t\tdrop', '\t}'] : []);
  const hook = (name: 'input' | 'output', match: 'iifname' | 'oifname', chain: 'ing' | 'egr', rules: string[] | undefined): string[] => [
    `\tchain ${name} {`,
    `\t\ttype filter hook ${name} priority filter; policy accept;`,
    // a microVM's bridge: the guest's traffic is forwarded, nothing of it is for the netns stack
    ...(name === 'input' ? [`\t\tiifname "${VM_BRIDGE_PREFIX}*" drop`] : []),
    `\t\t${match} != ${ifs} accept`,
    '\t\tct state established,related accept',
    ...(rules ? [`\t\tjump ${chain}`] : []),
    '\t}',
  ];
  return [
    `table netdev ${NAD_TABLE} {`,
    ...sb.interfaces.map(guardChain),
    '}',
    `table inet ${NAD_TABLE} {`,
    ...hook('input', 'iifname', 'ing', ing),
    ...chains('ing', ing),
    ...hook('output', 'oifname', 'egr', egr),
    ...chains('egr', egr),
    '\tchain forward {',
    '\t\ttype filter hook forward priority filter; policy accept;',
    // routed through a NAD interface (a runc pod's netns): never
    `\t\tiifname ${ifs} drop`,
    `\t\toifname ${ifs} drop`,
    // bridged between a NAD interface and a microVM's tap: the pod's policy, by direction
    '\t\tct state established,related accept',
    ...(ing ? [`\t\tmeta mark ${INGRESS_MARK} jump ing`] : []),
    ...(egr ? [`\t\tmeta mark != ${INGRESS_MARK} jump egr`] : []),
    '\t}',
    '}',
    '',
  ].join('\n');
}

/** The tables go (if there) and come back in one transaction. */
export function nadScript(rendered: string): string {
  return `table netdev ${NAD_TABLE}\ndelete table netdev ${NAD_TABLE}\ntable inet ${NAD_TABLE}\ndelete table inet ${NAD_TABLE}\n${rendered}`;
}

export interface NadFirewallOptions {
  /** false with `--network-policy false`: the guard only */
  enforcePolicy: boolean;
  /** the `nft` binary (default `nft` from PATH) */
  nft?: string;
  logger?: Logger;
}

/**
 * Keeps every NAD sandbox's tables in line with the policies: `protect` when a sandbox's NAD
 * interfaces are attached (before its containers start), `setPolicy` on every policy sync (each
 * netns is reloaded only when its tables changed), `forget` when it goes.
 */
export class NadFirewall {
  readonly #o: NadFirewallOptions;
  readonly #locks = new KeyedLock();
  readonly #applied = new Map<string, string>();
  #policy: NadPolicyState;
  #source: () => Promise<NadSandbox[]> = () => Promise.resolve([]);

  constructor(o: NadFirewallOptions) {
    this.#o = o;
    this.#policy = o.enforcePolicy ? undefined : 'off';
  }

  /** where the NAD sandboxes are listed (the Multus plugin's attachment cache; it survives agent restarts) */
  useSource(source: () => Promise<NadSandbox[]>): void {
    this.#source = source;
  }

  /** Installs the sandbox's tables with the policies known now; throws when they cannot be. */
  protect(sb: NadSandbox, signal?: AbortSignal): Promise<void> {
    return this.#locks.run(sb.id, () => this.#apply(sb, signal));
  }

  forget(id: string): void {
    this.#applied.delete(id);
  }

  /** New policies: every NAD sandbox whose tables change is reloaded; one whose netns is gone is skipped. */
  async setPolicy(policy: NadPolicy, signal?: AbortSignal): Promise<void> {
    if (!this.#o.enforcePolicy) return;
    this.#policy = policy;
    const errors: unknown[] = [];
    for (const sb of await this.#source()) {
      await this.#locks
        .run(sb.id, async () => {
          if (!(await netnsExists(sb.netns))) return;
          await this.#apply(sb, signal).catch(async (err: unknown) => {
            // torn down meanwhile: nothing left to protect
            if (await netnsExists(sb.netns)) throw err;
          });
        })
        .catch((err: unknown) => errors.push(err));
    }
    if (errors.length) throw new HedgeError('Internal', `NetworkPolicy on NAD interfaces: ${errors.map((e) => (e as Error).message).join('; ')}`, { cause: errors[0] });
  }

  async #apply(sb: NadSandbox, signal?: AbortSignal): Promise<void> {
    const rendered = renderNadTables(sb, this.#policy);
    if (this.#applied.get(sb.id) === `${sb.netns}\n${rendered}`) return;
    const r = await runCommand('nsenter', [`--net=${sb.netns}`, '--', this.#o.nft ?? 'nft', '-f', '-'], { input: nadScript(rendered), signal, timeoutMs: NFT_TIMEOUT_MS });
    if (r.code !== 0) throw new HedgeError('Internal', `nftables in ${sb.netns} (NAD interfaces ${sb.interfaces.map((i) => i.name).join(', ')}): ${r.stderr.trim() || `exit ${r.code}`}`);
    this.#applied.set(sb.id, `${sb.netns}\n${rendered}`);
    this.#o.logger?.debug({ sandbox: sb.id, interfaces: sb.interfaces.map((i) => i.name), policy: this.#policy === 'off' ? 'off' : this.#policy ? 'known' : 'closed' }, 'NAD interfaces guarded');
  }
}
