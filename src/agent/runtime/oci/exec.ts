/**
 * `runtime exec` as a child process whose stdio is the exec request's streams; with a TTY it
 * runs under script(1), which gives it the controlling terminal `exec --tty` wants.
 */
import { spawn } from 'node:child_process';
import { HedgeError } from '../../../lib/errors.ts';
import { shellQuote } from '../../host/run-command.ts';
import type { ExecRequest } from '../types.ts';

/** Resolves with the exit code; an abort kills the process and rejects with Timeout. */
export function runExec(runtimeCmd: string, runtimeArgv: string[], req: ExecRequest): Promise<number> {
  let cmd = runtimeCmd;
  let argv = runtimeArgv;
  if (req.tty) {
    // `runtime exec --tty` wants a controlling terminal; script(1) gives it one
    argv = ['-qfec', [cmd, ...argv].map(shellQuote).join(' '), '/dev/null'];
    cmd = 'script';
  }
  return new Promise((resolve, reject) => {
    if (req.signal.aborted) {
      reject(new HedgeError('Timeout', 'exec aborted'));
      return;
    }
    const child = spawn(cmd, argv, { stdio: [req.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    if (req.stdin && child.stdin) {
      req.stdin.pipe(child.stdin);
      child.stdin.on('error', () => {});
    }
    if (req.stdout) child.stdout?.pipe(req.stdout, { end: false });
    else child.stdout?.resume();
    if (req.stderr) child.stderr?.pipe(req.stderr, { end: false });
    else child.stderr?.resume();
    const onAbort = (): void => {
      child.kill('SIGKILL');
    };
    req.signal.addEventListener('abort', onAbort, { once: true });
    child.on('error', (err) => {
      req.signal.removeEventListener('abort', onAbort);
      reject(new HedgeError('Internal', `exec: ${err.message}`, { cause: err }));
    });
    child.on('close', (code, sig) => {
      req.signal.removeEventListener('abort', onAbort);
      if (req.stdin && child.stdin) req.stdin.unpipe(child.stdin);
      if (req.signal.aborted) reject(new HedgeError('Timeout', 'exec aborted', { cause: req.signal.reason }));
      else resolve(code ?? (sig ? 137 : 1));
    });
  });
}
