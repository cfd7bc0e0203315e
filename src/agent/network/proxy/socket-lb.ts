/**
 * The socket-level balancer (bpf/sock-lb.c): cgroup connect/sendmsg/recvmsg hooks on the node's
 * own cgroup2 subtree rewrite a ClusterIP:port to an endpoint when a pod's socket connects or
 * sends, so its packets carry the endpoint address and skip the nftables DNAT and its per-packet
 * NAT. Loaded, attached and fed through `bpftool` (programs and maps pinned under
 * /sys/fs/bpf/hedge-<node>/, one `bpftool batch file -` per proxy sync); what it does not take
 * keeps the nftables path (see `socketLbEntries`).
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rename, rm, rmdir, stat } from 'node:fs/promises';
import { endianness } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HedgeError } from '../../../lib/errors.ts';
import type { Logger } from '../../../lib/log.ts';
import { runCommand } from '../../host/run-command.ts';
import { parseIp } from '../../../lib/cidr.ts';
import type { ProxyServicePort } from './model.ts';

/** endpoints one map value holds (MAX_EP in sock-lb.c); a Service port with more keeps the nftables path */
export const SOCKET_LB_MAX_ENDPOINTS = 64;

const PROTO_NUMBER = { tcp: 6, udp: 17 } as const;
/** hook → program name in sock-lb.c (`hedge_<hook>`) */
export const SOCKET_LB_HOOKS = ['connect4', 'sendmsg4', 'recvmsg4', 'connect6', 'sendmsg6', 'recvmsg6'] as const;

const hex = (bytes: number[]): string => bytes.map((b) => b.toString(16).padStart(2, '0')).join(' ');
const be16 = (n: number): number[] => [(n >> 8) & 0xff, n & 0xff];
/** the map value's count is a host-order __u32 */
const u32host = (n: number): number[] => {
  const b = [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >>> 24) & 0xff];
  return endianness() === 'LE' ? b : b.reverse();
};
function ipBytes(ip: string, family: 4 | 6): number[] {
  const p = parseIp(ip);
  if (!p || p.family !== family) throw new HedgeError('Invalid', `socket balancer: ${ip} is no IPv${family} address`);
  const out: number[] = [];
  for (let shift = BigInt((family === 4 ? 4 : 16) * 8 - 8); shift >= 0n; shift -= 8n) out.push(Number((p.value >> shift) & 0xffn));
  return out;
}

/** Why a Service port keeps the nftables path, or undefined when the balancer takes it. */
export function socketLbSkip(p: ProxyServicePort): string | undefined {
  if (p.protocol === 'sctp') return 'sctp';
  if (p.affinitySeconds !== undefined) return 'sessionAffinity ClientIP';
  if (p.endpoints.length === 0) return 'no endpoints (nftables rejects)';
  if (p.endpoints.length > SOCKET_LB_MAX_ENDPOINTS) return `more than ${SOCKET_LB_MAX_ENDPOINTS} endpoints`;
  // rewritten in the pod, a loopback address would be the pod's own (DNAT leaves it to the node's routing)
  if (p.endpoints.some((e) => e.ip.startsWith('127.') || e.ip === '::1')) return 'a loopback endpoint';
  return undefined;
}

/**
 * The svc4 (family 4) or svc6 map's contents for the proxy's model of that family, as bpftool hex:
 * key `ip . port(be16) . proto . pad`, value `count(u32) . pad(u32) . MAX_EP × (ip . port(be16) . pad(u16))`.
 * The endpoints are the ones the nftables rules pick among (readiness, internalTrafficPolicy,
 * topology preference are in the model already). Ports `socketLbSkip` names are left out.
 */
