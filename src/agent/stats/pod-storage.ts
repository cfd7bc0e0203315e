/**
 * What each pod holds on the node's disk, as the kubelet's stats provider has it (cadvisor's fs
 * usage, ~1 min old): each container's writable layer (`rootfs`) and CRI log files (`logs`), the
 * volumes the agent keeps under the pod's dir (emptyDir, configMap, secret, downwardAPI,
 * projected: upstream's du-metered plugins), its local-path PVC volumes (with their claim, not
 * ephemeral storage) and its hosts file (etc-hosts). One walk per pod,
 * cached for `refreshMs` and shared: the `/stats/summary` route reads it as it is, the eviction
 * manager forces a fresh one (maxAgeMs 0) when it must decide. Figures are du's: allocated blocks (what the filesystem lost), hard links
 * counted once.
 */
import { lstatSync, readdirSync } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Pod, Volume } from 'kubernetes-types/core/v1.js';
import type { Clock } from '../../client/clock.ts';
import type { Logger } from '../../lib/log.ts';
import type { ContainerId, RuntimeHandler } from '../runtime/types.ts';
import type { Snapshotter } from '../snapshot/types.ts';
import { podDir, volumeDir } from '../volumes/paths.ts';

export interface FsUsage {
  bytes: number;
  inodes: number;
}

export interface ContainerStorage {
  name: string;
  /** its writable layer (an overlay's upperdir, a writable bind's source) */
  rootfs?: FsUsage;
  /** its CRI log files */
  logs?: FsUsage;
}

/** a volume's figures (upstream's VolumeStats) */
export interface VolumeStorage extends FsUsage {
  /**
   * counted in the pod's ephemeral storage: upstream's IsLocalEphemeralVolume, a disk-backed
   * emptyDir (medium "") or a configMap; a secret, downwardAPI or projected volume is listed but
   * not counted (upstream's plugins back those with tmpfs), nor a memory-backed emptyDir
   */
  ephemeral: boolean;
  /** a PVC-backed volume's claim (upstream's VolumeStats.pvcRef); never ephemeral */
  pvcRef?: { name: string; namespace: string };
}

export interface PodStorage {
  /** when the walk ended (ms, the clock's) */
  time: number;
  /** every container of the pod the runtime has (init, app, ephemeral), in spec order */
  containers: ContainerStorage[];
  /** the agent-managed volumes by name, in spec order: emptyDir, configMap, secret, downwardAPI, projected */
  volumes: Record<string, VolumeStorage>;
  /** the pod's hosts file (upstream's etc-hosts), when the agent wrote one */
  etcHosts?: FsUsage;
}

/** the volume plugins whose dirs the agent keeps under the pod (volumes/set-up.ts), by volume source */
function volumePlugin(v: Volume): { plugin: string; ephemeral: boolean } | undefined {
  if (v.emptyDir) return { plugin: 'empty-dir', ephemeral: !v.emptyDir.medium };
  if (v.configMap) return { plugin: 'configmap', ephemeral: true };
  if (v.secret) return { plugin: 'secret', ephemeral: false };
  if (v.downwardAPI) return { plugin: 'downward-api', ephemeral: false };
  if (v.projected) return { plugin: 'projected', ephemeral: false };
  return undefined;
}

/** the pod's hosts file: the sandbox's state dir (podsync/pod-sandbox.ts), as the kubelet's pods/<uid>/etc-hosts */
export const etcHostsPath = (dataDir: string, uid: string): string => join(podDir(dataDir, uid), 'sandbox', 'hosts');

/** what `ephemeralStorage` sums */
export interface EphemeralParts {
  containers: readonly { rootfs?: FsUsage; logs?: FsUsage }[];
  volumes: Readonly<Record<string, VolumeStorage>>;
  etcHosts?: FsUsage;
}

/**
 * The pod's local ephemeral storage, the one sum `/stats/summary` reports and the eviction manager
 * ranks and limits by: every container's writable layer and logs, the volumes counted as
 * ephemeral, and (unless `etcHosts` false) the hosts file — upstream's calcEphemeralStorage;
 * without the hosts file it is the eviction manager's podDiskUsage, which ranks pods.
 */
