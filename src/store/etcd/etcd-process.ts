import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

export interface EtcdProcess {
  endpoint: string;
  stop(): Promise<void>;
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
 * notifications are sent every 100 ms so idle watchers learn the revision quickly.
 */
export async function startEtcd(binary = '/usr/bin/etcd'): Promise<EtcdProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'hedge-etcd-'));
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const client = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const child: ChildProcess = spawn(
    binary,
    [
      '--data-dir', join(dir, 'data'),
      '--listen-client-urls', client,
      '--advertise-client-urls', client,
      '--listen-peer-urls', peer,
      '--initial-advertise-peer-urls', peer,
      '--initial-cluster', `default=${peer}`,
      '--experimental-watch-progress-notify-interval', '100ms',
      '--log-level', 'error',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4_000)));
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())));
  const stop = async (): Promise<void> => {
    if (!exited && child.pid !== undefined) process.kill(child.pid, 'SIGTERM');
    await exit;
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (exited) {
      await stop();
      throw new Error(`etcd exited during start-up: ${stderr}`);
    }
    try {
      const res = await fetch(`${client}/health`);
      const body = (await res.json()) as { health?: string };
      if (body.health === 'true') return { endpoint: client, stop };
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`etcd did not become healthy: ${stderr}`);
    }
    await delay(50);
  }
}