export function socketLbEntries(ports: ProxyServicePort[], family: 4 | 6): Map<string, string> {
  const out = new Map<string, string>();
  const epSize = family === 4 ? 8 : 20;
  for (const p of ports) {
    if (socketLbSkip(p) !== undefined || p.protocol === 'sctp') continue;
    const key = [...ipBytes(p.clusterIP, family), ...be16(p.port), PROTO_NUMBER[p.protocol], 0];
    // endpoints in a stable order: the same set renders the same value (no rewrite per sync)
    const eps = [...p.endpoints].sort((a, b) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : a.port - b.port));
    const value = [...u32host(eps.length), 0, 0, 0, 0];
    for (const ep of eps) value.push(...ipBytes(ep.ip, family), ...be16(ep.port), 0, 0);
    value.push(...new Array<number>((SOCKET_LB_MAX_ENDPOINTS - eps.length) * epSize).fill(0));
    out.set(hex(key), hex(value));
  }
  return out;
}

export interface SocketLbMaps {
  v4: Map<string, string>;
  v6: Map<string, string>;
}

/**
 * One `bpftool batch` script taking the maps from `have` to `want`: deletes of keys gone, updates
 * of keys new or changed (each update replaces one element atomically: a connect sees the old
 * endpoint set or the new one). Empty when nothing changed.
 */
export function renderSocketLbBatch(pinDir: string, want: SocketLbMaps, have: SocketLbMaps): string {
  const lines: string[] = [];
  for (const [fam, map] of [['v4', 'svc4'], ['v6', 'svc6']] as const) {
    const path = join(pinDir, 'maps', map);
    for (const k of have[fam].keys()) if (!want[fam].has(k)) lines.push(`map delete pinned ${path} key hex ${k}`);
    for (const [k, v] of want[fam]) if (have[fam].get(k) !== v) lines.push(`map update pinned ${path} key hex ${k} value hex ${v}`);
  }
  return lines.length ? `${lines.join('\n')}\n` : '';
}

export interface SocketBalancerOptions {
  /** names the pin directory /sys/fs/bpf/hedge-<name> */
  name: string;
  /** the cgroup2 directory the hooks attach to: the node's pods' parent (runc joins it on a hybrid host) */
  cgroup: string;
  /** where the compiled object is cached (`sock-lb-<hash>.o`) */
  cacheDir: string;
  logger: Logger;
  bpftool?: string;
  clang?: string;
  /** bpffs mount (default /sys/fs/bpf) */
  bpffs?: string;
}

const SOURCE = join(dirname(fileURLToPath(import.meta.url)), 'bpf', 'sock-lb.c');

/** `/sys/fs/cgroup/unified` on a hybrid host, `/sys/fs/cgroup` on a cgroup2-only one, undefined without cgroup2 */
export async function cgroup2Mount(cgroupRoot = '/sys/fs/cgroup'): Promise<string | undefined> {
  for (const dir of [join(cgroupRoot, 'unified'), cgroupRoot]) {
    if (await stat(join(dir, 'cgroup.procs')).then((s) => s.isFile(), () => false)) {
      // the v1 hierarchies have cgroup.procs too: cgroup2 has cgroup.controllers
      if (await stat(join(dir, 'cgroup.controllers')).then(() => true, () => false)) return dir;
    }
  }
  return undefined;
}

async function run(cmd: string, args: string[], o: { input?: string; signal?: AbortSignal } = {}): Promise<string> {
  const r = await runCommand(cmd, args, { ...o, timeoutMs: 60_000 });
  if (r.code !== 0) throw new HedgeError('Internal', `${cmd} ${args.slice(0, 4).join(' ')}${args.length > 4 ? ' …' : ''} exited ${r.code}: ${(r.stderr || r.stdout).trim().split('\n').slice(-4).join(' | ')}`);
  return r.stdout;
}

/** What the service proxy needs of a balancer (tests pass a recording one). */
export interface SocketLb {
  readonly pinDir: string;
  readonly cgroup: string;
  start(signal?: AbortSignal): Promise<void>;
  /** brings the maps to the model; the number of Service ports the balancer holds */
  sync(model4: ProxyServicePort[], model6: ProxyServicePort[], signal?: AbortSignal): Promise<number>;
  close(): Promise<void>;
}

