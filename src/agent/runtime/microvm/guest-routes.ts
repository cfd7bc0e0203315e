/**
 * The host side of each VM's guest-agent connection: one connection per sandbox, and the routes
 * that say where each guest process's output and exit go (a container's CRI log and exit record,
 * or an exec's streams). Container routes are re-registered from the state files before a
 * (re)connect, so output and exits the guest replays after an agent restart land.
 */
import type { Logger } from '../../../lib/log.ts';
import type { ContainerId } from '../types.ts';
import { GuestAgentClient } from './agent-client.ts';
import { CriLogWriter } from './cri-log-writer.ts';
import { exitCodeOf } from './frames.ts';
import type { ExitRecord, MicroVmStateFiles, VmState } from './state-files.ts';

export type Route =
  | { kind: 'container'; id: ContainerId; log: CriLogWriter }
  | { kind: 'exec'; out?: NodeJS.WritableStream; err?: NodeJS.WritableStream; onExit: (status: number) => void };

export class GuestRouter {
  readonly #files: MicroVmStateFiles;
  readonly #log: Logger;
  readonly #clients = new Map<string, Promise<GuestAgentClient>>();
  readonly #routes = new Map<string, Map<number, Route>>();
  readonly #exitWaiters = new Map<string, (() => void)[]>();

  constructor(files: MicroVmStateFiles, logger: Logger) {
    this.#files = files;
    this.#log = logger;
  }

  routesOf(sid: string): Map<number, Route> {
    let r = this.#routes.get(sid);
    if (!r) {
      r = new Map();
      this.#routes.set(sid, r);
    }
    return r;
  }

  /** Connects (once) to the VM's agent; container routes are registered first so replayed output/exits land. */
  client(v: VmState, signal: AbortSignal, timeoutMs = 15_000): Promise<GuestAgentClient> {
    const sid = v.config.id;
    let p = this.#clients.get(sid);
    if (!p) {
      p = (async () => {
        const routes = this.routesOf(sid);
        for (const m of await this.#files.metas()) {
          if (m.config.sandboxId !== sid || m.procId === undefined || routes.has(m.procId)) continue;
          routes.set(m.procId, { kind: 'container', id: m.config.id, log: new CriLogWriter(m.config.logPath) });
        }
        const c = await GuestAgentClient.connect(v.agentSocket, { timeoutMs, signal });
        c.on('output', (id, stream, data) => this.#onOutput(sid, id, stream, data));
        c.on('exit', (id, status) => void this.#onExit(sid, c, id, status));
        c.on('close', () => this.#clients.delete(sid));
        return c;
      })();
      this.#clients.set(sid, p);
      p.catch(() => this.#clients.delete(sid));
    }
    return p;
  }

  #onOutput(sid: string, id: number, stream: 'stdout' | 'stderr', data: Buffer): void {
    const r = this.#routes.get(sid)?.get(id);
    if (!r) return;
    if (r.kind === 'container') {
      try {
        r.log.write(stream, data);
      } catch (err) {
        this.#log.warn({ err, container: r.id }, 'writing container log failed');
      }
    } else {
      (stream === 'stdout' ? r.out : r.err)?.write(data);
    }
  }

  async #onExit(sid: string, c: GuestAgentClient, id: number, status: number): Promise<void> {
    const routes = this.#routes.get(sid);
    const r = routes?.get(id);
    if (!r) {
      // an exit for a container removed meanwhile, or an exec of a previous agent: nobody needs it
      c.forget(id);
      return;
    }
    routes?.delete(id);
    if (r.kind === 'exec') {
      c.forget(id);
      r.onExit(status);
      return;
    }
    r.log.flush();
    const e = exitCodeOf(status);
    const rec: ExitRecord = { exitCode: e.exitCode, finishedAt: new Date().toISOString() };
    if (e.signal !== undefined) rec.signal = e.signal;
    if (!(await this.#files.readExit(r.id)) && (await this.#files.readMeta(r.id))) {
      await this.#files.writeExit(r.id, rec).catch((err: unknown) =>
        this.#log.warn({ err, container: r.id }, 'recording exit failed'),
      );
    }
    c.forget(id);
    for (const w of this.#exitWaiters.get(r.id) ?? []) w();
    this.#exitWaiters.delete(r.id);
  }

  /** routes a container's output from the guest process `procId` to its CRI log */
  routeContainer(sid: string, procId: number, id: ContainerId, logPath: string): void {
    this.routesOf(sid).set(procId, { kind: 'container', id, log: new CriLogWriter(logPath) });
  }

  unroute(sid: string, procId: number): void {
    this.#routes.get(sid)?.delete(procId);
  }

  /** wakes whoever waits for the container's exit (its VM is going away) */
  releaseWaiters(id: ContainerId): void {
    for (const w of this.#exitWaiters.get(id) ?? []) w();
  }

  /** drops the sandbox's connection and routes (the VM keeps running) */
  async drop(sid: string): Promise<void> {
    const c = this.#clients.get(sid);
    this.#clients.delete(sid);
    this.#routes.delete(sid);
    await c?.then((x) => x.close(), () => undefined);
  }

  /** drops every connection (VMs keep running), as an agent exit would */
  async close(): Promise<void> {
    const cs = [...this.#clients.values()];
    this.#clients.clear();
    this.#routes.clear();
    for (const p of cs) await p.then((c) => c.close(), () => undefined);
  }

  async waitExit(id: ContainerId, timeoutMs: number, signal: AbortSignal): Promise<boolean> {
    if (await this.#files.readExit(id)) return true;
    return new Promise((resolve) => {
      const done = (ok: boolean): void => {
        clearTimeout(t);
        signal.removeEventListener('abort', onAbort);
        const ws = this.#exitWaiters.get(id)?.filter((w) => w !== waiter);
        if (ws) this.#exitWaiters.set(id, ws);
        resolve(ok);
      };
      const waiter = (): void => done(true);
      const onAbort = (): void => done(false);
      const t = setTimeout(() => void this.#files.readExit(id).then((e) => done(!!e)), timeoutMs);
      signal.addEventListener('abort', onAbort, { once: true });
      this.#exitWaiters.set(id, [...(this.#exitWaiters.get(id) ?? []), waiter]);
      // the exit may have been recorded between the first check and registering
      void this.#files.readExit(id).then((e) => e && done(true));
    });
  }
}
