/**
 * Shared pieces of the network benches (network-modes, service-proxy): 1-byte request/response
 * clients and servers (node scripts run under nsenter in a pod's namespace), long-lived servers
 * started and stopped by PID, medians, and one cleanup list that also runs on ^C so a bench never
 * leaves namespaces, links, nft tables or CNI state behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { NetworkModeConfig } from '../../src/agent/network/cni-config.ts';
import { runChecked } from '../../src/agent/host/run-command.ts';
import { CniNetworkPlugin } from '../../src/agent/network/cni-plugin.ts';
import { createNetns, removeNetns } from '../../src/agent/network/netns.ts';
import type { NetworkSandbox } from '../../src/agent/network/types.ts';

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** TCP echo: `node -e RR_SERVER <host> <port>`; prints `ready` once listening. */
export const RR_SERVER = `require('net').createServer(s => { s.setNoDelay(true); s.on('data', d => s.write(d)); })
  .listen(+process.argv[2], process.argv[1], () => console.log('ready'));`;
/** TCP_RR over one connection: `node -e RR_CLIENT <host> <port> <n>`; prints round trips per second. */
export const RR_CLIENT = `const [host, port, n] = [process.argv[1], +process.argv[2], +process.argv[3]];
const s = require('net').connect({ host, port, noDelay: true }, () => {
  const b = Buffer.from('x'); let i = 0; const t0 = process.hrtime.bigint();
  s.on('data', (d) => { i += d.length; if (i >= n) { console.log(n / (Number(process.hrtime.bigint() - t0) / 1e9)); s.destroy(); } else s.write(b); });
  s.write(b);
});`;
/** UDP echo: `node -e UDP_RR_SERVER <host> <port>`; prints `ready` once bound. */
export const UDP_RR_SERVER = `const s = require('dgram').createSocket('udp4'); s.on('message', (m, r) => s.send(m, r.port, r.address));
  s.bind(+process.argv[2], process.argv[1], () => console.log('ready'));`;
/** UDP_RR: `node -e UDP_RR_CLIENT <host> <port> <n>`; prints round trips per second (no retransmission: give it a deadline). */
export const UDP_RR_CLIENT = `const [host, port, n] = [process.argv[1], +process.argv[2], +process.argv[3]];
const s = require('dgram').createSocket('udp4'); const b = Buffer.from('x'); let i = 0; let t0;
s.on('message', () => { if (++i >= n) { console.log(n / (Number(process.hrtime.bigint() - t0) / 1e9)); s.close(); } else s.send(b, port, host); });
s.connect(port, host, () => { t0 = process.hrtime.bigint(); s.send(b); });`;

/** the arguments of `nsenter` that run `cmd` in the network namespace pinned at `netns` */
export function nsenter(netns: string, cmd: string[]): string[] {
  return [`--net=${netns}`, '--', ...cmd];
}

/** Starts a long-lived server in the namespace and waits for `readyLine` on its stdout (kept drained after). */
export function startServer(netns: string, cmd: string[], readyLine: RegExp = /ready/): Promise<ChildProcess> {
  const child = spawn('nsenter', nsenter(netns, cmd), { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let seen = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (readyLine.test(seen)) resolve(child);
    });
    child.on('close', () => reject(new Error(`${cmd[0]} exited before it was ready: ${seen}`)));
    child.on('error', reject);
  });
}

/** Kills a server started by `startServer` by its PID and waits for it to be gone. */
export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGKILL');
  await once(child, 'close');
}

/**
 * A bench's cleanup list: `push` what undoes each step as it is done; `run` undoes them newest
 * first, once however often it is called (normal end and a signal may race). SIGINT/SIGTERM run
 * it and exit 130.
 */
export interface CleanupList {
  push(fn: () => Promise<unknown>): void;
  run(): Promise<void>;
}

