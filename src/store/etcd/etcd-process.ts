import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

export interface EtcdProcess {
  endpoint: string;
  /** the running etcd's pid (benchmarks read its CPU and RSS); undefined while it is down */
  readonly pid: number | undefined;
  stop(): Promise<void>;
  /** SIGKILL etcd, keeping its data dir and ports (tests: a lost etcd) */
  kill(): Promise<void>;
  /** start the killed etcd again on the same data dir and ports; resolves once healthy */
  restart(): Promise<void>;
}

/** A free 127.0.0.1 port, found by binding port 0 and releasing it. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts a single-member etcd (tests and benchmarks) on free local ports with a
 * throw-away data dir, and resolves once /health answers. Progress
 * notifications are sent every `progressNotifyMs` (default 100 ms, so idle watchers in tests learn
 * the revision quickly; each is a message to every etcd watch, one per resource an apiserver
 * watches, so a benchmark sends them less often).
 */
export async function startEtcd(binary = '/usr/bin/etcd', opts: { progressNotifyMs?: number } = {}): Promise<EtcdProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'hedge-etcd-'));
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const client = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  let stderr = '';
  let exited = false;
  let exit: Promise<void> = Promise.resolve();
  let child: ChildProcess | undefined;
  const spawnEtcd = (): void => {
    const c: ChildProcess = spawn(
      binary,
      [
        '--data-dir', join(dir, 'data'),
        '--listen-client-urls', client,
        '--advertise-client-urls', client,
        '--listen-peer-urls', peer,
        '--initial-advertise-peer-urls', peer,
        '--initial-cluster', `default=${peer}`,
        '--experimental-watch-progress-notify-interval', `${opts.progressNotifyMs ?? 100}ms`,
        '--log-level', 'error',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    child = c;
    exited = false;
    c.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4_000)));
    exit = new Promise<void>((resolve) => c.once('exit', () => ((exited = true), resolve())));
  };
  const kill = async (): Promise<void> => {
    if (!exited && child?.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    await exit;
  };
  const stop = async (): Promise<void> => {
    if (!exited && child?.pid !== undefined) process.kill(child.pid, 'SIGTERM');
    await exit;
    await rm(dir, { recursive: true, force: true });
  };
  const healthy = async (): Promise<void> => {
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (exited) {
        await stop();
        throw new Error(`etcd exited during start-up: ${stderr}`);
      }
      try {
        const res = await fetch(`${client}/health`);
        const body = (await res.json()) as { health?: string };
        if (body.health === 'true') return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`etcd did not become healthy: ${stderr}`);
      }
      await delay(50);
    }
  };
  const restart = async (): Promise<void> => {
    await kill();
    spawnEtcd();
    await healthy();
  };
  spawnEtcd();
  await healthy();
  return {
    endpoint: client,
    get pid() {
      return exited ? undefined : child?.pid;
    },
    stop,
    kill,
    restart,
  };
}

export interface EtcdMember {
  name: string;
  endpoint: string;
  pid: number;
  /** SIGKILL the member (its data dir stays until the cluster stops) */
  kill(): Promise<void>;
}

export interface EtcdCluster {
  members: EtcdMember[];
  endpoints: string[];
  stop(): Promise<void>;
}

/**
 * Starts an `n`-member etcd cluster on free loopback ports (tests: failover of a member), and
 * resolves once every member reports healthy.
 */
export async function startEtcdCluster(n = 3, binary = '/usr/bin/etcd'): Promise<EtcdCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'hedge-etcd-cluster-'));
  const specs: { name: string; client: string; peer: string }[] = [];
  for (let i = 0; i < n; i++) {
    specs.push({ name: `m${i}`, client: `http://127.0.0.1:${await freePort()}`, peer: `http://127.0.0.1:${await freePort()}` });
  }
  const initialCluster = specs.map((s) => `${s.name}=${s.peer}`).join(',');
  const children = specs.map((s) => {
    const child = spawn(
      binary,
      [
        '--name', s.name,
        '--data-dir', join(dir, s.name),
        '--listen-client-urls', s.client,
        '--advertise-client-urls', s.client,
        '--listen-peer-urls', s.peer,
        '--initial-advertise-peer-urls', s.peer,
        '--initial-cluster', initialCluster,
        '--initial-cluster-state', 'new',
        '--initial-cluster-token', `hedge-${process.pid}`,
        '--experimental-watch-progress-notify-interval', '100ms',
        '--log-level', 'error',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4_000)));
    const exit = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    return { child, exit, stderr: () => stderr };
  });
  const killOne = async (i: number): Promise<void> => {
    const c = children[i]!;
    if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
    await c.exit;
  };
  const stop = async (): Promise<void> => {
    await Promise.all(children.map((_, i) => killOne(i)));
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 30_000;
  for (const [i, s] of specs.entries()) {
    for (;;) {
      const c = children[i]!;
      if (c.child.exitCode !== null) {
        await stop();
        throw new Error(`etcd member ${s.name} exited during start-up: ${c.stderr()}`);
      }
      try {
        const body = (await (await fetch(`${s.client}/health`)).json()) as { health?: string };
        if (body.health === 'true') break;
      } catch {
        // not listening or no quorum yet
      }
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`etcd member ${s.name} did not become healthy: ${c.stderr()}`);
      }
      await delay(100);
    }
  }
  return {
    members: specs.map((s, i) => ({ name: s.name, endpoint: s.client, pid: children[i]!.child.pid ?? 0, kill: () => killOne(i) })),
    endpoints: specs.map((s) => s.client),
    stop,
  };
}

/** An etcd started on first use and stopped with `stop()` (one per test file, shared by its tests). */
export function lazyEtcd(binary?: string): { get(): Promise<EtcdProcess>; stop(): Promise<void> } {
  let started: Promise<EtcdProcess> | undefined;
  return {
    get: () => (started ??= startEtcd(binary)),
    stop: async () => {
      if (started !== undefined) await (await started).stop();
    },
  };
}
