/**
 * Whole-system test harness: runs the real `hedge server` as a child process and
 * drives it with the real kubectl and plain HTTPS.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const HEDGE_BIN = join(REPO_ROOT, 'bin', 'hedge.js');

/** kubectl v1.32: the machine's, or the one scripts/setup.sh unpacked into .tools/bin. */
export function findKubectl(): string | undefined {
  return ['/usr/bin/kubectl', join(REPO_ROOT, '.tools', 'bin', 'kubectl')].find((p) => existsSync(p));
}

/** Older/newer kubectl builds some images carry (google-cloud-sdk), keyed by minor version. */
export function findVersionedKubectls(): { version: string; path: string }[] {
  const out: { version: string; path: string }[] = [];
  for (let minor = 27; minor <= 33; minor++) {
    const path = `/usr/lib/google-cloud-sdk/bin/kubectl.1.${minor}`;
    if (existsSync(path)) out.push({ version: `1.${minor}`, path });
  }
  return out;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface KubectlOptions {
  input?: string;
  env?: Record<string, string>;
  timeoutMs?: number;
  /** another kubectl binary (version matrix) */
  binary?: string;
}

export interface ApiResult {
  status: number;
  body: unknown;
}

export interface HedgeServer {
  url: string;
  kubeconfig: string;
  dataDir: string;
  pid: number;
  /** stderr of the server so far (for failure messages) */
  output(): string;
  kubectl(args: string[], opts?: KubectlOptions): Promise<RunResult>;
  /** a long-running kubectl (get -w, wait); the caller kills it */
  spawnKubectl(args: string[], opts?: Omit<KubectlOptions, 'input' | 'timeoutMs'>): ChildProcess;
  /** one JSON request as admin */
  api(method: string, path: string, body?: unknown, contentType?: string): Promise<ApiResult>;
  /** SIGTERM, then SIGKILL by PID after `graceMs`; resolves with the exit code/signal */
  stop(opts?: { graceMs?: number }): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL at once (crash simulation); the data dir is kept */
  kill9(): Promise<void>;
  /** remove the data dir if the harness created it */
  cleanup(): Promise<void>;
}

export interface StartOptions {
  store?: 'sqlite' | 'memory' | 'etcd';
  /** reuse a data dir (restart); default: a fresh temp dir owned by the harness */
  dataDir?: string;
  /** readiness bound */
  timeoutMs?: number;
  extraArgs?: string[];
  /** run inside this network namespace (a /run/netns path; nsenter, which execs, so the PID stays the server's) */
  netns?: string;
  /** node flags before the entry point (e.g. `--cpu-prof` for a bench) */
  execArgv?: string[];
  /** the entry point; default this checkout's bin/hedge.js (a bench A/B runs another checkout's build) */
  bin?: string;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  // never leave a server behind when a test file dies
  for (const c of live) c.kill('SIGKILL');
});

function waitExit(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
}

