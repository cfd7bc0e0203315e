/**
 * The node's own nftables guard for a bridge network (tables of our own, never shared with
 * iptables, kube-proxy or the CNI plugins):
 *
 *   table bridge hedge-guard-<bridge>   anti-spoofing: a frame entering the bridge from a pod's
 *       port may carry (IPv4 and ARP) only that pod's own address; IPv6 only its own address or a
 *       link-local one. A pod with NET_RAW (the default set) or NET_ADMIN, or the root of a
 *       microVM guest, can forge whatever it likes: it stops at the bridge port.
 *   table inet hedge-guard-<bridge>     input: pods cannot open the node's own ports (the agent's
 *       kubelet-style API, the edgehub) on any of the node's addresses; they reach the host
 *       through the bridge, so the rule matches `iifname <bridge>`.
 *
 *   table netdev hedge-guard-<bridge>   the pod → pod fast path (fast-path.ts): IPv4/IPv6 between two
 *       pods of the bridge that no NetworkPolicy isolates and no Service proxying needs goes from
 *       one pod port to the other without entering the bridge, br_netfilter or conntrack.
 *
 * Pod ports are set elements (`ifname . address`), so adding or removing a pod is one `nft`
 * exec (the guard remembers what it wrote, so it need not read the tables first) and the rules
 * never change (the fast path's chain lists its ports: a new port is added to it, and it is
 * redefined when ports go). The tables outlive
 * the agent (running pods stay guarded);
 * tables whose bridge is gone are swept by the next `ensure`.
 */
import { HedgeError } from '../../../lib/errors.ts';
import { runCommand, type RunOptions, type RunResult } from '../../host/run-command.ts';
import { NFT_TIMEOUT_MS } from '../nft.ts';
import { release as osRelease } from 'node:os';
import { FAMILIES, familyOfAddress, fastPathChain, fastPathDecls, fastPathHook, parseFastPath, slowEndpointsScript, slowPodsScript, type SlowEndpoint } from './fast-path.ts';

export interface PodGuardOptions {
  bridge: string;
  /** the `nft` binary (default `nft` from PATH) */
  nft?: string;
  /** run nft in this network namespace (a pinned netns path) instead of the agent's own */
  netnsPath?: string;
  /** the pod → pod fast path (fast-path.ts); default: on kernels whose netdev hooks may name a missing device */
  fastPath?: boolean;
}

export interface GuardedPort {
  /** host-side interface of the pod (its veth on the bridge) */
  hostInterface: string;
  addresses: { address: string; family: 4 | 6 }[];
  /** container ports a hostPort maps to (portmap DNATs to them): their replies stay off the fast path */
  hostPortTargets?: { protocol: 'tcp' | 'udp' | 'sctp'; port: number }[];
}

const TABLE_PREFIX = 'hedge-guard-';
/** what Linux accepts as an interface name (IFNAMSIZ 16 with the NUL); also keeps nft scripts free of quoting tricks */
const IFNAME_RE = /^[A-Za-z0-9_.-]{1,15}$/;

/**
 * The fast path's hook lists pod ports by name and is rebuilt on every change; a port can be gone
 * already (a pod that died while the agent was down). Kernels from 6.16 accept a hook on a device
 * that does not exist; on older ones that would fail the whole guard transaction, so they keep
 * the bridge path only.
 */
export function hooksMayNameMissingDevices(release = osRelease()): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release);
  return m !== null && (Number(m[1]) > 6 || (Number(m[1]) === 6 && Number(m[2]) >= 16));
}

export function guardTableName(bridge: string): string {
  return `${TABLE_PREFIX}${bridge}`;
}

export class PodGuard {
  readonly table: string;
  private readonly bridge: string;
  private readonly nft: string;
  private readonly netnsPath: string | undefined;
  readonly fastPath: boolean;
  /** allow/forget/ensure read the sets, then write: one at a time, or two pods' updates would race */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(o: PodGuardOptions) {
    if (!IFNAME_RE.test(o.bridge)) throw new HedgeError('Invalid', `bridge name ${JSON.stringify(o.bridge)} is not an interface name`);
    this.bridge = o.bridge;
    this.table = guardTableName(o.bridge);
    this.nft = o.nft ?? 'nft';
    this.netnsPath = o.netnsPath;
    this.fastPath = o.fastPath ?? hooksMayNameMissingDevices();
  }

