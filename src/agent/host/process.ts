/**
 * Host processes the agent does not parent (conmon, a daemonized qemu): there is nothing to
 * wait() on, so liveness is read from kill(0) and /proc.
 */
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { HedgeError } from '../../lib/errors.ts';

/**
 * Whether a process with this pid exists at all, zombies included (kill(0) succeeds, or fails
 * with EPERM: there is a process, it is just not ours to signal).
 */
export function pidExists(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * /proc/PID/stat, read synchronously: the kernel makes it up on the spot (no disk, never blocks),
 * and the promise API's open/fstat/read/close round trips through the thread pool cost several
 * times the CPU — the agent reads it for every container status (bench/density.ts idle CPU).
 */
function readProcStat(pid: number): string {
  return readFileSync(`/proc/${pid}/stat`, 'utf8');
}

/** State letter of /proc/PID/stat (R, S, D, Z, X...), or undefined when the pid is gone. */
async function procState(pid: number): Promise<string | undefined> {
  try {
    const st = readProcStat(pid);
    // comm (field 2) may hold spaces and parens: split after the last ')'
    return st.slice(st.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

/** A process with this pid exists and is not a zombie (a zombie still answers kill(0)). */
export async function processRunning(pid: number): Promise<boolean> {
  if (!pidExists(pid)) return false;
  const s = await procState(pid);
  return s !== undefined && s !== 'Z' && s !== 'X';
}

/** Gone, or a zombie waiting for its parent (a daemonized process is not our child). */
export async function processGone(pid: number): Promise<boolean> {
  return !(await processRunning(pid));
}

/**
 * Field 22 of /proc/PID/stat (start time in clock ticks since boot), or undefined when the pid is
 * gone or a zombie: identifies one process across pid reuse.
 */
export async function procStartTime(pid: number): Promise<string | undefined> {
  return procStartTimeSync(pid);
}

/** procStartTime without a promise, and without splitting the line's 52 fields (the agent reads it for every running container each metrics scrape) */
export function procStartTimeSync(pid: number): string | undefined {
  if (pid <= 0) return undefined;
  let st: string;
  try {
    st = readProcStat(pid);
  } catch {
    return undefined;
  }
  return startTimeOf(st);
}

/** a /proc/PID/stat line (a 16-byte comm and 50 numbers fit) */
const STAT_BUF = Buffer.alloc(1024);

/**
 * One process's /proc/PID/stat kept open, read again with one pread (the kernel makes it up at
 * each read): no open, path walk and close per look. The open file stands for that process, not
 * for its pid number: once the process is gone a read fails (ESRCH), even if another process has
 * the pid by then. `close()` when done with it.
 */
export class ProcStatFile {
  #fd: number | undefined;
  constructor(readonly pid: number) {}

  /** procStartTime's answer: field 22, or undefined when the process is gone or a zombie */
  startTime(): string | undefined {
    if (this.pid <= 0) return undefined;
    try {
      this.#fd ??= openSync(`/proc/${this.pid}/stat`, 'r');
      const n = readSync(this.#fd, STAT_BUF, 0, STAT_BUF.length, 0);
      return n > 0 && n < STAT_BUF.length ? startTimeOf(STAT_BUF.toString('latin1', 0, n)) : procStartTimeSync(this.pid);
    } catch {
      this.close();
      return undefined;
    }
  }

  close(): void {
    if (this.#fd === undefined) return;
    try {
      closeSync(this.#fd);
    } catch {
      // closed already
    }
    this.#fd = undefined;
  }
}

function startTimeOf(st: string): string | undefined {
  // comm (field 2) may hold spaces and parens: count fields after the last ')'; field 3 is the state
  let at = st.lastIndexOf(')') + 2;
  if (st[at] === 'Z' || st[at] === 'X') return undefined;
  for (let field = 3; field < 22; field++) {
    at = st.indexOf(' ', at) + 1;
    if (at === 0) return undefined;
  }
  const end = st.indexOf(' ', at);
  return st.slice(at, end < 0 ? st.length : end);
}

/** Waits until the process is gone (or a zombie); false when it outlived `timeoutMs` or `signal` aborted. */
export async function waitProcessGone(pid: number, timeoutMs: number, signal: AbortSignal): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!(await processGone(pid))) {
    if (Date.now() > deadline || signal.aborted) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

/** SIGKILL, then wait (up to 5 s) until it is gone. */
export async function killAndWait(pid: number, signal: AbortSignal): Promise<void> {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  await waitProcessGone(pid, 5000, signal);
}

/** Polls a condition (state lives in files and other processes, so there is nothing to subscribe to). */
export async function waitFor(
  cond: () => Promise<boolean>,
  opts: { timeoutMs: number; signal: AbortSignal; what: string; intervalMs?: number },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  let interval = opts.intervalMs ?? 10;
  for (;;) {
    if (await cond()) return;
    if (opts.signal.aborted) throw new HedgeError('Timeout', `waiting for ${opts.what}: aborted`, { cause: opts.signal.reason });
    if (Date.now() >= deadline) throw new HedgeError('Timeout', `timed out waiting for ${opts.what}`);
    await new Promise((r) => setTimeout(r, Math.min(interval, Math.max(1, deadline - Date.now()))));
    interval = Math.min(interval * 2, 100);
  }
}

/** `p`, or HedgeError Timeout after `ms` or when `signal` aborts (p itself is not cancelled) */
export function withTimeout<T>(p: Promise<T>, ms: number, signal: AbortSignal, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => done(() => reject(new HedgeError('Timeout', `timed out waiting for ${what}`))), ms);
    const onAbort = (): void => done(() => reject(new HedgeError('Timeout', `${what}: aborted`)));
    signal.addEventListener('abort', onAbort, { once: true });
    function done(f: () => void): void {
      clearTimeout(t);
      signal.removeEventListener('abort', onAbort);
      f();
    }
    p.then(
      (v) => done(() => resolve(v)),
      (e: unknown) => done(() => reject(e instanceof Error ? e : new Error(String(e)))),
    );
  });
}

/** This process's hard RLIMIT_NOFILE (a child cannot raise its limit past it without CAP_SYS_RESOURCE); 1024 if unreadable. */
export async function hardNofileLimit(): Promise<number> {
  try {
    const limits = await readFile('/proc/self/limits', 'utf8');
    const m = /Max open files\s+\S+\s+(\d+)/.exec(limits);
    if (m) return Number(m[1]);
  } catch {
    /* fall through */
  }
  return 1024;
}
