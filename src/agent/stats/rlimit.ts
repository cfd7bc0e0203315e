/**
 * The node's task limit and use, as the kubelet's pidlimit.Stats reports them in `/stats/summary`
 * (`node.rlimit`) and derives `pid.available` from: maxpid = min(kernel.pid_max,
 * kernel.threads-max), both system-wide limits on tasks; curproc = the tasks in use, from
 * /proc/loadavg (upstream prefers it to sysinfo(2), whose count is truncated past 65538).
 * Synchronous reads: the kernel makes these files up on read, a few microseconds each.
 */
import { readFileSync } from 'node:fs';

export interface Rlimit {
  maxpid?: number;
  curproc?: number;
}

/** `/proc/loadavg`'s running/total field: the kernel's number of tasks (threads), what sysinfo(2) calls procs */
export function parseLoadavgTasks(text: string): number | undefined {
  const m = /^\S+ \S+ \S+ \d+\/(\d+) /.exec(text);
  return m ? Number(m[1]) : undefined;
}

const readInt = (file: string): number | undefined => {
  try {
    const n = Number(readFileSync(file, 'utf8').trim());
    return Number.isSafeInteger(n) ? n : undefined;
  } catch {
    return undefined;
  }
};

export function readRlimit(procRoot = '/proc'): Rlimit {
  const limits = [readInt(`${procRoot}/sys/kernel/pid_max`), readInt(`${procRoot}/sys/kernel/threads-max`)].filter((n): n is number => n !== undefined);
  const out: Rlimit = {};
  if (limits.length > 0) out.maxpid = Math.min(...limits);
  let loadavg: string | undefined;
  try {
    loadavg = readFileSync(`${procRoot}/loadavg`, 'utf8');
  } catch {
    loadavg = undefined;
  }
  const cur = loadavg === undefined ? undefined : parseLoadavgTasks(loadavg);
  if (cur !== undefined) out.curproc = cur;
  return out;
}
