/**
 * Runs the real `hedge node` as a child process beside a `startHedgeServer` control plane, with
 * its own data dir, netns dir, cgroup root, bridge and pod subnet so parallel test files never
 * share host state; and finds (and, in cleanup, removes) whatever host state it left.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { request } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NETNS_POOL_STATE_FILE, type PooledNetwork } from '../../src/agent/network/netns-pool.ts';
import { removeNodeMasq } from '../../src/agent/network/node-masq.ts';
import { missingTools } from '../../src/agent/runtime/oci/test-support.ts';
import { REPO_ROOT, run, type RunResult } from './harness.ts';

const HEDGE_BIN = join(REPO_ROOT, 'bin', 'hedge.js');
/**
 * What a (re)start runs, read at each start so a bench can vary it between restarts of one node:
 * node's own flags from HEDGE_E2E_NODE_FLAGS (V8 flags that NODE_OPTIONS refuses, given on the
 * command line as the bin/hedge.js launcher does), then HEDGE_E2E_NODE_BIN (another checkout's
 * build, to compare against) or bin/hedge.js.
 */
const nodeCommand = (): string[] => [...(process.env.HEDGE_E2E_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean), process.env.HEDGE_E2E_NODE_BIN || HEDGE_BIN];
const CGROUP_V1 = '/sys/fs/cgroup';

/**
 * One GET straight to a node's kubelet-style server on 127.0.0.1:`port` (not through the
 * apiserver), as `cert`/`key` or with a bearer `token`. The server's certificate is from the
 * node's throwaway CA, so it is not verified; with `pinned` its SHA-256 fingerprint must be that.
 */