export function ephemeralStorage(p: EphemeralParts, o: { etcHosts?: boolean } = {}): FsUsage {
  const out: FsUsage = { bytes: 0, inodes: 0 };
  const add = (u: FsUsage | undefined): void => {
    out.bytes += u?.bytes ?? 0;
    out.inodes += u?.inodes ?? 0;
  };
  for (const c of p.containers) {
    add(c.rootfs);
    add(c.logs);
  }
  for (const v of Object.values(p.volumes)) if (v.ephemeral) add(v);
  if (o.etcHosts !== false) add(p.etcHosts);
  return out;
}

/** the pods' disk figures by uid, none older than `maxAgeMs` (default the source's refresh period); a pod with no container yet is absent */
export interface PodStorageSource {
  get(pods: readonly Pod[], signal: AbortSignal, o?: { maxAgeMs?: number }): Promise<Map<string, PodStorage>>;
}

/** where a container is (PodSync.locate), and where the pod's local-path PVC volumes are (PodSync.localPathClaims) */
export interface ContainerLocator {
  locate(namespace: string, name: string, container?: string): { handler?: RuntimeHandler; id?: ContainerId; logDir: string } | undefined;
  localPathClaims?(uid: string): readonly { name: string; hostPath: string; claim?: { name: string; namespace: string } }[];
}

/** entries lstat'ed between two yields to the event loop */
const WALK_SLICE = 256;

/**
 * Blocks and inodes under `dir` (0 when it does not exist). Synchronous lstats in slices, the
 * event loop getting its turn between them: one awaited lstat per entry went through the thread
 * pool each time and walked ~60 000 entries in ~9 s on a loaded 2-core host, the slices in a
 * fraction of that without holding the loop for more than a slice.
 */
export async function diskUsage(dir: string): Promise<FsUsage> {
  const out: FsUsage = { bytes: 0, inodes: 0 };
  const seen = new Set<string>();
  const todo = [dir];
  let n = 0;
  for (let p = todo.pop(); p !== undefined; p = todo.pop()) {
    if (++n % WALK_SLICE === 0) await new Promise<void>((r) => setImmediate(r));
    let st;
    try {
      st = lstatSync(p);
    } catch {
      continue;
    }
    const id = `${st.dev}:${st.ino}`;
    if (seen.has(id)) continue;
    seen.add(id);
    out.bytes += st.blocks * 512;
    out.inodes += 1;
    if (!st.isDirectory()) continue;
    try {
      for (const e of readdirSync(p)) todo.push(join(p, e));
    } catch {
      // gone meanwhile, or unreadable: counted itself, not its entries
    }
  }
  return out;
}

/** a single file's figures (upstream's du of etc-hosts), undefined when it does not exist */
async function lstatUsage(path: string): Promise<FsUsage | undefined> {
  const st = await lstat(path).catch(() => undefined);
  return st ? { bytes: st.blocks * 512, inodes: 1 } : undefined;
}

/** the directory holding a container's writes: an overlay's upperdir, or a writable bind's source */
async function writableLayerDir(snapshotter: Snapshotter, id: string): Promise<string | undefined> {
  const mounts = await snapshotter.mounts(id).catch(() => undefined);
  for (const m of mounts ?? []) {
    if (m.type === 'overlay') {
      const upper = m.options.find((o) => o.startsWith('upperdir='));
      if (upper) return upper.slice('upperdir='.length);
    }
    if (m.type === 'bind' && m.options.includes('rw')) return m.source;
  }
  return undefined;
}

/** the kubelet's housekeeping of fs usage: about once a minute */
export const POD_STORAGE_REFRESH_MS = 60_000;
/** an entry no one asked about for this long is dropped (its pod is gone) */
const FORGET_AFTER_MS = 5 * 60_000;

export interface PodStorageCacheOptions {
  pods: ContainerLocator;
  snapshotter: Snapshotter;
  dataDir: string;
  clock: Clock;
  logger: Logger;
  refreshMs?: number;
}

/**
 * The walks, cached per pod: `get` walks only the pods whose figures are older than asked for,
 * one pod after another (a walk is many small lstats; side by side they would only compete for
 * the same disk), and a pod already being walked is waited for rather than walked twice.
 */
export class PodStorageCache implements PodStorageSource {
  private readonly entries = new Map<string, { value?: PodStorage; at: number; usedAt: number }>();
  private readonly inflight = new Map<string, Promise<PodStorage | undefined>>();
  private readonly refreshMs: number;
  private readonly log: Logger;
  /** the last walk of more than one pod: how many, how long (ms), for the logs and the README's figures */
  lastWalk?: { pods: number; ms: number };

