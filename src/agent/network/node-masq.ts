/**
 * One masquerade rule set per bridge network, instead of the bridge plugin's `ipMasq` (which
 * makes a nat chain and a POSTROUTING jump per pod: eight iptables execs on every ADD and five
 * on every DEL, ~150 ms each way here). Same effect for the pods: traffic from the pod subnet
 * leaving it is masqueraded, multicast is not. kubenet and flannel do it the same way.
 *
 *   POSTROUTING -s <subnet> -m comment --comment "hedge masq bridge=<bridge>" -j HEDGE-MASQ-<hash>
 *   HEDGE-MASQ-<hash>: -d <subnet> -j ACCEPT; [-d <cluster CIDR> -j ACCEPT;] ! -d 224.0.0.0/4 -j MASQUERADE
 *
 * Pod-to-pod traffic between nodes keeps its source address (no NAT inside the cluster CIDR).
 * Dual-stack (`subnet6`): the same chain in ip6tables' nat table for the IPv6 pod range, its
 * cluster CIDR exempt, multicast ff00::/8 never masqueraded — pods reach IPv6 destinations outside
 * the cluster from the node's own address, as they do over IPv4.
 *
 * The rules outlive the agent (pods keep running and need them); a network whose bridge is gone
 * (its node was torn down without `destroy`) has its rules swept by the next agent that installs.
 */
import { createHash } from 'node:crypto';
import { familyOf } from '../../lib/cidr.ts';
import { HedgeError } from '../../lib/errors.ts';
import { runCommand, type RunOptions } from '../host/run-command.ts';

export interface NodeMasq {
  bridge: string;
  subnet: string;
  /** dual-stack: the IPv6 pod range, masqueraded by ip6tables the same way */
  subnet6?: string;
  /** more destinations pods reach with their own address: the cluster CIDR (other nodes' pods, over the overlay); either family */
  noMasq?: string[];
}

const COMMENT_PREFIX = 'hedge masq bridge=';

export function nodeMasqChain(m: Pick<NodeMasq, 'bridge'>): string {
  // iptables chain names are at most 28 characters
  return `HEDGE-MASQ-${createHash('sha256').update(m.bridge).digest('hex').slice(0, 16)}`;
}

/** one family's tool, and what of it is never masqueraded */
interface Family {
  bin: 'iptables' | 'ip6tables';
  family: 4 | 6;
  multicast: string;
}
const FAMILIES: Family[] = [
  { bin: 'iptables', family: 4, multicast: '224.0.0.0/4' },
  { bin: 'ip6tables', family: 6, multicast: 'ff00::/8' },
];
const subnetOf = (m: NodeMasq, f: Family): string | undefined => (f.family === 4 ? m.subnet : m.subnet6);

const jumpSpec = (bridge: string, subnet: string): string[] => ['-s', subnet, '-m', 'comment', '--comment', `${COMMENT_PREFIX}${bridge}`, '-j', nodeMasqChain({ bridge })];

async function ipt(f: Family, args: string[], opts: RunOptions): Promise<{ code: number; stdout: string; stderr: string }> {
  return runCommand(f.bin, ['-w', '-t', 'nat', ...args], opts);
}

async function iptChecked(f: Family, args: string[], opts: RunOptions): Promise<string> {
  const res = await ipt(f, args, opts);
  if (res.code !== 0) throw new HedgeError('Internal', `${f.bin} -t nat ${args.join(' ')} failed: ${res.stderr.trim()}`);
  return res.stdout;
}

/** Installs the rules when missing (idempotent; two execs per family when they are already there). */
export async function ensureNodeMasq(m: NodeMasq, opts: RunOptions = {}): Promise<void> {
  for (const f of FAMILIES) {
    const subnet = subnetOf(m, f);
    if (subnet !== undefined) await ensureFamily(f, m, subnet, opts);
  }
}

async function ensureFamily(f: Family, m: NodeMasq, subnet: string, opts: RunOptions): Promise<void> {
  const chain = nodeMasqChain(m);
  const listed = await ipt(f, ['-S', chain], opts);
  const accept = [subnet, ...(m.noMasq ?? []).filter((c) => c !== subnet && familyOf(c) === f.family)];
  const want = [...accept.map((d) => `-A ${chain} -d ${d} -j ACCEPT`), `-A ${chain} ! -d ${f.multicast} -j MASQUERADE`];
  if (listed.code !== 0) await iptChecked(f, ['-N', chain], opts);
  const have = listed.code === 0 ? listed.stdout.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('-A ')) : [];
  if (want.join('\n') !== have.join('\n')) {
    if (have.length > 0) await iptChecked(f, ['-F', chain], opts);
    for (const d of accept) await iptChecked(f, ['-A', chain, '-d', d, '-j', 'ACCEPT'], opts);
    await iptChecked(f, ['-A', chain, '!', '-d', f.multicast, '-j', 'MASQUERADE'], opts);
  }
  if ((await ipt(f, ['-C', 'POSTROUTING', ...jumpSpec(m.bridge, subnet)], opts)).code !== 0) await iptChecked(f, ['-A', 'POSTROUTING', ...jumpSpec(m.bridge, subnet)], opts);
}

/** Our POSTROUTING jumps in one family: (bridge, subnet) per rule. */
async function listJumps(f: Family, opts: RunOptions): Promise<{ bridge: string; subnet: string }[]> {
  const res = await ipt(f, ['-S', 'POSTROUTING'], opts);
  if (res.code !== 0) return [];
  const out: { bridge: string; subnet: string }[] = [];
  for (const line of res.stdout.split('\n')) {
    const j = /^-A POSTROUTING -s (\S+) -m comment --comment "?hedge masq bridge=([^"\s]+)"? -j HEDGE-MASQ-/.exec(line);
    if (j) out.push({ subnet: j[1], bridge: j[2] });
  }
  return out;
}

/**
 * Removes the rules of `m.bridge` in both families (idempotent), whatever subnets their jumps
 * name (a node whose pod range changed, or one that was dual-stack before).
 */
export async function removeNodeMasq(m: Pick<NodeMasq, 'bridge'> & Partial<NodeMasq>, opts: RunOptions = {}): Promise<void> {
  const chain = nodeMasqChain(m);
  for (const f of FAMILIES) {
    const subnets = new Set((await listJumps(f, opts)).filter((j) => j.bridge === m.bridge).map((j) => j.subnet));
    for (const subnet of subnets) {
      while ((await ipt(f, ['-D', 'POSTROUTING', ...jumpSpec(m.bridge, subnet)], opts)).code === 0) {
        // a jump added twice (two agents racing) is removed twice
      }
    }
    if ((await ipt(f, ['-S', chain], opts)).code !== 0) continue;
    await ipt(f, ['-F', chain], opts);
    await ipt(f, ['-X', chain], opts);
  }
}

/** Rules (either family) of other bridge networks whose bridge no longer exists (`exists` answers per bridge). */
export async function sweepStaleNodeMasq(keep: Pick<NodeMasq, 'bridge'>, exists: (bridge: string) => Promise<boolean>, opts: RunOptions = {}): Promise<string[]> {
  const bridges = new Set<string>();
  for (const f of FAMILIES) for (const j of await listJumps(f, opts)) if (j.bridge !== keep.bridge) bridges.add(j.bridge);
  const stale: string[] = [];
  for (const bridge of bridges) {
    if (await exists(bridge)) continue;
    await removeNodeMasq({ bridge }, opts);
    stale.push(bridge);
  }
  return stale;
}