  /**
   * Creates both tables when missing and leaves their elements alone (an agent restart keeps
   * running pods guarded); `nodePorts` are the TCP ports pods must not reach on the node.
   */
  ensure(nodePorts: number[], signal?: AbortSignal): Promise<void> {
    return this.#serial(() => this.#ensure(nodePorts, signal));
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(fn, fn);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  async #ensure(nodePorts: number[], signal?: AbortSignal): Promise<void> {
    // the chains are rebuilt from what nft holds: read it again next time
    this.#known = undefined;
    const t = this.table;
    // `add` is idempotent for tables, sets and chains; the rules are rewritten (flush + add) so an
    // older agent's rule set is replaced as a whole, in one transaction
    const script = [
      `add table bridge ${t}`,
      `add set bridge ${t} ports { type ifname; }`,
      `add set bridge ${t} allowed4 { type ifname . ipv4_addr; }`,
      `add set bridge ${t} allowed6 { type ifname . ipv6_addr; }`,
      // an honest IPv4 frame from a pod (most of what takes the bridge: ClusterIP traffic, Service
      // replies, isolated pods) passes after one lookup; everything else takes the port lookup and
      // a verdict map on the ethertype (bench/bridge-path.ts measured that against the three-rule
      // chain it replaced)
      `add chain bridge ${t} prerouting { type filter hook prerouting priority -200; policy accept; }`,
      `add chain bridge ${t} check4`,
      `add chain bridge ${t} check-arp`,
      `add chain bridge ${t} check6`,
      `flush chain bridge ${t} prerouting`,
      `flush chain bridge ${t} check4`,
      `flush chain bridge ${t} check-arp`,
      `flush chain bridge ${t} check6`,
      `add rule bridge ${t} prerouting ether type ip iifname . ip saddr @allowed4 accept`,
      `add rule bridge ${t} prerouting iifname @ports ether type vmap { ip : jump check4, arp : jump check-arp, ip6 : jump check6 }`,
      `add rule bridge ${t} check4 iifname . ip saddr != @allowed4 counter drop`,
      `add rule bridge ${t} check-arp iifname . arp saddr ip != @allowed4 counter drop`,
      `add rule bridge ${t} check6 ip6 saddr != fe80::/10 iifname . ip6 saddr != @allowed6 counter drop`,
      `add table inet ${t}`,
      `add set inet ${t} nodeports { type inet_service; }`,
      `add chain inet ${t} input { type filter hook input priority -10; policy accept; }`,
      `flush chain inet ${t} input`,
      `add rule inet ${t} input iifname "${this.bridge}" tcp dport @nodeports counter reject with tcp reset`,
      `flush set inet ${t} nodeports`,
      ...(nodePorts.length ? [`add element inet ${t} nodeports { ${nodePorts.map(checkPort).join(', ')} }`] : []),
    ];
    if (this.fastPath) {
      // the chain is rebuilt from the pods the fast path knows (an agent restart keeps them)
      const fast = await this.listFast(signal);
      script.push(...fastPathDecls(t), ...fastPathChain(t, [...new Set(fast?.pods.map((p) => p.ifname) ?? [])], fast?.chain ?? false));
    } else script.push(`add table netdev ${t}`, `delete table netdev ${t}`);
    await this.run(script.join('\n'), signal);
  }

  /** The addresses of pods isolated by a NetworkPolicy: their traffic is kept off the fast path. */
  async setSlowPods(ips: string[], signal?: AbortSignal): Promise<void> {
    if (!this.fastPath) return;
    await this.run(slowPodsScript(this.table, ips.map((ip) => checkAddress(ip, familyOfAddress(ip)))).join('\n'), signal);
  }

  /** Service endpoints (address, protocol, port): what they send is kept off the fast path. */
  async setSlowEndpoints(eps: SlowEndpoint[], signal?: AbortSignal): Promise<void> {
    if (!this.fastPath) return;
    const checked = eps.map((e) => ({ ip: checkAddress(e.ip, familyOfAddress(e.ip)), protocol: e.protocol, port: Number(checkPort(e.port)) }));
    await this.run(slowEndpointsScript(this.table, checked).join('\n'), signal);
  }

