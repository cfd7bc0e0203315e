/**
 * One pull-based sample of the node and every running container, shared by `/stats/summary`
 * and `/metrics/cadvisor`. Nothing is collected between scrapes; the collector only keeps the
 * previous cumulative CPU figure per container, pod and node so a scrape can report
 * usageNanoCores (Δ CPU / Δ wall time) like the kubelet does.
 */
import { readFile, statfs } from 'node:fs/promises';
import { totalmem, uptime } from 'node:os';
import type { Pod } from 'kubernetes-types/core/v1.js';
import type { Logger } from '../../lib/log.ts';
import type { ContainerId, RuntimeHandler, SandboxId } from '../runtime/types.ts';
import type { ContainerStats, CpuStats, MemoryStats, NetworkStats, SandboxStats, StatsScope } from './types.ts';
import { readCgroupStats, withNanoCores, type CgroupRef } from './cgroup.ts';
import { parseNetDev } from './net-dev.ts';
import type { PodStorage, PodStorageSource } from './pod-storage.ts';
import { readRlimit, type Rlimit } from './rlimit.ts';

/** What the collector needs from pod sync (PodSync and the node server's PodSource satisfy it). */
export interface StatsPodSource {
  pods(): Pod[];
  locate(namespace: string, name: string, container?: string): { handler?: RuntimeHandler; id?: ContainerId } | undefined;
}

export interface ContainerSample {
  name: string;
  id: ContainerId;
  image: string;
  startTime?: Date;
  stats: ContainerStats;
}

export interface PodSample {
  name: string;
  namespace: string;
  uid: string;
  startTime?: Date;
  handler: string;
  sandboxId?: SandboxId;
  containers: ContainerSample[];
  /** the whole sandbox (for a microVM: the guest), incl. the pod's network */
  stats?: SandboxStats;
  /** what it holds on disk (writable layers, logs, emptyDirs), when asked for (`sample`'s `storage`) */
  storage?: PodStorage;
}

export interface FsSample {
  capacityBytes: number;
  availableBytes: number;
  usedBytes: number;
  inodes: number;
  inodesFree: number;
  inodesUsed: number;
}

export interface NodeSample {
  timestamp: Date;
  startTime: Date;
  cpu?: CpuStats;
  memory?: MemoryStats & { availableBytes?: number };
  network?: NetworkStats;
  fs?: FsSample;
  /** the task limit and tasks in use (rlimit.ts) */
  rlimit?: Rlimit;
}

export interface StatsSample {
  nodeName: string;
  node: NodeSample;
  pods: PodSample[];
}

export interface StatsCollectorOptions {
  nodeName: string;
  pods: StatsPodSource;
  logger: Logger;
  /** the node's own figures: the root cgroup (default /sys/fs/cgroup, path /) */
  nodeCgroup?: CgroupRef;
  /** the host's /proc (node network from <procRoot>/self/net/dev, rlimit from <procRoot>/sys/kernel and loadavg) */
  procRoot?: string;
  /** the filesystem holding the node's data dir (node fs figures) */
  fsPath?: string;
  now?: () => Date;
  /** rates are computed over at least this window; closer scrapes reuse the last rate (default 1 s) */
  minRateWindowMs?: number;
  /** the pods' disk figures (a cache shared with the eviction manager), for `sample`'s `storage` */
  storage?: PodStorageSource;
}

/** pods sampled side by side (see `sample`) */
const SAMPLE_BATCH = 8;

interface RateState {
  base: ContainerStats;
  nanoCores?: number;
}

export class StatsCollector {
  private readonly prev = new Map<string, RateState>();
  private readonly log: Logger;
  private readonly now: () => Date;
  private readonly minWindowMs: number;

  constructor(private readonly opts: StatsCollectorOptions) {
    this.log = opts.logger.child({ component: 'stats' });
    this.now = opts.now ?? (() => new Date());
    this.minWindowMs = opts.minRateWindowMs ?? 1000;
  }

  /**
   * `scope` 'usage': CPU and memory only (/metrics/resource; see StatsScope). `storage`: each
   * sampled pod's disk figures too, from the shared cache as it is (at most its refresh period
   * old: /stats/summary), never a walk per request.
   */
  async sample(signal: AbortSignal, scope: StatsScope = 'full', o: { storage?: boolean } = {}): Promise<StatsSample> {
    const seen = new Set<string>();
    const nodeSample = this.sampleNode(seen, scope);
    const all = this.opts.pods.pods();
    const pods: (PodSample | undefined)[] = [];
    // A few pods at a time, not all at once: the pods' reads are synchronous cgroup reads for the
    // OCI runtimes (a guest round trip for a microVM), so a wider fan-out gains nothing but keeps
    // every pod's promises, closures and samples alive together, and a young-generation GC during
    // the scrape copies and promotes whatever is alive (with 100 pods the scrape's garbage
    // collections were a sixth of the idle node's CPU profile).
    for (let i = 0; i < all.length; i += SAMPLE_BATCH) {
      pods.push(...(await Promise.all(all.slice(i, i + SAMPLE_BATCH).map((p) => this.samplePod(p, seen, signal, scope)))));
    }
    const node = await nodeSample;
    for (const k of this.prev.keys()) if (!seen.has(k)) this.prev.delete(k);
    const sampled = pods.filter((p): p is PodSample => p !== undefined);
    if (o.storage && this.opts.storage && sampled.length > 0) {
      const uids = new Set(sampled.map((p) => p.uid));
      const storage = await this.opts.storage.get(all.filter((p) => uids.has(p.metadata?.uid ?? '')), signal);
      for (const p of sampled) {
        const st = storage.get(p.uid);
        if (st) p.storage = st;
      }
    }
    return { nodeName: this.opts.nodeName, node, pods: sampled };
  }

