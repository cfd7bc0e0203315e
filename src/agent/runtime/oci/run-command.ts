import { spawn, type StdioOptions } from 'node:child_process';
import { HedgeError } from '../../../lib/errors.ts';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  signal: AbortSignal;
  /** hard cap on the child's life; nothing waits forever */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /** extra pipes beyond stdio (fd 3...); `onSpawn` gets them and owns (destroys) them */
  extraFds?: number;
  onSpawn?: (child: import('node:child_process').ChildProcess) => void;
}

const DEFAULT_TIMEOUT_MS = 60_000;

/**
 * Runs a helper binary to completion and collects its output. Resolves on process exit rather than
 * stdio close, because conmon daemonizes and its grandchild may keep inherited pipes open.
 */
export function runCommand(cmd: string, args: string[], opts: RunOptions): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    if (opts.signal.aborted) {
      reject(new HedgeError('Timeout', `${cmd}: aborted before start`, { cause: opts.signal.reason }));
      return;
    }
    const stdio: StdioOptions = ['ignore', 'pipe', 'pipe'];
    for (let i = 0; i < (opts.extraFds ?? 0); i++) stdio.push('pipe');
    const child = spawn(cmd, args, { stdio, env: opts.env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    let settled = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish(new HedgeError('Timeout', `${cmd} ${args.join(' ')}: timed out after ${opts.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms`));
    }, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    const onAbort = (): void => {
      child.kill('SIGKILL');
      finish(new HedgeError('Timeout', `${cmd}: aborted`, { cause: opts.signal.reason }));
    };
    opts.signal.addEventListener('abort', onAbort, { once: true });
    function finish(err: Error | undefined, res?: RunResult): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal.removeEventListener('abort', onAbort);
      // don't hold the event loop on pipes a daemonized grandchild inherited
      child.stdout?.destroy();
      child.stderr?.destroy();
      if (err) reject(err);
      else if (res) resolve(res);
    }
    child.on('error', (err) => finish(new HedgeError('Internal', `${cmd}: ${err.message}`, { cause: err })));
    child.on('exit', (code, sig) => {
      // give already-buffered output a tick to arrive
      setImmediate(() => finish(undefined, { code: code ?? (sig ? 128 : 1), stdout, stderr }));
    });
    opts.onSpawn?.(child);
  });
}

/** runCommand that throws HedgeError Internal on a non-zero exit. */
export async function runChecked(cmd: string, args: string[], opts: RunOptions): Promise<RunResult> {
  const res = await runCommand(cmd, args, opts);
  if (res.code !== 0) {
    throw new HedgeError('Internal', `${cmd} ${args.join(' ')} exited ${res.code}: ${(res.stderr || res.stdout).trim()}`);
  }
  return res;
}