  /** Adds TCP ports pods must not reach (e.g. a port known only once its server listens). */
  async denyNodePorts(ports: number[], signal?: AbortSignal): Promise<void> {
    if (ports.length === 0) return;
    await this.run(`add element inet ${this.table} nodeports { ${ports.map(checkPort).join(', ')} }`, signal);
  }

  /**
   * allows waiting for the queue: they go out together, one transaction for all (pods starting
   * side by side — every pod of a node after a reboot — would otherwise wait for each other's nft
   * execs in turn)
   */
  #pendingAllows: { port: GuardedPort; resolve: () => void; reject: (err: unknown) => void }[] = [];

  /**
   * Guards one pod port: replaces whatever was recorded for that interface before. Calls made
   * while the guard is busy are applied together once it is free (a failed transaction fails each
   * of them). Bounded by nft's own timeout rather than `signal`: a batch is not one caller's.
   */
  async allow(port: GuardedPort, _signal?: AbortSignal): Promise<void> {
    // checked before joining a batch: a bad name or address fails its own caller only
    checkIfname(port.hostInterface);
    for (const a of port.addresses) checkAddress(a.address, a.family);
    for (const h of port.hostPortTargets ?? []) checkPort(h.port);
    return new Promise<void>((resolve, reject) => {
      this.#pendingAllows.push({ port, resolve, reject });
      if (this.#pendingAllows.length === 1) void this.#serial(() => this.#allowPending());
    });
  }

  async #allowPending(): Promise<void> {
    const batch = this.#pendingAllows.splice(0);
    try {
      await this.#allow(batch.map((b) => b.port));
      for (const b of batch) b.resolve();
    } catch (err) {
      for (const b of batch) b.reject(err);
    }
  }

  /**
   * What this guard last wrote to (or read from) its tables: the pod ports, their addresses and the
   * fast path's entries. With it an allow or forget is one nft exec (the transaction) instead of
   * reading both tables first, on every pod's start and stop path. The guard is the tables' only
   * writer of these sets; should they have changed behind its back (a transaction that fails on an
   * element that is gone), it forgets this, reads the tables and tries once more.
   */
  #known: GuardState | undefined;