  /** usageNanoCores against the previous sample of `key` (kept while `key` is seen every scrape) */
  private rate<T extends ContainerStats>(key: string, cur: T, seen: Set<string>): T {
    seen.add(key);
    const st = this.prev.get(key);
    if (st && cur.timestamp.getTime() - st.base.timestamp.getTime() < this.minWindowMs) {
      return st.nanoCores === undefined ? cur : { ...cur, cpu: { ...cur.cpu, usageNanoCores: st.nanoCores } };
    }
    const out = cur.cpu.usageNanoCores !== undefined ? cur : withNanoCores(cur, st?.base);
    this.prev.set(key, { base: cur, nanoCores: out.cpu.usageNanoCores });
    return out;
  }

  private async sampleNode(seen: Set<string>, scope: StatsScope): Promise<NodeSample> {
    const timestamp = this.now();
    const cg = this.opts.nodeCgroup ?? { root: '/sys/fs/cgroup', path: '/' };
    const procRoot = this.opts.procRoot ?? '/proc';
    const full = scope === 'full';
    const [cgs, netText, fs] = await Promise.all([
      readCgroupStats(cg, () => timestamp, scope),
      full ? readFile(`${procRoot}/self/net/dev`, 'utf8').catch(() => undefined) : undefined,
      full && this.opts.fsPath ? statfs(this.opts.fsPath).catch(() => undefined) : Promise.resolve(undefined),
    ]);
    const out: NodeSample = { timestamp, startTime: new Date(timestamp.getTime() - uptime() * 1000) };
    if (cgs) {
      const r = this.rate('node', cgs, seen);
      out.cpu = r.cpu;
      out.memory = { ...r.memory, availableBytes: Math.max(0, totalmem() - r.memory.workingSetBytes) };
    }
    if (netText !== undefined) out.network = parseNetDev(netText);
    if (full) {
      const rl = readRlimit(procRoot);
      if (rl.maxpid !== undefined || rl.curproc !== undefined) out.rlimit = rl;
    }
    if (fs) {
      const bs = fs.bsize;
      out.fs = {
        capacityBytes: fs.blocks * bs,
        availableBytes: fs.bavail * bs,
        usedBytes: (fs.blocks - fs.bfree) * bs,
        inodes: fs.files,
        inodesFree: fs.ffree,
        inodesUsed: fs.files - fs.ffree,
      };
    }
    return out;
  }

  private async samplePod(pod: Pod, seen: Set<string>, signal: AbortSignal, scope: StatsScope): Promise<PodSample | undefined> {
    const name = pod.metadata?.name ?? '';
    const namespace = pod.metadata?.namespace ?? 'default';
    const uid = pod.metadata?.uid ?? '';
    // every container that may run: sidecars (init), apps, and kubectl debug's ephemeral ones
    const specs: { name: string; image?: string }[] = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? []), ...(pod.spec?.ephemeralContainers ?? [])];
    let handler: RuntimeHandler | undefined;
    let sandboxId: SandboxId | undefined;
    const containers: ContainerSample[] = [];
    await Promise.all(
      specs.map(async (c) => {
        const loc = this.opts.pods.locate(namespace, name, c.name);
        if (!loc?.handler || !loc.id) return;
        const h = loc.handler;
        const id = loc.id;
        try {
          const [status, stats] = await Promise.all([h.status(id, signal), h.stats(id, signal, scope)]);
          if (status.status.state !== 'running') return;
          handler = h;
          sandboxId = status.sandboxId;
          containers.push({ name: c.name, id, image: c.image ?? '', startTime: status.status.startedAt, stats: this.rate(`c/${id}`, stats, seen) });
        } catch (err) {
          // exited or removed between the list and the read: not running, nothing to report
          this.log.debug({ err, pod: `${namespace}/${name}`, container: c.name }, 'container stats unavailable');
        }
      }),
    );
    if (!handler) return undefined;
    if (containers.length > 1) {
      const order = new Map(specs.map((c, i) => [c.name, i]));
      containers.sort((a, b) => (order.get(a.name) ?? 0) - (order.get(b.name) ?? 0));
    }
    const out: PodSample = { name, namespace, uid, handler: handler.name, sandboxId, containers };
    const st = pod.status?.startTime;
    if (st) out.startTime = new Date(st);
    if (sandboxId) {
      try {
        out.stats = this.rate(`p/${sandboxId}`, await handler.sandboxStats(sandboxId, signal, scope), seen);
      } catch (err) {
        this.log.debug({ err, pod: `${namespace}/${name}` }, 'sandbox stats unavailable');
      }
    }
    return out;
  }
}