export function run(cmd: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {}): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { env: opts.env, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      stderr += `\n[harness] killed after ${opts.timeoutMs ?? 30_000} ms`;
    }, opts.timeoutMs ?? 30_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
    // a child that exits before reading stdin must not become an uncaught EPIPE
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, onTimeout: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let delay = 20;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${onTimeout()}`);
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 250);
  }
}

export async function startHedgeServer(opts: StartOptions = {}): Promise<HedgeServer> {
  const ownDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'hedge-e2e-')));
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const args = [
    ...(opts.execArgv ?? []),
    opts.bin ?? HEDGE_BIN,
    'server',
    '--data-dir',
    dataDir,
    // port 0: the kernel picks a free port and the ready line tells which, so parallel test files never collide
    '--listen',
    '127.0.0.1:0',
    '--store',
    opts.store ?? 'sqlite',
    '--log-level',
    'warn',
    ...(opts.extraArgs ?? []),
  ];
  const child = opts.netns
    ? spawn('nsenter', [`--net=${opts.netns}`, process.execPath, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  child.once('exit', () => live.delete(child));
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const output = (): string => out;
  const describe = (): string => `server output:\n${out}`;

  let url: string;
  let agent: Agent;
  try {
    url = await waitFor(
      'the ready line',
      timeoutMs,
      async () => {
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(`hedge server exited early (${child.exitCode ?? child.signalCode})\n${describe()}`);
        }
        return /hedge server ready at (https:\/\/\S+)/.exec(out)?.[1];
      },
      describe,
    );
    const pki = join(dataDir, 'pki');
    const [ca, cert, key] = await Promise.all(['ca.crt', 'admin.crt', 'admin.key'].map((f) => readFile(join(pki, f), 'utf8')));
    agent = new Agent({ keepAlive: true, ca, cert, key, maxSockets: 16 });
  } catch (err) {
    child.kill('SIGKILL');
    await waitExit(child);
    if (ownDir) await rm(dataDir, { recursive: true, force: true });
    throw err;
  }

  const api = (method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<ApiResult> => {
    const u = new URL(path, url);
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    return new Promise((resolvePromise, reject) => {
      const req = request(
        {
          method,
          host: u.hostname,
          port: u.port,
          path: `${u.pathname}${u.search}`,
          agent,
          timeout: 15_000,
          headers: {
            accept: 'application/json',
            // with its length: Node sends a DELETE's body with neither Content-Length nor chunked
            // encoding, and the server read it as the next request (400, connection closed)
            ...(payload === undefined ? {} : { 'content-type': contentType, 'content-length': Buffer.byteLength(payload) }),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            let parsed: unknown = text;
            try {
              parsed = JSON.parse(text);
            } catch {
              // plain-text endpoints (/readyz)
            }
            resolvePromise({ status: res.statusCode ?? 0, body: parsed });
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timeout`)));
      req.on('error', reject);
      req.end(payload);
    });
  };

  try {
    await waitFor(
      '/readyz',
      timeoutMs,
      async () => {
        try {
          const r = await api('GET', '/readyz');
          return r.status === 200 ? true : undefined;
        } catch {
          return undefined;
        }
      },
      describe,
    );
  } catch (err) {
    agent.destroy();
    child.kill('SIGKILL');
    await waitExit(child);
    if (ownDir) await rm(dataDir, { recursive: true, force: true });
    throw err;
  }

  const kubeconfig = join(dataDir, 'kubeconfig');
  // own HOME: kubectl's discovery cache and config must not leak between servers or from the user
  const home = join(dataDir, 'home');
  await mkdir(home, { recursive: true });
  const kubectlEnv = (extra?: Record<string, string>): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    KUBECONFIG: kubeconfig,
    ...extra,
  });

  return {
    url,
    kubeconfig,
    dataDir,
    pid: child.pid!,
    output,
    kubectl(kargs, kopts = {}) {
      const bin = kopts.binary ?? findKubectl();
      if (bin === undefined) throw new Error('no kubectl on this machine (run scripts/setup.sh)');
      return run(bin, kargs, { input: kopts.input, env: kubectlEnv(kopts.env), timeoutMs: kopts.timeoutMs ?? 30_000 });
    },
    spawnKubectl(kargs, kopts = {}) {
      const bin = kopts.binary ?? findKubectl();
      if (bin === undefined) throw new Error('no kubectl on this machine (run scripts/setup.sh)');
      const c = spawn(bin, kargs, { env: kubectlEnv(kopts.env), stdio: ['ignore', 'pipe', 'pipe'] });
      live.add(c);
      c.once('exit', () => live.delete(c));
      return c;
    },
    api,
    async stop({ graceMs = 10_000 } = {}) {
      agent.destroy();
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => {
          try {
            process.kill(child.pid!, 'SIGKILL');
          } catch {
            // already gone
          }
        }, graceMs);
        const r = await waitExit(child);
        clearTimeout(timer);
        return r;
      }
      return waitExit(child);
    },
    async kill9() {
      agent.destroy();
      process.kill(child.pid!, 'SIGKILL');
      await waitExit(child);
    },
    async cleanup() {
      if (ownDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export interface LineReader {
  /** every stdout line so far */
  readonly lines: string[];
  /**
   * Resolve with the lines read since the previous call, up to and including the first one
   * `match` accepts; bounded. Lines are buffered from spawn on, so none is lost between calls.
   */
  waitFor(match: (line: string) => boolean, timeoutMs?: number): Promise<string[]>;
}

/** Read a child's stdout line by line (e.g. `kubectl get -w`). */
export function readLines(child: ChildProcess): LineReader {
  const lines: string[] = [];
  let partial = '';
  let stderr = '';
  let closed = false;
  let cursor = 0;
  let wake: (() => void) | undefined;
  child.stdout?.on('data', (d: Buffer) => {
    partial += d.toString();
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
    wake?.();
  });
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  child.once('close', () => {
    closed = true;
    wake?.();
  });
  return {
    lines,
    waitFor(match, timeoutMs = 20_000) {
      return new Promise((resolvePromise, reject) => {
        const from = cursor;
        const timer = setTimeout(() => {
          wake = undefined;
          reject(new Error(`no matching line within ${timeoutMs} ms; got:\n${lines.slice(from).join('\n')}\nstderr:\n${stderr}`));
        }, timeoutMs);
        const check = (): void => {
          for (; cursor < lines.length; cursor++) {
            if (match(lines[cursor])) {
              cursor++;
              clearTimeout(timer);
              wake = undefined;
              resolvePromise(lines.slice(from, cursor));
              return;
            }
          }
          if (closed) {
            clearTimeout(timer);
            wake = undefined;
            reject(new Error(`process exited before a matching line; got:\n${lines.slice(from).join('\n')}\nstderr:\n${stderr}`));
          }
        };
        wake = check;
        check();
      });
    },
  };
}

/** An executable KUBE_EDITOR: applies `sedExpr` to the file kubectl hands it. */
export async function writeSedEditor(dir: string, sedExpr: string): Promise<string> {
  const path = join(dir, `editor-${Math.random().toString(36).slice(2)}.sh`);
  await writeFile(path, `#!/bin/sh\nexec sed -i -e '${sedExpr.replace(/'/g, `'\\''`)}' "$1"\n`);
  await chmod(path, 0o755);
  return path;
}