  async #read(signal?: AbortSignal): Promise<GuardState> {
    const [sets, fast] = await Promise.all([this.listSets(signal), this.fastPath ? this.listFast(signal) : undefined]);
    return { sets, fast };
  }

  /** plans a change from the state it starts from, runs it, and remembers what it leaves */
  async #change(plan: (from: GuardState) => { script: string[]; next: GuardState }, signal?: AbortSignal): Promise<void> {
    const known = this.#known;
    this.#known = undefined;
    const attempt = async (from: GuardState): Promise<void> => {
      const { script, next } = plan(from);
      if (script.length) await this.run(script.join('\n'), signal);
      this.#known = next;
    };
    if (known === undefined) return attempt(await this.#read(signal));
    try {
      await attempt(known);
    } catch {
      // the tables are not what this guard last left (changed by hand, or by another guard object)
      await attempt(await this.#read(signal));
    }
  }

  #allow(batch: GuardedPort[], signal?: AbortSignal): Promise<void> {
    return this.#change((from) => planAllow(this.table, this.fastPath, from, batch), signal);
  }

  /** Forgets a pod port (its interface is about to go, or has gone); idempotent. */
  async forget(hostInterface: string, signal?: AbortSignal): Promise<void> {
    const ifn = checkIfname(hostInterface);
    return await this.#serial(() => this.#change((from) => planForget(this.table, from, ifn), signal));
  }

  /** The guarded ports and their addresses, as nft has them (for tests and status). */
  async list(signal?: AbortSignal): Promise<GuardedPort[]> {
    const listed = await this.listSets(signal);
    if (!listed) return [];
    return listed.ports.map((p) => ({
      hostInterface: p,
      addresses: listed.elements.filter((e) => e.ifname === p).map((e) => ({ address: e.address, family: e.set === 'allowed4' ? (4 as const) : (6 as const) })),
    }));
  }

  /** Removes the tables (idempotent). */
  async destroy(signal?: AbortSignal): Promise<void> {
    this.#known = undefined;
    for (const family of ['netdev', 'bridge', 'inet']) {
      const res = await this.exec(['delete', 'table', family, this.table], { signal });
      if (res.code !== 0 && !/No such file or directory|does not exist/i.test(res.stderr)) {
        throw new HedgeError('Internal', `nft delete table ${family} ${this.table}: ${res.stderr.trim()}`);
      }
    }
  }

  private async listSets(signal?: AbortSignal): Promise<{ ports: string[]; elements: SetElement[] } | undefined> {
    const res = await this.exec(['-j', 'list', 'table', 'bridge', this.table], { signal });
    if (res.code !== 0) {
      if (/No such file or directory|does not exist/i.test(res.stderr)) return undefined;
      throw new HedgeError('Internal', `nft list table bridge ${this.table}: ${res.stderr.trim()}`);
    }
    return parseGuardSets(res.stdout);
  }

  private async listFast(signal?: AbortSignal): Promise<ReturnType<typeof parseFastPath> | undefined> {
    const res = await this.exec(['-j', 'list', 'table', 'netdev', this.table], { signal });
    if (res.code !== 0) {
      if (/No such file or directory|does not exist/i.test(res.stderr)) return undefined;
      throw new HedgeError('Internal', `nft list table netdev ${this.table}: ${res.stderr.trim()}`);
    }
    return parseFastPath(res.stdout);
  }

  private exec(args: string[], opts: Pick<RunOptions, 'input' | 'signal'>): Promise<RunResult> {
    return runNft(this.nft, this.netnsPath, args, opts);
  }

  private async run(script: string, signal?: AbortSignal): Promise<void> {
    const res = await this.exec(['-f', '-'], { input: `${script}\n`, signal });
    if (res.code !== 0) throw new HedgeError('Internal', `nft (${this.table}): ${res.stderr.trim() || `exit ${res.code}`}`);
  }
}

export interface SetElement {
  set: 'allowed4' | 'allowed6';
  ifname: string;
  address: string;
}

/** Reads the `ports` and `allowed4/6` sets out of `nft -j list table bridge <t>`. */
export function parseGuardSets(json: string): { ports: string[]; elements: SetElement[] } {
  const doc = JSON.parse(json) as { nftables?: { set?: { name?: string; elem?: unknown[] } }[] };
  const ports: string[] = [];
  const elements: SetElement[] = [];
  for (const item of doc.nftables ?? []) {
    const s = item.set;
    if (!s?.elem) continue;
    if (s.name === 'ports') {
      for (const e of s.elem) if (typeof e === 'string') ports.push(e);
    } else if (s.name === 'allowed4' || s.name === 'allowed6') {
      for (const e of s.elem) {
        const parts = (e as { concat?: unknown[] }).concat;
        if (Array.isArray(parts) && typeof parts[0] === 'string' && typeof parts[1] === 'string') {
          elements.push({ set: s.name, ifname: parts[0], address: parts[1] });
        }
      }
    }
  }
  return { ports, elements };
}

/** the guard's sets as nft has them: `sets` undefined when the bridge table is missing, `fast` when the netdev one is (or the fast path is off) */
export interface GuardState {
  sets: { ports: string[]; elements: SetElement[] } | undefined;
  fast: ReturnType<typeof parseFastPath> | undefined;
}

/**
 * The transaction guarding `batch` (one entry per interface, the last one's: as if the calls had
 * run one after the other) from state `from`, and the state it leaves.
 */
