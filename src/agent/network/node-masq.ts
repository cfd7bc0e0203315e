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
 * IPv4 only: in a dual-stack cluster IPv6 pod traffic is never masqueraded.
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
  /** more destinations pods reach with their own address: the cluster CIDR (other nodes' pods, over the overlay) */
  noMasq?: string[];
}

const COMMENT_PREFIX = 'hedge masq bridge=';

export function nodeMasqChain(m: Pick<NodeMasq, 'bridge'>): string {
  // iptables chain names are at most 28 characters
  return `HEDGE-MASQ-${createHash('sha256').update(m.bridge).digest('hex').slice(0, 16)}`;
}

const jumpSpec = (m: NodeMasq): string[] => ['-s', m.subnet, '-m', 'comment', '--comment', `${COMMENT_PREFIX}${m.bridge}`, '-j', nodeMasqChain(m)];

async function ipt(args: string[], opts: RunOptions): Promise<{ code: number; stdout: string; stderr: string }> {
  return runCommand('iptables', ['-w', '-t', 'nat', ...args], opts);
}

async function iptChecked(args: string[], opts: RunOptions): Promise<string> {
  const res = await ipt(args, opts);
  if (res.code !== 0) throw new HedgeError('Internal', `iptables -t nat ${args.join(' ')} failed: ${res.stderr.trim()}`);
  return res.stdout;
}

/** Installs the rules when missing (idempotent; two execs when they are already there). */
export async function ensureNodeMasq(m: NodeMasq, opts: RunOptions = {}): Promise<void> {
  const chain = nodeMasqChain(m);
  const listed = await ipt(['-S', chain], opts);
  // IPv4 rules: a dual-stack cluster's IPv6 range is not masqueraded at all (IPv6 pod traffic keeps its address)
  const accept = [m.subnet, ...(m.noMasq ?? []).filter((c) => c !== m.subnet && familyOf(c) === 4)];
  const want = [...accept.map((d) => `-A ${chain} -d ${d} -j ACCEPT`), `-A ${chain} ! -d 224.0.0.0/4 -j MASQUERADE`];
  if (listed.code !== 0) await iptChecked(['-N', chain], opts);
  const have = listed.code === 0 ? listed.stdout.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('-A ')) : [];
  if (want.join('\n') !== have.join('\n')) {
    if (have.length > 0) await iptChecked(['-F', chain], opts);
    for (const d of accept) await iptChecked(['-A', chain, '-d', d, '-j', 'ACCEPT'], opts);
    await iptChecked(['-A', chain, '!', '-d', '224.0.0.0/4', '-j', 'MASQUERADE'], opts);
  }
  if ((await ipt(['-C', 'POSTROUTING', ...jumpSpec(m)], opts)).code !== 0) await iptChecked(['-A', 'POSTROUTING', ...jumpSpec(m)], opts);
}

/** Removes the rules (idempotent). */
export async function removeNodeMasq(m: NodeMasq, opts: RunOptions = {}): Promise<void> {
  const chain = nodeMasqChain(m);
  while ((await ipt(['-D', 'POSTROUTING', ...jumpSpec(m)], opts)).code === 0) {
    // a jump added twice (two agents racing) is removed twice
  }
  if ((await ipt(['-S', chain], opts)).code !== 0) return;
  await ipt(['-F', chain], opts);
  await ipt(['-X', chain], opts);
}

/** Rules of other bridge networks whose bridge no longer exists (`exists` answers per bridge). */
export async function sweepStaleNodeMasq(keep: NodeMasq, exists: (bridge: string) => Promise<boolean>, opts: RunOptions = {}): Promise<NodeMasq[]> {
  const res = await ipt(['-S', 'POSTROUTING'], opts);
  if (res.code !== 0) return [];
  const stale: NodeMasq[] = [];
  for (const line of res.stdout.split('\n')) {
    const m = /^-A POSTROUTING -s (\S+) -m comment --comment "?hedge masq bridge=([^"\s]+)"? -j HEDGE-MASQ-/.exec(line);
    if (!m) continue;
    const found: NodeMasq = { subnet: m[1], bridge: m[2] };
    if (found.bridge === keep.bridge || (await exists(found.bridge))) continue;
    await removeNodeMasq(found, opts);
    stale.push(found);
  }
  return stale;
}
