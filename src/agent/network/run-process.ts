import { spawn } from 'node:child_process';
import { HedgeError } from '../../lib/errors.ts';

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  /** written to stdin, then stdin is closed */
  input?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface RunOutput {
  code: number;
  stdout: string;
  stderr: string;
}

const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * Runs a short-lived helper (ip, unshare, a CNI plugin) to completion. A non-zero exit is a
 * result, not an error: callers decide what it means. Timeouts become HedgeError Timeout;
 * an abort rejects with the signal's reason, and the child is killed either way.
 */
export function runProcess(file: string, args: readonly string[], opts: RunOptions = {}): Promise<RunOutput> {
  const { signal } = opts;
  if (signal?.aborted) return Promise.reject(signal.reason);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let failure: unknown;
    const kill = (why: unknown): void => {
      if (failure === undefined) failure = why;
      child.kill('SIGKILL');
    };
    const timer = setTimeout(
      () => kill(new HedgeError('Timeout', `${file} ${args.join(' ')} timed out after ${timeoutMs} ms`)),
      timeoutMs,
    );
    const onAbort = (): void => kill(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    // EPIPE when the child exits without reading its stdin is not interesting; its exit code is.
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
    child.on('error', (e) => {
      if (failure === undefined) failure = new HedgeError('Internal', `cannot run ${file}: ${e.message}`, { cause: e });
    });
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (failure !== undefined) return reject(failure);
      resolve({
        code: code ?? (sig ? 128 : 1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
  });
}

/** runProcess that treats a non-zero exit as HedgeError Internal carrying the tool's stderr. */
export async function runChecked(file: string, args: readonly string[], opts: RunOptions = {}): Promise<RunOutput> {
  const res = await runProcess(file, args, opts);
  if (res.code !== 0) {
    const why = (res.stderr || res.stdout).trim();
    throw new HedgeError('Internal', `${file} ${args.join(' ')} failed (exit ${res.code}): ${why}`);
  }
  return res;
}