  constructor(private readonly o: PodStorageCacheOptions) {
    this.refreshMs = o.refreshMs ?? POD_STORAGE_REFRESH_MS;
    this.log = o.logger.child({ component: 'pod-storage' });
  }

  async get(pods: readonly Pod[], signal: AbortSignal, opt: { maxAgeMs?: number } = {}): Promise<Map<string, PodStorage>> {
    const maxAge = opt.maxAgeMs ?? this.refreshMs;
    const now = this.o.clock.now();
    const out = new Map<string, PodStorage>();
    const stale: Pod[] = [];
    for (const p of pods) {
      const uid = p.metadata?.uid ?? '';
      const e = this.entries.get(uid);
      if (e) e.usedAt = now;
      // maxAgeMs 0: walked now, whatever the cache has (a walk under way is joined)
      if (e && maxAge > 0 && now - e.at <= maxAge) {
        if (e.value) out.set(uid, e.value);
      } else stale.push(p);
    }
    const started = Date.now();
    for (const p of stale) {
      if (signal.aborted) break;
      const uid = p.metadata?.uid ?? '';
      const v = await this.walkOnce(p, uid);
      if (v) out.set(uid, v);
    }
    if (stale.length > 1) {
      this.lastWalk = { pods: stale.length, ms: Date.now() - started };
      this.log.debug(this.lastWalk, 'pod storage walked');
    }
    for (const [uid, e] of this.entries) if (now - e.usedAt > FORGET_AFTER_MS) this.entries.delete(uid);
    return out;
  }

  private walkOnce(p: Pod, uid: string): Promise<PodStorage | undefined> {
    const running = this.inflight.get(uid);
    if (running) return running;
    const walk = this.walk(p)
      .catch((err: unknown) => {
        this.log.debug({ err, pod: `${p.metadata?.namespace}/${p.metadata?.name}` }, 'pod storage unavailable');
        return undefined;
      })
      .then((value) => {
        const now = this.o.clock.now();
        this.entries.set(uid, { ...(value ? { value } : {}), at: now, usedAt: now });
        return value;
      })
      .finally(() => this.inflight.delete(uid));
    this.inflight.set(uid, walk);
    return walk;
  }

  private async walk(pod: Pod): Promise<PodStorage | undefined> {
    const ns = pod.metadata?.namespace ?? 'default';
    const name = pod.metadata?.name ?? '';
    const uid = pod.metadata?.uid ?? '';
    const containers: ContainerStorage[] = [];
    for (const c of [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? []), ...(pod.spec?.ephemeralContainers ?? [])]) {
      const loc = this.o.pods.locate(ns, name, c.name);
      if (!loc?.id) continue;
      const u: ContainerStorage = { name: c.name };
      const layer = await writableLayerDir(this.o.snapshotter, loc.id);
      if (layer) u.rootfs = await diskUsage(layer);
      u.logs = await diskUsage(loc.logDir);
      containers.push(u);
    }
    if (containers.length === 0) return undefined;
    const volumes: Record<string, VolumeStorage> = {};
    for (const v of pod.spec?.volumes ?? []) {
      const kind = volumePlugin(v);
      if (!kind) continue;
      const u = await diskUsage(volumeDir(this.o.dataDir, uid, kind.plugin, v.name));
      // not set up (yet): no figures, as upstream lists only the volumes mounted
      if (u.inodes > 0) volumes[v.name] = { ...u, ephemeral: kind.ephemeral };
    }
    // local-path PVC volumes: listed with their claim, not ephemeral storage (upstream's csi volumes with pvcRef)
    const claims = new Map((this.o.pods.localPathClaims?.(uid) ?? []).map((c) => [c.name, c]));
    for (const v of pod.spec?.volumes ?? []) {
      const c = claims.get(v.name);
      if (!c?.claim) continue;
      const u = await diskUsage(c.hostPath);
      if (u.inodes > 0) volumes[v.name] = { ...u, ephemeral: false, pvcRef: { name: c.claim.name, namespace: c.claim.namespace } };
    }
    const out: PodStorage = { time: this.o.clock.now(), containers, volumes };
    // absent: a pod whose containers mount their own /etc/hosts, or not started yet
    const hosts = await lstatUsage(etcHostsPath(this.o.dataDir, uid));
    if (hosts) out.etcHosts = hosts;
    return out;
  }
}
