/**
 * The network bench per runtime: the same measurements taken from inside real workloads run by
 * the real runtime handlers (OciRuntimeHandler with runc and with runsc, MicroVmRuntimeHandler),
 * in pod network namespaces the CNI plugins built. The workload is `netbench` (netbench.c, built
 * static here), so one binary runs as a bare process, in a runc or gVisor container and in a
 * microVM guest alike: a server container in pod A, a client container in pod B (per sample),
 * both of the runtime under test.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from '../../src/agent/host/process.ts';
import { runChecked } from '../../src/agent/host/run-command.ts';
import { buildGuest } from '../../src/agent/runtime/microvm/guest-artifacts.ts';
import { MicroVmRuntimeHandler } from '../../src/agent/runtime/microvm/index.ts';
import { microvmSkipReason } from '../../src/agent/runtime/microvm/testing/host.ts';
import { OciRuntimeHandler } from '../../src/agent/runtime/oci/oci-handler.ts';
import { containerConfig, makeBusyboxRootfs, missingTools, sandboxConfig } from '../../src/agent/runtime/oci/test-support.ts';
import type { ContainerConfig, ContainerId, RuntimeHandler, SandboxId } from '../../src/agent/runtime/types.ts';
import type { Accelerator } from '../../src/agent/runtime/microvm/vm.ts';
import { silentLogger } from '../../src/lib/log.ts';
import { nsenter, startServer, stop } from './netns-rr.ts';

export const NETBENCH_PORT = 7170;

export interface NetSample {
  /** ping RTTs in ms from inside the client workload (empty when its ping could not run there) */
  pingsMs: number[];
  tcpRr: number;
  udpRr: number;
  bits128: number;
  bits1024: number;
}

/** A static build of netbench.c into `dir` (musl-gcc from musl-tools when present, as the microVM guest agent; else gcc); returns its path. */
export function buildNetbench(dir: string): string {
  const src = join(dirname(fileURLToPath(import.meta.url)), 'netbench.c');
  const out = join(dir, 'netbench');
  const cc = missingTools(['musl-gcc']).length === 0 ? 'musl-gcc' : 'gcc';
  execFileSync(cc, ['-static', '-O2', '-o', out, src], { stdio: ['ignore', 'ignore', 'pipe'] });
  return out;
}

export function parseSample(line: string): NetSample {
  const j = JSON.parse(line) as { tcp_rr: number; udp_rr: number; bits128: number; bits1024: number };
  return { pingsMs: [], tcpRr: j.tcp_rr, udpRr: j.udp_rr, bits128: j.bits128, bits1024: j.bits1024 };
}

/** A busybox rootfs with netbench at /netbench (the image every runtime runs). */
export function netbenchRootfs(dir: string, binary: string): string {
  makeBusyboxRootfs(dir);
  execFileSync('ln', ['-s', 'busybox', join(dir, 'bin', 'ping')]);
  execFileSync('cp', [binary, join(dir, 'netbench')]);
  return dir;
}

export interface RuntimeCase {
  /** column label, e.g. `microVM (tcg)` */
  label: string;
  handler: RuntimeHandler;
}

/**
 * The handlers asked for that can run here; the others are returned with the reason they cannot
 * (printed beside the table).
 */
export async function runtimeCases(o: {
  names: string[];
  stateDir: string;
  accelerator: Accelerator | 'auto';
  signal: AbortSignal;
}): Promise<{ cases: RuntimeCase[]; skipped: string[] }> {
  const cases: RuntimeCase[] = [];
  const skipped: string[] = [];
  const logger = silentLogger();
  for (const name of o.names) {
    if (name === 'runc' || name === 'gvisor') {
      const kind = name === 'runc' ? ('runc' as const) : ('runsc' as const);
      const binary = kind === 'runc' ? '/usr/sbin/runc' : '/usr/bin/runsc';
      const miss = missingTools(['conmon', binary]);
      if (miss.length) {
        skipped.push(`${name}: missing ${miss.join(', ')}`);
        continue;
      }
      const globalArgs = kind === 'runsc' ? ['--network=host', '--platform=ptrace'] : [];
      const handler = new OciRuntimeHandler({ name, runtime: { binary, kind, globalArgs }, stateDir: join(o.stateDir, name), conmonBinary: 'conmon', logger });
      cases.push({ label: name === 'runc' ? 'runc' : 'gVisor (runsc, ptrace)', handler });
    } else if (name === 'microvm') {
      const skip = microvmSkipReason();
      if (skip) {
        skipped.push(`microVM: ${skip}`);
        continue;
      }
      const guest = await buildGuest({ outRoot: '/tmp/hedge-guest-cache', signal: o.signal });
      // a generous boot limit: TCG on a loaded shared machine is slow to boot
      const handler = new MicroVmRuntimeHandler({ stateDir: join(o.stateDir, 'microvm'), guest, logger, accelerator: o.accelerator, bootTimeoutMs: 180_000 });
      const accel = await handler.detectAccelerator(o.signal);
      cases.push({ label: `microVM (${accel})`, handler });
    } else skipped.push(`${name}: unknown runtime (runc, gvisor, microvm)`);
  }
  return { cases, skipped };
}

/** the CRI log line holding netbench's JSON result */
function resultLine(logPath: string): string | undefined {
  const text = readFileSync(logPath, 'utf8');
  for (const line of text.split('\n')) {
    const i = line.indexOf('{"tcp_rr"');
    if (i >= 0) return line.slice(i);
  }
  return undefined;
}