/**
 * The balancer of one node. `start` compiles (cached), loads, pins and attaches; `sync` brings
 * the maps to the proxy's model; `close` detaches and unpins. A previous run's pins (a node that
 * was killed) are detached and removed at `start`.
 */
export class SocketBalancer implements SocketLb {
  readonly pinDir: string;
  readonly cgroup: string;
  readonly #o: SocketBalancerOptions;
  readonly #bpftool: string;
  /** what the maps hold, as far as the last successful batch says; undefined: read them back first */
  #have: SocketLbMaps | undefined;

  constructor(o: SocketBalancerOptions) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$/.test(o.name)) throw new HedgeError('Invalid', `socket balancer name ${o.name}: letters, digits, . _ - only`);
    this.#o = o;
    this.cgroup = o.cgroup;
    this.#bpftool = o.bpftool ?? 'bpftool';
    this.pinDir = join(o.bpffs ?? '/sys/fs/bpf', `hedge-${o.name}`);
  }

  /** the object file for this source and compiler, compiled once into the cache */
  async #object(signal?: AbortSignal): Promise<string> {
    const clang = this.#o.clang ?? 'clang';
    const src = await readFile(SOURCE);
    const version = await run(clang, ['--version'], { signal });
    const id = createHash('sha256').update(src).update(version).digest('hex').slice(0, 16);
    const obj = join(this.#o.cacheDir, `sock-lb-${id}.o`);
    if (await stat(obj).then(() => true, () => false)) return obj;
    await mkdir(this.#o.cacheDir, { recursive: true });
    const multiarch = process.arch === 'arm64' ? 'aarch64-linux-gnu' : 'x86_64-linux-gnu';
    const tmp = `${obj}.tmp-${process.pid}`;
    await run(clang, ['-O2', '-g', '-Wall', '-Werror', '-target', 'bpf', `-I/usr/include/${multiarch}`, '-c', SOURCE, '-o', tmp], { signal });
    await rename(tmp, obj);
    return obj;
  }

  async #ensureBpffs(signal?: AbortSignal): Promise<void> {
    const fs = this.#o.bpffs ?? '/sys/fs/bpf';
    const mounts = await readFile('/proc/self/mounts', 'utf8');
    if (mounts.split('\n').some((l) => l.split(' ')[1] === fs && l.split(' ')[2] === 'bpf')) return;
    // the standard place for pinned BPF objects (systemd mounts it on most hosts); shared by all
    await mkdir(fs, { recursive: true });
    await run('mount', ['-t', 'bpf', 'bpf', fs], { signal });
  }

  /** detach what a previous run pinned here and remove the pins (no-op when there are none) */
  async #cleanup(signal?: AbortSignal): Promise<void> {
    const progs = join(this.pinDir, 'prog');
    const names = await readdir(progs).catch(() => [] as string[]);
    for (const hook of SOCKET_LB_HOOKS) {
      if (!names.includes(`hedge_${hook}`)) continue;
      // not attached (any more) or the cgroup is gone: nothing to detach
      await runCommand(this.#bpftool, ['cgroup', 'detach', this.#o.cgroup, hook, 'pinned', join(progs, `hedge_${hook}`)], { signal, timeoutMs: 30_000 });
    }
    await rm(this.pinDir, { recursive: true, force: true });
  }

  async start(signal?: AbortSignal): Promise<void> {
    const obj = await this.#object(signal);
    await this.#ensureBpffs(signal);
    await this.#cleanup(signal);
    await mkdir(this.#o.cgroup, { recursive: true });
    await mkdir(this.pinDir, { recursive: true });
    try {
      await run(this.#bpftool, ['prog', 'loadall', obj, join(this.pinDir, 'prog'), 'pinmaps', join(this.pinDir, 'maps')], { signal });
      const batch = SOCKET_LB_HOOKS.map((h) => `cgroup attach ${this.#o.cgroup} ${h} pinned ${join(this.pinDir, 'prog', `hedge_${h}`)} multi`).join('\n');
      await run(this.#bpftool, ['batch', 'file', '-'], { input: `${batch}\n`, signal });
    } catch (err) {
      await this.close();
      throw err;
    }
    this.#have = { v4: new Map(), v6: new Map() };
  }

  /** the maps' keys as the kernel has them (after a failed batch, what got applied is unknown) */
  async #readBack(signal?: AbortSignal): Promise<SocketLbMaps> {
    const read = async (map: string): Promise<Map<string, string>> => {
      const out = await run(this.#bpftool, ['-j', 'map', 'dump', 'pinned', join(this.pinDir, 'maps', map)], { signal });
      const elems = JSON.parse(out || '[]') as { key: string[]; value: string[] }[];
      const bytes = (xs: string[]): string => xs.map((x) => x.replace(/^0x/, '').padStart(2, '0')).join(' ');
      return new Map(elems.map((e) => [bytes(e.key), bytes(e.value)]));
    };
    return { v4: await read('svc4'), v6: await read('svc6') };
  }

  /** brings svc4/svc6 to the model (one bpftool process); returns the number of Service ports balanced */
  async sync(model4: ProxyServicePort[], model6: ProxyServicePort[], signal?: AbortSignal): Promise<number> {
    const want: SocketLbMaps = { v4: socketLbEntries(model4, 4), v6: socketLbEntries(model6, 6) };
    const have = this.#have ?? (await this.#readBack(signal));
    const script = renderSocketLbBatch(this.pinDir, want, have);
    this.#have = undefined;
    if (script) await run(this.#bpftool, ['batch', 'file', '-'], { input: script, signal });
    this.#have = want;
    return want.v4.size + want.v6.size;
  }

  /**
   * detach, unpin; the node's cgroup2 directory goes too when no pod is left in it. Whatever this
   * run got to: a start cut short by its signal (a node stopped while the balancer loads) may have
   * made the pin directory, or pinned some programs, before it knew (no pins: a readdir and an rm)
   */
  async close(): Promise<void> {
    await this.#cleanup().catch((err: unknown) => this.#o.logger.warn({ err }, 'socket balancer: cleanup failed'));
    this.#have = undefined;
    await rmdir(this.#o.cgroup).catch(() => undefined);
  }
}

/**
 * The node's balancer, or undefined (said in the log) where it cannot be: no cgroup2 hierarchy
 * (the hooks attach to one), no bpftool or clang. Its hooks go on <cgroup2>/<cgroupName>, the
 * parent runc puts this node's pods under (in hybrid mode too): other nodes on the host and the
 * host's own processes are not affected.
 */
export async function nodeSocketBalancer(o: { nodeName: string; cgroupName: string; dataDir: string; logger: Logger; cgroupMount?: string }): Promise<SocketBalancer | undefined> {
  const log = o.logger.child({ component: 'service-proxy' });
  const cg2 = await cgroup2Mount(o.cgroupMount);
  const missing = cg2 === undefined ? 'no cgroup2 hierarchy' : (await Promise.all(['bpftool', 'clang'].map(async (b) => ((await runCommand(b, ['--version']).catch(() => ({ code: -1 }))).code === 0 ? undefined : b)))).filter(Boolean).join(', ');
  if (missing) {
    log.warn(`socket balancer unavailable (${missing === 'no cgroup2 hierarchy' ? missing : `no ${missing}: scripts/setup.sh installs it`}): ClusterIP traffic takes the nftables DNAT path`);
    return undefined;
  }
  return new SocketBalancer({ name: o.nodeName, cgroup: join(cg2!, o.cgroupName), cacheDir: join(o.dataDir, 'bpf'), logger: log });
}
