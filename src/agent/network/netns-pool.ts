/**
 * A few network namespaces made ahead of the pods that will take them: making one is two execs
 * (unshare, then ip to bring lo up; ~20–40 ms here), and every pod start waited for it before its
 * runtime could create a container in it (runc joins the netns at create; gVisor's CNI ADD comes
 * after it). A pod's sandbox takes a made one (its record names the path) and frees it like any
 * other; the pool refills only while no pod is starting, so the refill does not compete with a
 * start for the CPU. What is still pooled when the node stops is removed; a pool left by a killed
 * agent is removed by the next one's start-up sweep of namespaces no sandbox record names.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../../lib/log.ts';
import { createNetns, removeNetns } from './netns.ts';

export interface NetnsPoolOptions {
  dir: string;
  /** namespaces kept made */
  size: number;
  /** the wait before a refill, and between checks while busy; default 250 ms */
  refillDelayMs?: number;
  logger?: Logger;
}

export class NetnsPool {
  readonly #o: NetnsPoolOptions;
  readonly #ready: string[] = [];
  #timer: NodeJS.Timeout | undefined;
  #making: Promise<void> | undefined;
  #closed = false;
  #started = false;
  /** making one failed: pods make their own from then on */
  #gaveUp = false;
  #busy: () => boolean = () => false;

  constructor(o: NetnsPoolOptions) {
    this.#o = o;
  }

  /** how many are made and waiting */
  get size(): number {
    return this.#ready.length;
  }

  /**
   * Starts filling, once whatever sweeps the netns directory has run; `busy` (something is
   * starting: the pod start gate's view) puts a refill off.
   */
  start(busy?: () => boolean): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    if (busy) this.#busy = busy;
    this.#schedule(0);
  }

  /** a made namespace's path, now the caller's to free; undefined when none is ready */
  take(): string | undefined {
    const path = this.#ready.shift();
    if (path !== undefined) this.#schedule(this.#o.refillDelayMs ?? 250);
    return path;
  }

  #schedule(ms: number): void {
    if (this.#closed || this.#gaveUp || !this.#started || this.#timer || this.#making) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#closed || this.#ready.length >= this.#o.size) return;
      if (this.#busy()) {
        this.#schedule(this.#o.refillDelayMs ?? 250);
        return;
      }
      this.#making = this.#makeOne().finally(() => {
        this.#making = undefined;
        if (this.#ready.length < this.#o.size) this.#schedule(0);
      });
    }, ms);
    this.#timer.unref();
  }

  async #makeOne(): Promise<void> {
    const path = `${this.#o.dir}/pool-${randomBytes(6).toString('hex')}`;
    try {
      await createNetns(path, { timeoutMs: 30_000 });
    } catch (err) {
      // the pod start makes its own then: nothing is lost but the head start
      this.#o.logger?.warn({ err, netns: path }, 'making a pooled network namespace failed');
      await removeNetns(path, { timeoutMs: 30_000 }).catch(() => undefined);
      this.#gaveUp = true;
      return;
    }
    if (this.#closed) await removeNetns(path, { timeoutMs: 30_000 });
    else this.#ready.push(path);
  }

  /** stops refilling and removes what was never taken */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#making;
    for (const path of this.#ready.splice(0)) {
      await removeNetns(path, { timeoutMs: 30_000 }).catch((err: unknown) => this.#o.logger?.warn({ err, netns: path }, 'removing a pooled network namespace failed'));
    }
  }
}