/**
 * Runs one runtime across a pod pair: sandboxes in both pods' namespaces, the server container
 * in A, then `samples` client containers in B (each does all four measurements); everything is
 * removed before it returns.
 */
export async function measureRuntime(o: {
  rc: RuntimeCase;
  a: { netnsPath: string; ip: string };
  b: { netnsPath: string; ip: string };
  rootfs: string;
  workDir: string;
  tag: string;
  samples: number;
  rrCount: number;
  seconds: number;
  pings: number;
  cgroupParent: string;
  signal: AbortSignal;
}): Promise<NetSample[]> {
  const h = o.rc.handler;
  const sig = o.signal;
  const ids: ContainerId[] = [];
  const sandboxes: SandboxId[] = [];
  const out: NetSample[] = [];
  await mkdir(join(o.workDir, 'logs'), { recursive: true });
  const sandbox = async (side: 'a' | 'b', netnsPath: string): Promise<SandboxId> => {
    const id = `${o.tag}-${side}`;
    const cfg = sandboxConfig({ id, stateDir: join(o.workDir, 'sb', id), netnsPath, cgroupParent: `${o.cgroupParent}/${id}` });
    await h.createSandbox({ ...cfg, resources: { memoryBytes: 256 << 20, cpuMilli: 2000 } }, sig);
    sandboxes.push(cfg.id);
    return cfg.id;
  };
  const container = (id: string, sandboxId: SandboxId, command: string[]): ContainerConfig => ({
    ...containerConfig({ id, sandboxId, rootfs: o.rootfs, command, logPath: join(o.workDir, 'logs', `${id}.log`) }),
    image: { ref: 'hedge-bench/netbench:local', digest: 'sha256:netbench' },
    // no CPU limit, and a request worth the default 1024 shares: on a shared machine a small request
    // would measure the CFS weight, not the runtime
    resources: { cpuRequestMilli: 1000, memoryLimitBytes: 64 << 20, pidsLimit: 100 },
  });
  const state = async (id: ContainerId): Promise<string> => (await h.status(id, sig)).status.state;
  try {
    const sa = await sandbox('a', o.a.netnsPath);
    const sb = await sandbox('b', o.b.netnsPath);
    const server = container(`${o.tag}-srv`, sa, ['/netbench', 'serve', String(NETBENCH_PORT)]);
    await h.createContainer(server, sig);
    ids.push(server.id);
    await h.start(server.id, sig);
    await waitFor(async () => existsSync(server.logPath) && /ready/.test(readFileSync(server.logPath, 'utf8')), { timeoutMs: 120_000, signal: sig, what: `${o.rc.label} netbench server ready`, intervalMs: 50 });
    for (let i = 0; i < o.samples; i++) {
      // ping first (busybox, from inside the workload; `|| true`: a runtime without raw/ICMP sockets just has no ping figure)
      const script = `ping -c ${o.pings} -i 0.02 ${o.a.ip} || true; exec /netbench client ${o.a.ip} ${NETBENCH_PORT} ${o.rrCount} ${o.seconds}`;
      const c = container(`${o.tag}-cli${i}`, sb, ['sh', '-c', script]);
      await h.createContainer(c, sig);
      ids.push(c.id);
      await h.start(c.id, sig);
      await waitFor(async () => (await state(c.id)) === 'exited', { timeoutMs: 600_000, signal: sig, what: `${o.rc.label} netbench client`, intervalMs: 100 });
      const line = resultLine(c.logPath);
      if (!line) throw new Error(`${o.rc.label}: netbench client printed no result: ${readFileSync(c.logPath, 'utf8').slice(-500)}`);
      const pingsMs = [...readFileSync(c.logPath, 'utf8').matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
      out.push({ ...parseSample(line), pingsMs });
      await h.remove(c.id, sig);
    }
  } finally {
    for (const id of ids.reverse()) {
      await h.stop(id, { timeoutSeconds: 0, signal: sig }).catch(() => undefined);
      await h.remove(id, sig).catch(() => undefined);
    }
    for (const s of sandboxes) await h.removeSandbox(s, sig).catch((e: unknown) => console.error(`removeSandbox ${s}:`, e));
  }
  return out;
}

/** The same workload as bare processes: server in `serverNs`, client in `clientNs` (no runtime). */
export async function measureBare(o: {
  binary: string;
  serverNs: string;
  clientNs: string;
  target: string;
  samples: number;
  rrCount: number;
  seconds: number;
  pings: number;
}): Promise<NetSample[]> {
  const server = await startServer(o.serverNs, [o.binary, 'serve', String(NETBENCH_PORT)]);
  const out: NetSample[] = [];
  try {
    for (let i = 0; i < o.samples; i++) {
      const p = await runChecked('nsenter', nsenter(o.clientNs, ['busybox', 'ping', '-c', String(o.pings), '-i', '0.02', o.target]));
      const pingsMs = [...p.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
      const r = await runChecked('nsenter', nsenter(o.clientNs, [o.binary, 'client', o.target, String(NETBENCH_PORT), String(o.rrCount), String(o.seconds)]), { timeoutMs: 600_000 });
      out.push({ ...parseSample(r.stdout.trim()), pingsMs });
    }
  } finally {
    await stop(server);
  }
  return out;
}
