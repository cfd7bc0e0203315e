/**
 * The latest resource usage of every node and container, as metrics-server keeps it: the last two
 * points per node and per container, CPU as the rate between them (window = the time between
 * them), memory from the last. Nothing is fabricated: a node whose scrapes stop (offline, NotReady,
 * failing) keeps its figures only until `staleAfterMs` after its last good scrape, then it and its
 * pods drop out of the API.
 */
import type { CpuMemPoint, ResourceScrape } from './parse-resource-metrics.ts';

export interface Usage {
  /** when the last figures were read (node clock), ms */
  timestamp: number;
  /** between the two points the rate is taken over, ms */
  windowMs: number;
  cpuNanoCores: number;
  memoryBytes: number;
}

export interface ContainerUsage extends Usage {
  name: string;
}

export interface PodUsage {
  timestamp: number;
  windowMs: number;
  containers: ContainerUsage[];
}

interface Pair {
  last: CpuMemPoint;
  prev?: CpuMemPoint;
}

interface NodeEntry {
  /** server clock of the last good scrape */
  scrapedAt: number;
  node?: Pair;
  pods: Map<string, Map<string, Pair>>;
}

export interface MetricsStorageOptions {
  /** the scrape period: a container first seen within it after its start is rated from its start */
  resolutionMs: number;
  /** figures of a node not scraped successfully for this long are dropped */
  staleAfterMs: number;
}

/** usage between two points, or undefined when there is no sound rate (metrics-server's resourceUsage) */
function usage(p: Pair): Usage | undefined {
  const { last, prev } = p;
  if (!prev || last.cpuSeconds === undefined || prev.cpuSeconds === undefined || last.memoryWorkingSetBytes === undefined) return undefined;
  const windowMs = last.timestamp - prev.timestamp;
  if (windowMs <= 0 || last.cpuSeconds < prev.cpuSeconds) return undefined;
  return {
    timestamp: last.timestamp,
    windowMs,
    // in integer nanoseconds first, as metrics-server: no float noise in the difference
    cpuNanoCores: Math.floor((Math.round(last.cpuSeconds * 1e9) - Math.round(prev.cpuSeconds * 1e9)) / (windowMs / 1000)),
    memoryBytes: last.memoryWorkingSetBytes,
  };
}

export class MetricsStorage {
  private readonly nodes = new Map<string, NodeEntry>();
  /** namespace/pod → the node whose scrape last reported it */
  private readonly podNode = new Map<string, string>();

  constructor(private readonly opts: MetricsStorageOptions) {}

  /** Take one successful scrape of `nodeName` (received at server time `now`). */
  store(nodeName: string, scrape: ResourceScrape, now: number): void {
    const old = this.nodes.get(nodeName);
    const entry: NodeEntry = { scrapedAt: now, pods: new Map() };
    if (scrape.node && scrape.node.cpuSeconds !== undefined) entry.node = this.advance(old?.node, scrape.node, false);
    for (const [podKey, containers] of scrape.pods) {
      const next = new Map<string, Pair>();
      const before = old?.pods.get(podKey);
      for (const [name, point] of containers) {
        if (point.cpuSeconds === undefined) continue;
        next.set(name, this.advance(before?.get(name), point, true));
      }
      if (next.size > 0) {
        entry.pods.set(podKey, next);
        this.podNode.set(podKey, nodeName);
      }
    }
    if (old) for (const podKey of old.pods.keys()) if (!entry.pods.has(podKey) && this.podNode.get(podKey) === nodeName) this.podNode.delete(podKey);
    this.nodes.set(nodeName, entry);
  }

  /** the new last point, and the previous one to rate it against */
  private advance(old: Pair | undefined, point: CpuMemPoint, container: boolean): Pair {
    const fresh = (): Pair => {
      // a container that started within the last period is rated from its start, at zero usage
      const start = point.startTime;
      if (container && start !== undefined && start < point.timestamp && point.timestamp - start <= this.opts.resolutionMs) {
        return { last: point, prev: { timestamp: start, cpuSeconds: 0, memoryWorkingSetBytes: 0 } };
      }
      return { last: point };
    };
    if (!old) return fresh();
    // restarted (counter went back) or a new container under the same name: start over
    if (old.last.cpuSeconds !== undefined && point.cpuSeconds !== undefined && point.cpuSeconds < old.last.cpuSeconds) return fresh();
    if (point.timestamp > old.last.timestamp) return { last: point, prev: old.last };
    // the node answered with the same reading again: keep the pair we had
    return old.prev && old.prev.timestamp < point.timestamp ? { last: point, prev: old.prev } : { last: point };
  }

  /** Drop the figures of nodes whose last good scrape is older than the staleness bound, and of nodes gone. */
  expire(now: number, existing?: ReadonlySet<string>): void {
    for (const [name, e] of this.nodes) {
      if (now - e.scrapedAt > this.opts.staleAfterMs || (existing && !existing.has(name))) {
        this.nodes.delete(name);
        for (const [podKey, n] of this.podNode) if (n === name) this.podNode.delete(podKey);
      }
    }
  }

  nodeUsage(name: string, now: number): Usage | undefined {
    const e = this.live(name, now);
    return e?.node ? usage(e.node) : undefined;
  }

  podUsage(namespace: string, name: string, now: number): PodUsage | undefined {
    const key = `${namespace}/${name}`;
    const nodeName = this.podNode.get(key);
    const containers = nodeName === undefined ? undefined : this.live(nodeName, now)?.pods.get(key);
    if (!containers) return undefined;
    const out: ContainerUsage[] = [];
    let earliest: Usage | undefined;
    for (const [cname, pair] of containers) {
      const u = usage(pair);
      if (!u) continue;
      out.push({ name: cname, ...u });
      if (!earliest || u.timestamp < earliest.timestamp) earliest = u;
    }
    if (!earliest) return undefined;
    out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return { timestamp: earliest.timestamp, windowMs: earliest.windowMs, containers: out };
  }

  private live(name: string, now: number): NodeEntry | undefined {
    const e = this.nodes.get(name);
    return e && now - e.scrapedAt <= this.opts.staleAfterMs ? e : undefined;
  }
}
