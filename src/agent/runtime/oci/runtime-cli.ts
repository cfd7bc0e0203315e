/**
 * The OCI runtime's command line (runc, crun, runsc): binary, global args and --root, and the
 * calls that must run inside the pod's netns (runsc's control socket is abstract, netns-scoped).
 */
import { chmod, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pathExists, writeFileAtomic } from '../../host/atomic-fs.ts';
import { isUnifiedCgroup } from '../../host/cgroup.ts';
import { runCommand, shellQuote, type RunResult } from '../../host/run-command.ts';
import { parseNetDev, readNetDev } from '../../stats/net-dev.ts';
import type { NetworkStats } from '../types.ts';
import type { OciRuntimeKind } from './spec.ts';

export const NSENTER = 'nsenter';
const RUNTIME_CALL_TIMEOUT_MS = 30_000;

export interface OciRuntimeCliOptions {
  runtime: { binary: string; kind: OciRuntimeKind; globalArgs: string[] };
  stateDir: string;
  cgroupRoot: string;
}

export class OciRuntimeCli {
  readonly #o: OciRuntimeCliOptions;
  #runtimeBinary: string | undefined;

  constructor(opts: OciRuntimeCliOptions) {
    this.#o = opts;
  }

  /** the runtime's --root */
  get root(): string {
    return join(this.#o.stateDir, 'runtime-root');
  }

  /**
   * crun refuses cgroup "hybrid" mode (v2 mount at /sys/fs/cgroup/unified); hide it in a private
   * mount ns. A unified host (v2 alone) runs crun itself.
   */
  async binary(): Promise<string> {
    if (this.#runtimeBinary) return this.#runtimeBinary;
    let bin = this.#o.runtime.binary;
    const hybrid = !isUnifiedCgroup(this.#o.cgroupRoot) && (await pathExists(join(this.#o.cgroupRoot, 'unified', 'cgroup.procs')));
    if (this.#o.runtime.kind === 'crun' && hybrid) {
      const dir = join(this.#o.stateDir, 'bin');
      await mkdir(dir, { recursive: true });
      const wrapper = join(dir, 'crun-hybrid');
      const script = `#!/bin/sh\nexec unshare -m --propagation private /bin/sh -c 'umount ${this.#o.cgroupRoot}/unified 2>/dev/null; exec "$0" "$@"' ${shellQuote(bin)} "$@"\n`;
      await writeFileAtomic(wrapper, script);
      await chmod(wrapper, 0o755);
      bin = wrapper;
    }
    this.#runtimeBinary = bin;
    return bin;
  }

  globalArgs(): string[] {
    return [...this.#o.runtime.globalArgs, `--root=${this.root}`];
  }

  /**
   * runsc's control socket is abstract, scoped to the netns: every call must run inside it.
   * `noCgroups`: the call touches no cgroup, so crun can skip its hybrid-mode wrapper (sh, unshare,
   * sh, umount: four execs on the start path); checked by hand for crun 1.8.1 start/state/kill.
   */
  async command(args: string[], netnsPath: string | undefined, noCgroups = false): Promise<[string, string[]]> {
    const bin = noCgroups && this.#o.runtime.kind === 'crun' ? this.#o.runtime.binary : await this.binary();
    const full = [...this.globalArgs(), ...args];
    if (this.#o.runtime.kind === 'runsc' && netnsPath) return [NSENTER, [`--net=${netnsPath}`, '--', bin, ...full]];
    return [bin, full];
  }

  async run(args: string[], netnsPath: string | undefined, signal: AbortSignal): Promise<RunResult> {
    const noCgroups = args[0] === 'start' || args[0] === 'state' || args[0] === 'kill';
    const [cmd, argv] = await this.command(args, netnsPath, noCgroups);
    return runCommand(cmd, argv, { signal, timeoutMs: RUNTIME_CALL_TIMEOUT_MS, settleOnExit: true });
  }

  async state(id: string, netnsPath: string | undefined, signal: AbortSignal): Promise<{ status: string; pid: number; created?: string } | undefined> {
    const res = await this.run(['state', id], netnsPath, signal);
    if (res.code !== 0) return undefined;
    try {
      return JSON.parse(res.stdout) as { status: string; pid: number; created?: string };
    } catch {
      return undefined;
    }
  }
}

/**
 * The pod's interface counters: any process in the netns will do (its /proc/<pid>/net/dev);
 * without one, `cat` run inside the netns by nsenter.
 */
export async function readPodNetStats(o: { netnsPath: string; pids: number[]; signal: AbortSignal }): Promise<NetworkStats | undefined> {
  for (const pid of o.pids) {
    const net = pid > 0 ? await readNetDev('/proc', pid) : undefined;
    if (net) return net;
  }
  const res = await runCommand(NSENTER, [`--net=${o.netnsPath}`, '--', 'cat', '/proc/net/dev'], { signal: o.signal, timeoutMs: 5000 });
  return res.code === 0 ? parseNetDev(res.stdout) : undefined;
}
