/**
 * A few pod sandboxes' networks made ahead of the pods that will take them: a netns attached to
 * the cluster network (CNI ADD: bridge + host-local, and the pod guard) under a sandbox id of its
 * own. Making one costs ~150–200 ms and five execs here (unshare, ip, bridge, host-local, nft), and
 * every pod start waited for it: gVisor before its runtime create (runsc reads the interfaces at
 * boot), runc beside its create, on the same two cores. A pod whose network is the cluster's alone
 * (no hostNetwork, host ports or Multus annotations) takes one: its sandbox gets the id, so the
 * CNI cache, the guard entry and the record all name it, and it is freed like any other. The pool
 * refills only while no pod is starting, so the refill does not compete with a start for the CPU.
 * What is still pooled when the node stops is torn down; a pool left by a killed agent is torn
 * down by the next one's start-up sweep of namespaces no sandbox record names.
 */
import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { writeFileAtomic } from '../host/atomic-fs.ts';
import type { Logger } from '../../lib/log.ts';
import type { NetworkPlugin, NetworkSandbox } from './types.ts';

/** `hedge node` keeps NetnsPoolOptions.stateFile under this name in its data dir */
export const NETNS_POOL_STATE_FILE = 'network-pool.json';

export interface NetnsPoolOptions {
  dir: string;
  /** attaches (prepare + setUp) and frees (tearDown) the pooled sandboxes' networks */
  network: Pick<NetworkPlugin, 'prepare' | 'setUp' | 'tearDown'>;
  /** namespaces kept made */
  size: number;
  /** the wait before a refill, and between checks while busy; default 250 ms */
  refillDelayMs?: number;
  /**
   * where the pooled (not taken) networks are listed, for tools that tell a node's pooled networks
   * from a pod's leftovers (the e2e harness's host-state check); rewritten on every change
   */
  stateFile?: string;
  logger?: Logger;
}

export class NetnsPool {
  readonly #o: NetnsPoolOptions;
  readonly #ready: PooledNetwork[] = [];
  /** the one being made (listed in the state file too) */
  #inMaking: PooledNetwork | undefined;
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
    // what a previous agent had pooled and never freed (killed, or the host rebooted: no netns
    // left for the start-up sweep to find, but the CNI cache and the addresses are): freed first,
    // while no pod starts (after a reboot every pod is starting again), and listed until freed
    this.#making = this.#freeLeftovers().finally(() => {
      this.#making = undefined;
      this.#schedule(0);
    });
  }

  /** a previous agent's pooled networks not freed yet */
  #leftovers: PooledNetwork[] = [];

  async #freeLeftovers(): Promise<void> {
    if (!this.#o.stateFile) return;
    try {
      this.#leftovers = JSON.parse(await readFile(this.#o.stateFile, 'utf8')) as PooledNetwork[];
    } catch {
      return;
    }
    while (this.#leftovers.length > 0 && !this.#closed) {
      if (this.#busy()) {
        await new Promise((res) => setTimeout(res, this.#o.refillDelayMs ?? 250).unref());
        continue;
      }
      await this.#free(this.#sandbox(this.#leftovers[0]!.id));
      this.#leftovers.shift();
      this.#save();
    }
  }

  /** an attached network, now the caller's sandbox's (its id) and the caller's to free; undefined when none is ready */
  take(): PooledNetwork | undefined {
    const got = this.#ready.shift();
    if (got !== undefined) {
      this.#save();
      this.#schedule(this.#o.refillDelayMs ?? 250);
    }
    return got;
  }

  #saving: Promise<void> = Promise.resolve();
  /** the pooled list to the state file, one write at a time, the last one winning */
  #save(): void {
    const file = this.#o.stateFile;
    if (!file) return;
    this.#saving = this.#saving
      .then(() => {
        const listed = [...this.#ready, ...(this.#inMaking ? [this.#inMaking] : []), ...this.#leftovers];
        return listed.length || !this.#closed ? writeFileAtomic(file, JSON.stringify(listed)) : rm(file, { force: true });
      })
      .catch((err: unknown) => this.#o.logger?.debug({ err, file }, 'writing the pooled network list failed'));
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

  #sandbox(id: string): NetworkSandbox {
    return { id, pod: { uid: '', namespace: '', name: '' }, netnsPath: `${this.#o.dir}/${id}`, portMappings: [] };
  }

  async #makeOne(): Promise<void> {
    // the form of the ids pod workers make (12 + 8 hex digits)
    const nsb = this.#sandbox(randomBytes(10).toString('hex'));
    const signal = AbortSignal.timeout(60_000);
    let hostInterface: string | undefined;
    // listed before anything is made: an agent that dies meanwhile leaves it to the next one to free
    this.#inMaking = { id: nsb.id, netnsPath: nsb.netnsPath, making: true };
    this.#save();
    await this.#saving;
    try {
      await this.#o.network.prepare?.(nsb, signal);
      hostInterface = (await this.#o.network.setUp(nsb, signal)).hostInterface;
    } catch (err) {
      // pod starts make their own then: nothing is lost but the head start
      this.#o.logger?.warn({ err, sandbox: nsb.id }, 'making a pooled pod network failed; pods make their own');
      await this.#free(nsb);
      this.#gaveUp = true;
      this.#inMaking = undefined;
      this.#save();
      return;
    }
    if (this.#closed) {
      await this.#free(nsb);
      this.#inMaking = undefined;
      return;
    }
    this.#ready.push({ id: nsb.id, netnsPath: nsb.netnsPath, ...(hostInterface ? { hostInterface } : {}) });
    this.#inMaking = undefined;
    this.#save();
  }

  async #free(nsb: NetworkSandbox): Promise<void> {
    await this.#o.network.tearDown(nsb, AbortSignal.timeout(60_000)).catch((err: unknown) => this.#o.logger?.warn({ err, sandbox: nsb.id }, 'freeing a pooled pod network failed'));
  }

  /** stops refilling and frees what was never taken */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#making;
    // listed until freed: a stop cut short leaves them to the next start's sweep, still named
    for (const p of [...this.#ready]) await this.#free(this.#sandbox(p.id));
    this.#ready.splice(0);
    this.#save();
    await this.#saving;
  }
}

/** A sandbox network made ahead: the id its sandbox takes, and its netns. */
export interface PooledNetwork {
  id: string;
  netnsPath: string;
  /** the host side of its bridge port */
  hostInterface?: string;
  /** in the state file: being made (bench/pod-start.ts waits for a full, settled pool) */
  making?: true;
}