export function cleanupList(): CleanupList {
  const fns: (() => Promise<unknown>)[] = [];
  let cleaning: Promise<void> | undefined;
  const run = (): Promise<void> => {
    cleaning ??= (async () => {
      for (const fn of fns.reverse()) await fn().catch((e: unknown) => console.error('cleanup:', e));
    })();
    return cleaning;
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      console.error(`${sig}: cleaning up`);
      void run().finally(() => process.exit(130));
    });
  }
  return { push: (fn) => void fns.push(fn), run };
}

/**
 * Pods `a` and `b` on one CNI network of `mode` through the real plugins, their namespaces at
 * `<netnsDir>/<prefix>-a|b`; what tears them and the network down is pushed onto `cleanups` first.
 */
export async function cniPodPair(o: {
  mode: NetworkModeConfig;
  networkName: string;
  dataDir: string;
  netnsDir: string;
  run: string;
  prefix: string;
  cleanups: CleanupList;
  signal: AbortSignal;
}): Promise<{ a: { netnsPath: string; ip: string }; b: { netnsPath: string; ip: string } }> {
  const plugin = new CniNetworkPlugin({ mode: o.mode, dataDir: o.dataDir, netnsDir: o.netnsDir, networkName: o.networkName });
  const sandbox = (n: string): NetworkSandbox => ({
    id: `${o.run}-${o.prefix}-${n}`,
    pod: { uid: `${o.run}-${n}`, namespace: 'bench', name: n },
    netnsPath: `${o.netnsDir}/${o.prefix}-${n}`,
    portMappings: [],
  });
  const [a, b] = [sandbox('a'), sandbox('b')];
  o.cleanups.push(async () => {
    await plugin.tearDown(a, o.signal);
    await plugin.tearDown(b, o.signal);
    await plugin.destroy();
  });
  const ra = await plugin.setUp(a, o.signal);
  const rb = await plugin.setUp(b, o.signal);
  return { a: { netnsPath: a.netnsPath, ip: ra.ips[0]!.address }, b: { netnsPath: b.netnsPath, ip: rb.ips[0]!.address } };
}

/**
 * A "node" network namespace holding a bridge `br0` (10.77.0.1/24) and `pods` pod namespaces on
 * it (10.77.0.2, .3, …; default route via the bridge): veth + bridge as the CNI bridge plugin
 * builds it, but in namespaces of the run's own, so no other tenant's nftables tables or sysctls
 * are on the path. What undoes it is pushed onto `cleanups`.
 */
export async function bridgeNode(o: { nsDir: string; pods: number; cleanups: CleanupList }): Promise<{ node: string; gateway: string; pods: { netnsPath: string; ip: string; hostInterface: string }[] }> {
  const node = `${o.nsDir}/node`;
  const pods = Array.from({ length: o.pods }, (_, i) => ({ netnsPath: `${o.nsDir}/pod-${i}`, ip: `10.77.0.${i + 2}`, hostInterface: `veth${i}` }));
  for (const ns of [node, ...pods.map((p) => p.netnsPath)]) {
    await createNetns(ns);
    o.cleanups.push(() => removeNetns(ns));
  }
  const inNs = (ns: string, cmd: string[]): Promise<unknown> => runChecked('nsenter', nsenter(ns, cmd));
  await inNs(node, ['ip', 'link', 'add', 'br0', 'type', 'bridge']);
  await inNs(node, ['ip', 'addr', 'add', '10.77.0.1/24', 'dev', 'br0']);
  await inNs(node, ['ip', 'link', 'set', 'br0', 'up']);
  for (const p of pods) {
    await runChecked('sh', ['-c', `exec 3<${p.netnsPath}; nsenter --net=${node} ip link add ${p.hostInterface} type veth peer name eth0 netns /proc/self/fd/3`]);
    await inNs(node, ['ip', 'link', 'set', p.hostInterface, 'master', 'br0', 'up']);
    await inNs(p.netnsPath, ['ip', 'addr', 'add', `${p.ip}/24`, 'dev', 'eth0']);
    await inNs(p.netnsPath, ['ip', 'link', 'set', 'eth0', 'up']);
    await inNs(p.netnsPath, ['ip', 'route', 'add', 'default', 'via', '10.77.0.1']);
  }
  return { node, gateway: '10.77.0.1', pods };
}