export function planAllow(t: string, fastPath: boolean, from: GuardState, batch: GuardedPort[]): { script: string[]; next: GuardState } {
  const ports = new Map(batch.map((p) => [p.hostInterface, p]));
  const listed = from.sets;
  const fast = from.fast;
  const script: string[] = [];
  const added: SetElement[] = [];
  for (const [ifn, port] of ports) {
    const v4 = port.addresses.filter((a) => a.family === 4).map((a) => `"${ifn}" . ${a.address}`);
    const v6 = port.addresses.filter((a) => a.family === 6).map((a) => `"${ifn}" . ${a.address}`);
    script.push(
      ...(listed?.elements ?? []).filter((e) => e.ifname === ifn).map((e) => `delete element bridge ${t} ${e.set} { "${ifn}" . ${e.address} }`),
      `add element bridge ${t} ports { "${ifn}" }`,
      ...(v4.length ? [`add element bridge ${t} allowed4 { ${v4.join(', ')} }`] : []),
      ...(v6.length ? [`add element bridge ${t} allowed6 { ${v6.join(', ')} }`] : []),
    );
    added.push(...port.addresses.map((a) => ({ set: a.family === 4 ? ('allowed4' as const) : ('allowed6' as const), ifname: ifn, address: a.address })));
  }
  const next: GuardState = {
    sets: {
      ports: [...new Set([...(listed?.ports ?? []), ...ports.keys()])],
      elements: [...(listed?.elements ?? []).filter((e) => !ports.has(e.ifname)), ...added],
    },
    fast: undefined,
  };
  if (fastPath) {
    // each address goes to the last port claiming it (a pod gone, its address handed out again)
    const claims = new Map<string, string>();
    for (const [ifn, port] of ports) for (const a of port.addresses) claims.set(a.address, ifn);
    // these ports' old entries, and any other port's claim on these addresses
    const drop = (fast?.pods ?? []).filter((p) => ports.has(p.ifname) || claims.has(p.address));
    const own = [...claims].map(([address, ifn]) => ({ address, ifn }));
    const targets = own.flatMap((o) => (ports.get(o.ifn)?.hostPortTargets ?? []).map((h) => ({ address: o.address, element: `${o.address} . ${h.protocol} . ${h.port}` })));
    const kept = (fast?.pods ?? []).filter((p) => !drop.includes(p));
    const hooked = [...new Set([...kept.map((p) => p.ifname), ...own.map((o) => o.ifn)])].sort();
    const dropped = forgottenHostPorts(drop, fast?.hostPorts ?? []);
    script.push(
      ...fastPathDecls(t),
      ...forgetFast(t, drop, fast?.hostPorts ?? []),
      ...FAMILIES.flatMap(({ v }) => {
        const mine = own.filter((o) => familyOfAddress(o.address) === v);
        const hp = targets.filter((x) => familyOfAddress(x.address) === v).map((x) => x.element);
        return [
          ...(hp.length ? [`add element netdev ${t} hostports${v} { ${hp.join(', ')} }`] : []),
          ...(mine.length
            ? [
                `add element netdev ${t} pods${v} { ${mine.map((o) => `"${o.ifn}" . ${o.address}`).join(', ')} }`,
                `add element netdev ${t} port${v} { ${mine.map((o) => `${o.address} : "${o.ifn}"`).join(', ')} }`,
              ]
            : []),
        ];
      }),
      // an existing chain gains the new ports' hooks (ports whose entries were dropped stay hooked,
      // matching nothing, until the next forget rebuilds it); otherwise it is made
      ...(fast?.chain ? fastPathHook(t, [...new Set(own.map((o) => o.ifn))].sort()) : fastPathChain(t, hooked, false)),
    );
    const hostPorts = new Map([...(fast?.hostPorts ?? []).filter((h) => !dropped.includes(h)), ...targets].map((h) => [h.element, h]));
    next.fast = { pods: [...kept, ...own.map((o) => ({ ifname: o.ifn, address: o.address }))], hostPorts: [...hostPorts.values()], chain: (fast?.chain ?? false) || hooked.length > 0 };
  }
  return { script, next };
}

