/**
 * A pod's shared PID namespace (spec.shareProcessNamespace) on runc/crun. Upstream the pause
 * container is its PID 1; here `unshare --pid --fork --kill-child` runs tini as PID 1 of a fresh
 * namespace (tini reaps the orphans every container leaves there, as pause does) and the pod's
 * containers join it through the unshare process's `ns/pid_for_children`. The holder is detached
 * (it outlives an agent restart), sits in the pod's cgroups, and is recorded with its start time
 * in the sandbox's `pidns.json`, so a reused pid is never mistaken for it. When it is gone (killed,
 * a host reboot), the kernel has killed everything in the namespace with it; the next container
 * gets a new one, as upstream's next sandbox would.
 */
import { spawn } from 'node:child_process';
import { readFile, readlink, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { HedgeError } from '../../../lib/errors.ts';
import { pathExists, writeFileAtomic } from '../../host/atomic-fs.ts';
import { killAndWait, processRunning, procStartTime, waitProcessGone } from '../../host/process.ts';

export const TINI = '/usr/bin/tini';

interface Holder {
  pid: number;
  startTime: string;
}

const recordOf = (stateDir: string): string => join(stateDir, 'pidns.json');
const nsPath = (pid: number): string => `/proc/${pid}/ns/pid_for_children`;

async function liveHolder(stateDir: string): Promise<Holder | undefined> {
  let h: Holder;
  try {
    h = JSON.parse(await readFile(recordOf(stateDir), 'utf8')) as Holder;
  } catch {
    return undefined;
  }
  return h.pid > 0 && (await procStartTime(h.pid)) === h.startTime ? h : undefined;
}

/** the namespace path the pod's containers join; starts the holder when there is none alive */
/** `cgroupProcs`: the pod's cgroup.procs files, asked for only when a holder has to start */
export async function ensurePidNamespace(o: { stateDir: string; cgroupProcs: () => Promise<string[]>; signal: AbortSignal }): Promise<string> {
  const live = await liveHolder(o.stateDir);
  if (live) return nsPath(live.pid);
  if (!(await pathExists(TINI))) throw new HedgeError('Invalid', `spec.shareProcessNamespace needs ${TINI} on the node (Debian package tini) as the namespace's PID 1`);
  // the shell puts itself into the pod's cgroups before it becomes unshare, so tini starts there too
  const child = spawn(
    '/bin/sh',
    ['-c', 'for f in "$@"; do echo $$ > "$f" || exit 1; done; exec unshare --pid --fork --kill-child=SIGKILL -- "$0" -s -- sleep infinity', TINI, ...(await o.cgroupProcs())],
    { detached: true, stdio: 'ignore' },
  );
  const pid = child.pid;
  child.unref();
  if (!pid) throw new HedgeError('Internal', 'could not start the pod PID namespace holder');
  const ours = await readlink('/proc/self/ns/pid');
  // ready once unshare made the namespace and forked tini into it: joining earlier would join the
  // agent's namespace, or make the first container PID 1
  const deadline = Date.now() + 10_000;
  for (;;) {
    const ns = await readlink(nsPath(pid)).catch(() => undefined);
    const kids = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
    if (ns !== undefined && ns !== ours && kids.trim() !== '') break;
    // a failed readlink is an exit only if the process is gone: while it execs (sh → unshare) the
    // kernel can refuse the read for a moment (CI: "exited (code ?)" for a holder that was starting)
    if (child.exitCode !== null || (ns === undefined && !(await processRunning(pid)))) throw new HedgeError('Internal', `the pod PID namespace holder exited (code ${child.exitCode ?? '?'})`);
    if (Date.now() > deadline || o.signal.aborted) {
      await killAndWait(pid, AbortSignal.timeout(5000)).catch(() => undefined);
      throw new HedgeError('Timeout', 'the pod PID namespace holder did not start in 10 s');
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  const startTime = await procStartTime(pid);
  if (!startTime) throw new HedgeError('Internal', 'the pod PID namespace holder exited');
  await writeFileAtomic(recordOf(o.stateDir), JSON.stringify({ pid, startTime } satisfies Holder));
  return nsPath(pid);
}

/**
 * Kills the holder (and with its tini, the whole namespace) and waits until tini is gone too: the
 * holder's death only sends tini its SIGKILL (--kill-child), and tini's exit waits for the
 * namespace's other processes, so only then is the pod's cgroup empty and removable (CI: the pod
 * cgroup's rmdir met EBUSY right after the holder was gone). Idempotent.
 */
export async function removePidNamespace(stateDir: string, signal: AbortSignal): Promise<void> {
  const h = await liveHolder(stateDir);
  if (h) {
    const tini = (await readFile(`/proc/${h.pid}/task/${h.pid}/children`, 'utf8').catch(() => '')).split(/\s+/).filter(Boolean).map(Number);
    await killAndWait(h.pid, signal);
    for (const pid of tini) await waitProcessGone(pid, 5000, signal);
  }
  await rm(recordOf(stateDir), { force: true });
}
