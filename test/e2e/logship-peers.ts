/**
 * The real peers the log-shipping tests and bench ship to: Debian's rsyslogd (imrelp + imtcp on
 * loopback, started and stopped by PID) and a small receiver of Loki's push API.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { join } from 'node:path';

export const RSYSLOGD = '/usr/sbin/rsyslogd';
export const RSYSLOG_MODULES = '/usr/lib/x86_64-linux-gnu/rsyslog';

/** Why rsyslog-based tests cannot run here, or undefined. */
export function rsyslogSkipReason(modules: string[] = ['imrelp']): string | undefined {
  if (!existsSync(RSYSLOGD)) return 'rsyslog not installed (scripts/setup.sh)';
  const missing = modules.filter((m) => !existsSync(join(RSYSLOG_MODULES, `${m}.so`)));
  if (missing.length) return `rsyslog module ${missing.join(', ')} not installed (rsyslog-relp; scripts/setup.sh)`;
  return process.getuid?.() !== 0 ? 'needs root (rsyslogd)' : undefined;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createNetServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      srv.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 0));
    });
  });
}

export async function until(what: string, ms: number, cond: () => Promise<boolean> | boolean, explain: () => string = () => ''): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what} ${explain()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** rsyslogd with imrelp and imtcp on loopback, writing `%structured-data% %msg%` lines to `out`. */
export class Rsyslog {
  proc: ChildProcess | undefined;
  constructor(readonly dir: string, readonly relpPort: number, readonly tcpPort: number) {}
  get out(): string {
    return join(this.dir, 'out.log');
  }
  get pid(): number | undefined {
    return this.proc?.pid;
  }
  async start(): Promise<void> {
    const conf = join(this.dir, 'rsyslog.conf');
    await writeFile(
      conf,
      [
        `global(workDirectory="${this.dir}")`,
        // a message in the main queue when rsyslogd is told to stop is written, not discarded
        'main_queue(queue.timeoutShutdown="10000")',
        'module(load="imrelp")',
        'module(load="imtcp")',
        `input(type="imrelp" port="${this.relpPort}" address="127.0.0.1")`,
        `input(type="imtcp" port="${this.tcpPort}" address="127.0.0.1")`,
        'template(name="t" type="string" string="%structured-data% %msg%\\n")',
        `*.* action(type="omfile" file="${this.out}" template="t")`,
        '',
      ].join('\n'),
    );
    const p = spawn(RSYSLOGD, ['-n', '-f', conf, '-i', join(this.dir, 'rsyslogd.pid')], { stdio: 'ignore' });
    this.proc = p;
    await until('rsyslog listening', 10_000, async () => {
      if (p.exitCode !== null) throw new Error(`rsyslogd exited (${p.exitCode}) before listening`);
      const r = await fetch(`http://127.0.0.1:${this.relpPort}`).catch((e: Error & { cause?: { code?: string } }) => e.cause?.code);
      return r !== 'ECONNREFUSED';
    });
  }
  async stop(): Promise<void> {
    const p = this.proc;
    if (p === undefined || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await exited;
  }
}

export interface LokiEntry {
  labels: Record<string, string>;
  ts: string;
  line: string;
}

export interface LokiReceiver {
  server: Server;
  /** http://127.0.0.1:PORT */
  url: string;
  /** per `container/stream`, entries in arrival order; identical entries are dropped as Loki does */
  streams: Map<string, LokiEntry[]>;
  /** entries received so far (after de-duplication) */
  count(): number;
  close(): Promise<void>;
}

/** Loki's push API (`POST /loki/api/v1/push`, JSON), keeping what it got per stream in arrival order. */
export function lokiReceiver(): Promise<LokiReceiver> {
  const streams = new Map<string, LokiEntry[]>();
  const seen = new Set<string>();
  let n = 0;
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      if (req.url !== '/loki/api/v1/push' || req.method !== 'POST') {
        res.writeHead(404).end();
        return;
      }
      const push = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { streams: { stream: Record<string, string>; values: [string, string][] }[] };
      for (const s of push.streams) {
        // Loki orders entries per stream (label set), and stdout/stderr are separate streams
        const key = `${s.stream.container}/${s.stream.stream}`;
        const labelKey = JSON.stringify(s.stream);
        for (const [ts, line] of s.values) {
          const id = `${labelKey} ${ts} ${line}`;
          if (seen.has(id)) continue;
          seen.add(id);
          let list = streams.get(key);
          if (list === undefined) streams.set(key, (list = []));
          list.push({ labels: s.stream, ts, line });
          n++;
        }
      }
      res.writeHead(204).end();
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      resolve({
        server,
        url: `http://127.0.0.1:${typeof a === 'object' && a !== null ? a.port : 0}`,
        streams,
        count: () => n,
        close: () => new Promise<void>((r) => server.close(() => r())),
      });
    }),
  );
}
