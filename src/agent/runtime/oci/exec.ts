/**
 * `runtime exec` as a child process whose stdio is the exec request's streams. With a TTY it runs
 * under pty-run (pty/), which sizes the terminal from the client's resize channel: crun sends it
 * the container terminal's master through `--console-socket` and pty-run relays and sizes that
 * terminal itself; runc and runsc run on a terminal of pty-run's and copy its size to the
 * container's on SIGWINCH. Without the helper (no compiler) the terminal exec runs under
 * script(1), whose terminal has no size (beyond the process file's `consoleSize`).
 */
import { spawn } from 'node:child_process';
import type { Writable } from 'node:stream';
import { HedgeError } from '../../../lib/errors.ts';
import { shellQuote } from '../../host/run-command.ts';
import type { ExecRequest, TerminalSize } from '../types.ts';

/** pty-run for a TTY exec: the built helper, and the console socket the runtime's argv names (crun) */
export interface PtyRun {
  helper: string;
  consoleSocket?: string;
}

/** the client's terminal size as last sent before now, if any */
export function latestTerminalSize(req: ExecRequest): TerminalSize | undefined {
  let size: TerminalSize | undefined;
  req.terminalSizes?.onResize((s) => (size = s))();
  return size;
}

/** Resolves with the exit code; an abort kills the process and rejects with Timeout. */
export function runExec(runtimeCmd: string, runtimeArgv: string[], req: ExecRequest, pty?: PtyRun): Promise<number> {
  let cmd = runtimeCmd;
  let argv = runtimeArgv;
  const ptyRun = pty?.helper;
  // sizes before the start are given on the command line, later ones as lines on fd 3
  let size: TerminalSize | undefined;
  let sizes: Writable | undefined;
  const unsize = req.tty && ptyRun ? req.terminalSizes?.onResize((s) => (sizes ? sizes.write(`${s.height} ${s.width}\n`) : (size = s))) : undefined;
  if (req.tty && ptyRun) {
    argv = [...(pty?.consoleSocket ? ['-c', pty.consoleSocket] : []), String(size?.height ?? 0), String(size?.width ?? 0), cmd, ...argv];
    cmd = ptyRun;
  } else if (req.tty) {
    argv = ['-qfec', [cmd, ...argv].map(shellQuote).join(' '), '/dev/null'];
    cmd = 'script';
  }
  return new Promise((resolve, reject) => {
    if (req.signal.aborted) {
      unsize?.();
      reject(new HedgeError('Timeout', 'exec aborted'));
      return;
    }
    // pty-run's stdin stays open without req.stdin: its end would type the terminal's EOF
    const stdinPipe = req.stdin || (req.tty && ptyRun);
    const child = spawn(cmd, argv, { stdio: [stdinPipe ? 'pipe' : 'ignore', 'pipe', 'pipe', ...(unsize ? ['pipe' as const] : [])] });
    if (unsize) {
      sizes = child.stdio[3] as Writable;
      sizes.on('error', () => {}); // the helper gone: its exit says why
    }
    if (req.stdin && child.stdin) {
      req.stdin.pipe(child.stdin);
      child.stdin.on('error', () => {});
    }
    if (req.stdout) child.stdout?.pipe(req.stdout, { end: false });
    else child.stdout?.resume();
    // a terminal has one output: pty-run's own errors go there too
    const errOut = req.stderr ?? (req.tty && ptyRun ? req.stdout : undefined);
    if (errOut) child.stderr?.pipe(errOut, { end: false });
    else child.stderr?.resume();
    const onAbort = (): void => {
      child.kill('SIGKILL');
    };
    req.signal.addEventListener('abort', onAbort, { once: true });
    child.on('error', (err) => {
      req.signal.removeEventListener('abort', onAbort);
      unsize?.();
      reject(new HedgeError('Internal', `exec: ${err.message}`, { cause: err }));
    });
    child.on('close', (code, sig) => {
      req.signal.removeEventListener('abort', onAbort);
      unsize?.();
      if (req.stdin && child.stdin) req.stdin.unpipe(child.stdin);
      child.stdin?.destroy();
      if (req.signal.aborted) reject(new HedgeError('Timeout', 'exec aborted', { cause: req.signal.reason }));
      else resolve(code ?? (sig ? 137 : 1));
    });
  });
}
