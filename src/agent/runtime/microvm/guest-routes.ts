/**
 * The host side of each VM's guest-agent connection: one connection per sandbox, and the routes
 * that say where each guest process's output and exit go (a container's CRI log and exit record,
 * or an exec's streams). Container routes are re-registered from the state files before a
 * (re)connect, so output and exits the guest replays after an agent restart land.
 *
 * Output is exactly once (src/guest/README.md): each G_OUTPUT frame carries its stream offset; a
 * route's OutputCursor takes only the next bytes in order; after the bytes are in the CRI log the
 * router persists how far the log got (containers/<cid>/log-offsets) and acknowledges that offset
 * to the guest, which keeps unacknowledged output. The hello of every (re)connect tells the guest
 * where each stream resumes: what a stopped agent never wrote is sent again, nothing twice.
 */
import type { Logger } from '../../../lib/log.ts';
import type { ContainerId } from '../types.ts';
import { GuestAgentClient } from './agent-client.ts';
import { CriLogWriter } from './cri-log-writer.ts';
import { encodeResume, exitCodeOf, type OutputStream } from './frames.ts';
import { OutputCursor } from './output-cursor.ts';
import type { ExitRecord, MicroVmStateFiles, VmState } from './state-files.ts';

type Cursors = Record<OutputStream, OutputCursor>;
/** an attach session's streams: a container's output from now on, beside its log */
export interface OutputSink {
  out?: NodeJS.WritableStream | undefined;
  err?: NodeJS.WritableStream | undefined;
}
export type Route =
  | { kind: 'container'; id: ContainerId; log: CriLogWriter; at: Cursors; acked: Record<OutputStream, number>; sinks?: Set<OutputSink> }
  | { kind: 'exec'; out?: NodeJS.WritableStream; err?: NodeJS.WritableStream; onExit: (status: number) => void; at?: Cursors };

const STREAMS = ['stdout', 'stderr'] as const;

function cursors(from?: { stdout: number; stderr: number }): Cursors {
  return { stdout: new OutputCursor(from?.stdout ?? 0), stderr: new OutputCursor(from?.stderr ?? 0) };
}

export class GuestRouter {
  readonly #files: MicroVmStateFiles;
  readonly #log: Logger;
  readonly #clients = new Map<string, Promise<GuestAgentClient>>();
  readonly #routes = new Map<string, Map<number, Route>>();
  readonly #exitWaiters = new Map<string, (() => void)[]>();
  /** routes that took output since the last ack, acknowledged once the current batch of frames is written */
  readonly #unacked = new Map<Route, { c: GuestAgentClient; id: number }>();

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
          routes.set(m.procId, this.#containerRoute(m.config.id, m.config.logPath, this.#files.readLogOffsets(m.config.id)));
        }
        const c = await GuestAgentClient.connect(v.agentSocket, {
          timeoutMs,
          signal,
          hello: () => this.#resume(sid),
          attach: (x) => {
            x.on('output', (id, stream, data, offset) => this.#onOutput(sid, x, id, stream, data, offset));
            x.on('exit', (id, status, message) => void this.#onExit(sid, x, id, status, message));
          },
        });
        c.on('close', () => this.#clients.delete(sid));
        return c;
      })();
      this.#clients.set(sid, p);
      p.catch(() => this.#clients.delete(sid));
    }
    return p;
  }

  #containerRoute(id: ContainerId, logPath: string, from?: { stdout: number; stderr: number }): Route {
    return { kind: 'container', id, log: new CriLogWriter(logPath), at: cursors(from), acked: { stdout: from?.stdout ?? 0, stderr: from?.stderr ?? 0 } };
  }

  /**
   * The hello payload: every routed process stream resumes where the host has it. A container's
   * resumes where its log is: a partial line held in memory is dropped and comes again, since the
   * guest frees what a resume offset covers and only the log's offsets survive an agent restart.
   */
  #resume(sid: string): Buffer {
    const out: { id: number; stream: OutputStream; offset: number }[] = [];
    for (const [id, r] of this.routesOf(sid)) {
      if (!r.at) continue;
      for (const s of STREAMS) {
        if (r.kind === 'container') r.at[s].received -= r.log.discardPending(s);
        out.push({ id, stream: s, offset: r.at[s].received });
      }
    }
    return encodeResume(out);
  }

  #onOutput(sid: string, c: GuestAgentClient, id: number, stream: OutputStream, data: Buffer, offset: number | undefined): void {
    const r = this.#routes.get(sid)?.get(id);
    if (!r) {
      // nobody wants it (an exec of a previous agent): let the guest free it
      if (offset !== undefined) c.ack(id, stream, offset + data.length);
      return;
    }
    let fresh: Buffer | undefined = data;
    if (offset !== undefined) {
      if (r.kind === 'exec') r.at ??= cursors();
      fresh = r.at![stream].accept(offset, data);
      if (!fresh) return;
      if (!this.#unacked.size) queueMicrotask(() => this.#ackBatch());
      this.#unacked.set(r, { c, id });
    }
    if (r.kind === 'container') {
      try {
        r.log.write(stream, fresh);
      } catch (err) {
        this.#log.warn({ err, container: r.id }, 'writing container log failed');
      }
      for (const s of r.sinks ?? []) (stream === 'stdout' ? s.out : s.err)?.write(fresh);
    } else {
      (stream === 'stdout' ? r.out : r.err)?.write(fresh);
    }
  }

  /**
   * After a batch of frames: a container's offsets are persisted, then acknowledged (bytes of a
   * line still without its newline are neither: the guest keeps them until the line is complete).
   */
  #ackBatch(): void {
    const batch = [...this.#unacked];
    this.#unacked.clear();
    for (const [r, { c, id }] of batch) {
      if (r.kind === 'exec') {
        for (const s of STREAMS) if (r.at) c.ack(id, s, r.at[s].received);
        continue;
      }
      this.#commit(r);
      for (const s of STREAMS) c.ack(id, s, r.acked[s]);
    }
  }

  /** records how far the container's log got in each stream */
  #commit(r: Extract<Route, { kind: 'container' }>): void {
    const done = { stdout: r.at.stdout.received - r.log.pending('stdout'), stderr: r.at.stderr.received - r.log.pending('stderr') };
    if (done.stdout === r.acked.stdout && done.stderr === r.acked.stderr) return;
    try {
      this.#files.writeLogOffsets(r.id, done);
      r.acked = done;
    } catch (err) {
      // a container removed meanwhile; otherwise the guest keeps the bytes and resends them after a restart
      this.#log.warn({ err, container: r.id }, 'recording log offsets failed');
    }
  }

  async #onExit(sid: string, c: GuestAgentClient, id: number, status: number, message: string | undefined): Promise<void> {
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
    this.#unacked.delete(r);
    this.#commit(r);
    const e = exitCodeOf(status);
    const rec: ExitRecord = { exitCode: e.exitCode, finishedAt: new Date().toISOString() };
    if (e.signal !== undefined) rec.signal = e.signal;
    if (message) rec.message = message;
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
    this.routesOf(sid).set(procId, this.#containerRoute(id, logPath));
  }

  /** an attach session: the container's output from now on also goes to `sink`; returns the detach, undefined without such a route */
  watchContainer(sid: string, procId: number, sink: OutputSink): (() => void) | undefined {
    const r = this.#routes.get(sid)?.get(procId);
    if (r?.kind !== 'container') return undefined;
    const sinks = (r.sinks ??= new Set());
    sinks.add(sink);
    return () => sinks.delete(sink);
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