/** The transaction that forgets port `ifn` from state `from` (nothing when it is not there), and the state it leaves. */
export function planForget(t: string, from: GuardState, ifn: string): { script: string[]; next: GuardState } {
  const script: string[] = [];
  const next: GuardState = { sets: from.sets, fast: from.fast };
  const fast = from.fast;
  if (fast?.pods.some((p) => p.ifname === ifn)) {
    const mine = fast.pods.filter((p) => p.ifname === ifn);
    const kept = fast.pods.filter((p) => p.ifname !== ifn);
    const ports = [...new Set(kept.map((p) => p.ifname))].sort();
    script.push(...forgetFast(t, mine, fast.hostPorts), ...fastPathChain(t, ports, fast.chain));
    const dropped = forgottenHostPorts(mine, fast.hostPorts);
    next.fast = { pods: kept, hostPorts: fast.hostPorts.filter((h) => !dropped.includes(h)), chain: ports.length > 0 };
  }
  const listed = from.sets;
  if (listed) {
    script.push(
      ...listed.elements.filter((e) => e.ifname === ifn).map((e) => `delete element bridge ${t} ${e.set} { "${ifn}" . ${e.address} }`),
      ...(listed.ports.includes(ifn) ? [`delete element bridge ${t} ports { "${ifn}" }`] : []),
    );
    next.sets = { ports: listed.ports.filter((p) => p !== ifn), elements: listed.elements.filter((e) => e.ifname !== ifn) };
  }
  return { script, next };
}

/** the hostPort targets that go with `pods` (their addresses) */
function forgottenHostPorts(pods: { address: string }[], hostPorts: { address: string; element: string }[]): { address: string; element: string }[] {
  return hostPorts.filter((h) => pods.some((p) => p.address === h.address));
}

/** deletes fast-path entries of `pods` (ifname . address, in the set of the address's family) and their hostPort targets */
function forgetFast(t: string, pods: { ifname: string; address: string }[], hostPorts: { address: string; element: string }[]): string[] {
  return [
    ...pods.flatMap((p) => {
      const v = familyOfAddress(p.address);
      return [`delete element netdev ${t} pods${v} { "${p.ifname}" . ${p.address} }`, `delete element netdev ${t} port${v} { ${p.address} }`];
    }),
    ...forgottenHostPorts(pods, hostPorts).map((h) => `delete element netdev ${t} hostports${familyOfAddress(h.address)} { ${h.element} }`),
  ];
}

/** `nft args`, in `netnsPath`'s network namespace if given (through nsenter), within NFT_TIMEOUT_MS. */
function runNft(nft: string, netnsPath: string | undefined, args: string[], opts: Pick<RunOptions, 'input' | 'signal'>): Promise<RunResult> {
  const o = { ...opts, timeoutMs: NFT_TIMEOUT_MS };
  return netnsPath ? runCommand('nsenter', [`--net=${netnsPath}`, '--', nft, ...args], o) : runCommand(nft, args, o);
}

/** Guard tables of bridges that no longer exist (`exists` answers per bridge); removes them. */
export async function sweepStaleGuards(
  keep: string,
  exists: (bridge: string) => Promise<boolean>,
  opts: { nft?: string; netnsPath?: string; signal?: AbortSignal } = {},
): Promise<string[]> {
  const nft = opts.nft ?? 'nft';
  const args = ['list', 'tables'];
  const res = await runNft(nft, opts.netnsPath, args, { signal: opts.signal });
  if (res.code !== 0) return [];
  const bridges = new Set<string>();
  for (const line of res.stdout.split('\n')) {
    const m = /^table (?:bridge|inet|netdev) hedge-guard-(\S+)$/.exec(line.trim());
    if (m && m[1] !== keep) bridges.add(m[1]);
  }
  const swept: string[] = [];
  for (const b of bridges) {
    if (!IFNAME_RE.test(b) || (await exists(b))) continue;
    await new PodGuard({ bridge: b, nft, netnsPath: opts.netnsPath }).destroy(opts.signal);
    swept.push(b);
  }
  return swept;
}

export function checkIfname(n: string): string {
  if (!IFNAME_RE.test(n)) throw new HedgeError('Invalid', `${JSON.stringify(n)} is not an interface name`);
  return n;
}

function checkPort(p: number): string {
  if (!Number.isInteger(p) || p < 1 || p > 65535) throw new HedgeError('Invalid', `${p} is not a TCP port`);
  return String(p);
}

export function checkAddress(a: string, family: 4 | 6): string {
  const ok = family === 4 ? /^\d{1,3}(\.\d{1,3}){3}$/.test(a) : /^[0-9a-fA-F:.]+$/.test(a) && a.includes(':');
  if (!ok) throw new HedgeError('Invalid', `${JSON.stringify(a)} is not an IPv${family} address`);
  return a;
}