export function nodeServerGet(opts: { port: number; path: string; cert?: string; key?: string; token?: string; pinned?: string }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers = opts.token === undefined ? {} : { authorization: `Bearer ${opts.token}` };
    // agent: false: a reused keep-alive socket reports no peer certificate
    const req = request({ host: '127.0.0.1', port: opts.port, path: opts.path, cert: opts.cert, key: opts.key, headers, rejectUnauthorized: false, agent: false }, (res) => {
      const peer = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
      if (opts.pinned !== undefined && peer !== opts.pinned) reject(new Error(`node server certificate ${peer} is not the node's ${opts.pinned}`));
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** the networks a node keeps made for its next pods (its pool's state file; none when it has not written one) */
export async function pooledNetworks(dataDir: string): Promise<PooledNetwork[]> {
  try {
    return JSON.parse(await readFile(join(dataDir, NETNS_POOL_STATE_FILE), 'utf8')) as PooledNetwork[];
  } catch {
    return [];
  }
}

export interface NodeHostState {
  /** pinned network namespaces */
  netns: string[];
  /** conmon processes whose bundle lives under the data dir */
  conmonPids: number[];
  /** pod cgroup dirs (memory controller) */
  podCgroups: string[];
  /** interfaces enslaved to the node's bridge */
  bridgePorts: string[];
  /** mount points under the data dir */
  mounts: string[];
}

export interface HedgeNode {
  nodeName: string;
  dataDir: string;
  netnsDir: string;
  cgroupRoot: string;
  bridge: string;
  /** '' when the node takes the podCIDR the cluster assigns */
  podSubnet: string;
  pid(): number;
  running(): boolean;
  output(): string;
  /** (re)start the process; resolves on its ready line */
  start(): Promise<void>;
  stop(): Promise<void>;
  kill9(): Promise<void>;
  /**
   * What the node holds on the host. The networks it keeps made for its next pods
   * (network/netns-pool.ts) are not counted unless `withPool` (cleanup frees them too).
   */
  hostState(o?: { withPool?: boolean }): Promise<NodeHostState>;
  /** best effort: kill leftover containers, unmount, remove netns/cgroups/bridge/data dir */
  cleanup(): Promise<void>;
}

/** Reasons an edge-node test cannot run here, or undefined. */
export function edgeNodeSkipReason(binaries: string[]): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (namespaces, cgroups, mounts)';
  const missing = binaries.filter((b) => !existsSync(b));
  return missing.length ? `missing ${missing.join(', ')} (run scripts/setup.sh)` : undefined;
}

/**
 * Why a microVM pod cannot run on this machine, or undefined when it can: qemu and the tools that
 * build its disk and network, a guest kernel, a C compiler for the guest agent, a static busybox.
 */
export function microvmSkipReason(): string | undefined {
  const missing = ['/usr/bin/qemu-system-x86_64', '/usr/sbin/tc', '/usr/sbin/mkfs.ext4', '/usr/bin/xz'].filter((b) => !existsSync(b));
  if (missing.length) return `missing ${missing.join(', ')} (run scripts/setup.sh)`;
  const kernels = existsSync('/usr/lib/modules') ? readdirSync('/usr/lib/modules').filter((k) => existsSync(`/boot/vmlinuz-${k}`)) : [];
  if (!kernels.length) return 'no guest kernel: apt-get install --no-install-recommends linux-image-amd64 (scripts/setup.sh)';
  if (missingTools(['musl-gcc', 'gcc']).length === 2) return 'no C compiler for the guest agent: apt-get install musl-tools (scripts/setup.sh)';
  try {
    execFileSync('sh', ['-c', 'ldd /bin/busybox'], { stdio: 'ignore' });
    return '/bin/busybox is dynamically linked: install busybox-static';
  } catch {
    return undefined;
  }
}

function waitExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => child.once('exit', () => r()));
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

async function procCmdlines(): Promise<{ pid: number; argv: string[] }[]> {
  const out: { pid: number; argv: string[] }[] = [];
  for (const d of await readdir('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const raw = await readFile(`/proc/${d}/cmdline`, 'utf8').catch(() => '');
    if (raw) out.push({ pid: Number(d), argv: raw.split('\0').filter((s) => s !== '') });
  }
  return out;
}

async function cgroupPodDirs(root: string): Promise<string[]> {
  const base = join(CGROUP_V1, 'memory', root);
  const names = await readdir(base).catch(() => [] as string[]);
  return names.filter((n) => n.startsWith('pod')).map((n) => join(base, n));
}

async function mountsUnder(dir: string): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((p) => p === dir || p.startsWith(`${dir}/`));
}

export async function startHedgeNode(opts: {
  kubeconfig: string;
  nodeName: string;
  runtimes?: string[];
  extraArgs?: string[];
  /** environment on top of this process's (e.g. NODE_OPTIONS), for every (re)start */
  env?: NodeJS.ProcessEnv;
  /** run inside this network namespace (a /run/netns path; nsenter --net, not `ip netns exec`, which hides the cgroup mounts) */
  netns?: string;
  /** --pod-subnet; default a random /24 in 10.200.0.0/13; null = none (the podCIDR the cluster assigns) */
  podSubnet?: string | null;
  /** --internal-ip; default 127.0.0.1 */
  internalIP?: string;
  /**
   * called with the node as soon as its process is spawned, before it is ready: register it for
   * cleanup here, so a start that fails (or a sibling's failure in the same hook) leaks nothing
   */
  onSpawned?: (node: HedgeNode) => void;
}): Promise<HedgeNode> {
  const rand = Math.floor(Math.random() * 0xffffff).toString(16).padStart(6, '0');
  const dataDir = await mkdtemp(join(tmpdir(), 'hedge-node-e2e-'));
  const netnsDir = `/run/hedge/e2e-${rand}/netns`;
  const cgroupRoot = `hedge-e2e-${rand}`;
  const bridge = `hx${rand}`;
  // a random /24 in 10.200.0.0/13, away from the default 10.88.0.0/16
  const podSubnet = opts.podSubnet === null ? '' : (opts.podSubnet ?? `10.${200 + Math.floor(Math.random() * 8)}.${Math.floor(Math.random() * 256)}.0/24`);
  // host state of a node in its own network namespace is looked at (and removed) in there
  const inNetns = (cmd: string, cmdArgs: string[]): Promise<RunResult> =>
    opts.netns ? run('nsenter', [`--net=${opts.netns}`, cmd, ...cmdArgs]) : run(cmd, cmdArgs);
  const args = [
    'node',
    '--kubeconfig', opts.kubeconfig,
    '--node-name', opts.nodeName,
    '--data-dir', dataDir,
    '--listen', '127.0.0.1:0',
    '--internal-ip', opts.internalIP ?? '127.0.0.1',
    ...(podSubnet ? ['--pod-subnet', podSubnet] : []),
    '--bridge', bridge,
    '--netns-dir', netnsDir,
    '--cgroup-root', cgroupRoot,
    '--runtimes', (opts.runtimes ?? ['runc', 'gvisor']).join(','),
    '--log-level', 'warn',
    // the ingress listeners default to 80/443, which parallel nodes cannot share: a test that
    // wants them gives its own ports in extraArgs (a later flag wins)
    '--ingress-http-port', '0',
    '--ingress-https-port', '0',
    ...(opts.extraArgs ?? []),
  ];
  let child: ChildProcess | undefined;
  let out = '';

  const node: HedgeNode = {
    nodeName: opts.nodeName,
    dataDir,
    netnsDir,
    cgroupRoot,
    bridge,
    podSubnet,
    pid: () => child?.pid ?? 0,
    running: () => child !== undefined && child.exitCode === null && child.signalCode === null,
    output: () => out,
    async start() {
      const spawnOpts = { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] as ['ignore', 'pipe', 'pipe'], env: opts.env ? { ...process.env, ...opts.env } : process.env };
      const argv = [...nodeCommand(), ...args];
      const c = opts.netns ? spawn('nsenter', [`--net=${opts.netns}`, process.execPath, ...argv], spawnOpts) : spawn(process.execPath, argv, spawnOpts);
      child = c;
      live.add(c);
      c.once('exit', () => live.delete(c));
      const ready = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`hedge node not ready in 120 s\n${out}`)), 120_000);
        const onData = (d: Buffer): void => {
          out += d.toString();
          if (/hedge node \S+ ready/.test(out.slice(-2000))) {
            clearTimeout(timer);
            resolve();
          }
        };
        c.stdout?.on('data', onData);
        c.stderr?.on('data', onData);
        c.once('exit', (code, sig) => {
          clearTimeout(timer);
          reject(new Error(`hedge node exited (${code ?? sig}) before ready\n${out}`));
        });
      });
      // later exits must not turn into unhandled rejections
      ready.catch(() => undefined);
      await ready;
    },
    async stop() {
      const c = child;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      c.kill('SIGTERM');
      const t = setTimeout(() => c.pid && process.kill(c.pid, 'SIGKILL'), 15_000);
      await waitExit(c);
      clearTimeout(t);
    },
    async kill9() {
      const c = child;
      if (!c?.pid || c.exitCode !== null || c.signalCode !== null) return;
      process.kill(c.pid, 'SIGKILL');
      await waitExit(c);
    },
    async hostState(o = {}) {
      const procs = await procCmdlines();
      const conmonPids = procs
        .filter((p) => p.argv[0]?.endsWith('conmon') && p.argv.some((a) => a.startsWith(dataDir)))
        .map((p) => p.pid);
      const pooled = o.withPool ? [] : await pooledNetworks(dataDir);
      const netns = (await readdir(netnsDir).catch(() => [] as string[])).filter((n) => !pooled.some((p) => p.id === n));
      const ports = await inNetns('ip', ['-o', 'link', 'show', 'master', bridge]);
      // `ip -o link` lines read "N: veth1234@if2: <...>"
      const portName = (line: string): string => line.split(':')[1]?.trim().split('@')[0] ?? '';
      return {
        netns,
        conmonPids,
        podCgroups: await cgroupPodDirs(cgroupRoot),
        bridgePorts: ports.code === 0 ? ports.stdout.split('\n').filter((l) => l.trim() !== '' && !pooled.some((p) => p.hostInterface === portName(l))) : [],
        mounts: await mountsUnder(dataDir),
      };
    },
    async cleanup() {
      // the host state goes even when the stop fails; the failure is thrown at the end
      const stopFailure = await node.stop().then(() => undefined, (err: unknown) => err ?? new Error('node stop failed'));
      const st = await node.hostState({ withPool: true });
      for (const pid of st.conmonPids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      // container processes (runc inits, gVisor sandboxes) live in the pods' cgroups
      for (const dir of st.podCgroups) {
        const procs = await run('sh', ['-c', `find ${dir.replace('/memory/', '/pids/')} -name cgroup.procs -exec cat {} + 2>/dev/null`]);
        for (const pid of procs.stdout.split('\n').filter((s) => /^\d+$/.test(s))) {
          try {
            process.kill(Number(pid), 'SIGKILL');
          } catch {
            // gone
          }
        }
      }
      for (const m of st.mounts.sort((a, b) => b.length - a.length)) await run('umount', ['-l', m]);
      for (const ns of st.netns) {
        await run('umount', [join(netnsDir, ns)]);
      }
      await rm(join(netnsDir, '..'), { recursive: true, force: true });
      // unified: the cgroup2 directories runc makes beside the v1 ones on a hybrid host
      for (const ctl of ['memory', 'cpu', 'cpuacct', 'pids', 'cpuset', 'blkio', 'freezer', 'devices', 'hugetlb', 'unified']) {
        await run('sh', ['-c', `find ${join(CGROUP_V1, ctl, cgroupRoot)} -depth -type d -exec rmdir {} + 2>/dev/null; true`]);
      }
      // a node killed before it could detach its socket balancer leaves its pins (they go with its cgroup above)
      await rm(`/sys/fs/bpf/hedge-${opts.nodeName}`, { recursive: true, force: true });
      await inNetns('ip', ['link', 'del', bridge]);
      // the node's masquerade rules outlive it by design too (a node on the host's network: in a netns
      // of its own they go with the netns); the next node's start sweeps them, a test does not wait for one
      if (!opts.netns) await removeNodeMasq({ bridge });
      // the node's nftables guard (src/agent/network/guard) outlives it by design
      for (const family of ['netdev', 'bridge', 'inet']) await inNetns('nft', ['delete', 'table', family, `hedge-guard-${bridge}`]);
      await rm(dataDir, { recursive: true, force: true });
      if (stopFailure !== undefined) throw stopFailure;
    },
  };
  opts.onSpawned?.(node);
  try {
    await node.start();
  } catch (err) {
    // nobody registered it: remove its process and host state here
    if (!opts.onSpawned) await node.cleanup().catch(() => undefined);
    throw err;
  }
  return node;
}
