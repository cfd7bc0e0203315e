/**
 * Runs a short-lived host helper (runc, conmon, mount, ip, iptables, a CNI plugin, mkfs) to
 * completion and collects its output. A non-zero exit is a result, not an error: callers decide
 * what it means (`runChecked` makes it one).
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { HedgeError } from '../../lib/errors.ts';
import { commandAborted, SPAWNER_MAX_INPUT, type Spawner } from './spawner.ts';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  signal?: AbortSignal;
  /** hard cap on the child's life; nothing waits forever (default 60 s) */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /** written to stdin, then stdin is closed; without it stdin is /dev/null */
  input?: string;
  /** extra pipes beyond stdio (fd 3...); `onSpawn` gets them and owns (destroys) them */
  extraFds?: number;
  onSpawn?: (child: ChildProcess) => void;
  /**
   * Settle when the child exits instead of when its pipes close: for helpers that daemonize
   * (conmon, runsc) and leave a grandchild holding the inherited pipes open.
   */
  settleOnExit?: boolean;
}

const DEFAULT_TIMEOUT_MS = 60_000;

/**
 * The process's spawner (host/spawner.ts), set by `hedge node`: commands run from its small helper
 * instead of forking the agent. Node's spawn forks the whole agent on its main thread (~5 ms
 * each at 70 MB RSS), and a node runs a dozen commands per pod (netns pool refills, nft, runc
 * kill/delete, CNI DEL): the agent's main thread was busy forking for ~27 ms per pod started and
 * deleted (bench/pod-start.ts under --cpu-prof), part of it in the middle of other pods' starts.
 */
let commandSpawner: Spawner | undefined;

export function setCommandSpawner(s: Spawner | undefined): void {
  commandSpawner = s;
}

/** whether the spawner can run this: no extra pipes or spawn hook, input within its pipe, no NUL or newline in a field */
function viaSpawner(cmd: string, args: readonly string[], opts: RunOptions): Spawner | undefined {
  const s = commandSpawner;
  if (!s?.available || opts.extraFds || opts.onSpawn) return undefined;
  if (opts.input !== undefined && Buffer.byteLength(opts.input) > SPAWNER_MAX_INPUT) return undefined;
  if ([cmd, ...args].some((a) => a.includes('\0') || a.includes('\n'))) return undefined;
  if (opts.env && Object.entries(opts.env).some(([k, v]) => `${k}${v ?? ''}`.includes('\0') || `${k}${v ?? ''}`.includes('\n'))) return undefined;
  return s;
}

/** the spawner's helper answers a command it cannot exec with this (exit 127), which runCommand makes a rejection */
const CANNOT_RUN = 'cannot run ';

async function runInSpawner(s: Spawner, cmd: string, args: readonly string[], opts: RunOptions): Promise<RunResult> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(opts.env ?? {})) if (v !== undefined) env[k] = v;
  const r = await s.run(cmd, args, {
    ...(opts.signal ? { signal: opts.signal } : {}),
    timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    ...(opts.env ? { env, replaceEnv: true } : {}),
    ...(opts.input !== undefined ? { input: opts.input } : {}),
  });
  if (r.code === 127 && r.stdout === '' && r.stderr.startsWith(`${CANNOT_RUN}${cmd}: `)) throw new HedgeError('Internal', r.stderr);
  return { code: r.code, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Timeouts and aborts kill the child and reject with HedgeError Timeout (an abort's message
 * carries the signal's reason); a binary that cannot be started is HedgeError Internal.
 */
export function runCommand(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const spawner = viaSpawner(cmd, args, opts);
  if (spawner) return runInSpawner(spawner, cmd, args, opts);
  const { signal } = opts;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(commandAborted(cmd, args, signal));
      return;
    }
    const since = performance.now();
    const stdio: StdioOptions = [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'];
    for (let i = 0; i < (opts.extraFds ?? 0); i++) stdio.push('pipe');
    const child = spawn(cmd, args, { stdio, env: opts.env ?? process.env });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    if (child.stdin) {
      // EPIPE when the child exits without reading its stdin is not interesting; its exit code is.
      child.stdin.on('error', () => {});
      child.stdin.end(opts.input);
    }
    let settled = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish(new HedgeError('Timeout', `${cmd} ${args.join(' ')}: timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    const onAbort = (): void => {
      child.kill('SIGKILL');
      if (signal) finish(commandAborted(cmd, args, signal, { sinceMs: since }));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    function finish(e: Error | undefined, code?: number): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      // don't hold the event loop on pipes a daemonized grandchild inherited
      child.stdout?.destroy();
      child.stderr?.destroy();
      if (e) reject(e);
      else resolve({ code: code ?? 1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    }
    child.on('error', (e) => finish(new HedgeError('Internal', `cannot run ${cmd}: ${e.message}`, { cause: e })));
    if (opts.settleOnExit) {
      // give already-buffered output a tick to arrive
      child.on('exit', (code, sig) => setImmediate(() => finish(undefined, code ?? (sig ? 128 : 1))));
    } else {
      child.on('close', (code, sig) => finish(undefined, code ?? (sig ? 128 : 1)));
    }
    opts.onSpawn?.(child);
  });
}

/** runCommand that throws HedgeError Internal carrying the tool's stderr on a non-zero exit. */
export async function runChecked(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const res = await runCommand(cmd, args, opts);
  if (res.code !== 0) {
    throw new HedgeError('Internal', `${cmd} ${args.join(' ')} exited ${res.code}: ${(res.stderr || res.stdout).trim()}`);
  }
  return res;
}

/** quotes a word for /bin/sh (only when it needs it) */
export function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
