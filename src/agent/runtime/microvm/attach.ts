/**
 * `kubectl attach` / `run -i` for a microVM container's own process: the session gets the
 * container's output from now on (beside its CRI log, guest-routes.ts), writes the container's
 * stdin (one GuestStdin per process, shared by every session, so the guest's window holds across
 * them) and ends when the process exits or the caller leaves. `stdinOnce`: the end of the first
 * session with stdin closes the process's stdin (it sees EOF), as upstream.
 */
import { HedgeError } from '../../../lib/errors.ts';
import { linkedSignal } from '../../../lib/signals.ts';
import type { AttachRequest, ContainerConfig } from '../types.ts';
import type { GuestAgentClient } from './agent-client.ts';
import type { GuestRouter } from './guest-routes.ts';
import { GuestStdin } from './guest-stdin.ts';

/** how long one wait for the exit lasts before the session checks again (a session lasts as long as its caller) */
const EXIT_POLL_MS = 60_000;

export class AttachSessions {
  /** per guest connection: the stdin of each container process that has one */
  readonly #stdins = new WeakMap<GuestAgentClient, Map<number, GuestStdin>>();

  #stdinOf(c: GuestAgentClient, procId: number): GuestStdin {
    let m = this.#stdins.get(c);
    if (!m) {
      m = new Map();
      this.#stdins.set(c, m);
    }
    let s = m.get(procId);
    if (!s) {
      s = new GuestStdin(c, procId);
      m.set(procId, s);
    }
    return s;
  }

  #drop(c: GuestAgentClient, procId: number): void {
    const m = this.#stdins.get(c);
    m?.get(procId)?.close();
    m?.delete(procId);
  }

  async attach(o: { client: GuestAgentClient; router: GuestRouter; sandboxId: string; procId: number; config: ContainerConfig; req: AttachRequest }): Promise<void> {
    const { client: c, router, config: cfg, req } = o;
    const detach = router.watchContainer(o.sandboxId, o.procId, { out: req.stdout, err: cfg.tty ? undefined : req.stderr });
    if (!detach) throw new HedgeError('Conflict', `container ${cfg.name} is not running`);
    // the session: the caller's signal, or the guest connection going away
    const ended = new AbortController();
    const onClose = (): void => ended.abort();
    c.once('close', onClose);
    const signal = linkedSignal([req.signal, ended.signal]);
    const stdin = cfg.stdin && req.stdin ? this.#stdinOf(c, o.procId) : undefined;
    let exited = false;
    try {
      req.onAttached?.();
      if (stdin && req.stdin && !stdin.ended) void stdin.feed(req.stdin, { signal, endAtEnd: cfg.stdin?.once ?? false });
      while (!signal.aborted && !exited) exited = await router.waitExit(cfg.id, EXIT_POLL_MS, signal);
    } finally {
      detach();
      c.off('close', onClose);
      if (stdin && cfg.stdin?.once) stdin.end();
      // the process is gone: its stdin writer (and its credit subscription) with it, so a
      // container restarting for the VM's life does not pile them up
      if (exited) this.#drop(c, o.procId);
      signal.clear();
    }
    if (ended.signal.aborted && !req.signal.aborted) throw new HedgeError('Unavailable', `guest agent connection lost while attached to ${cfg.name}`);
  }
}
