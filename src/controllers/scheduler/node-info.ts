import type { ContainerPort } from 'kubernetes-types/core/v1.js';
import type { OwnerReference } from 'kubernetes-types/meta/v1.js';
import { podPriority } from '../../api/priority-classes.ts';
import type { NodeObject, PodObject } from '../common/types.ts';
import { podAffinityInfo, type PodAffinityInfo } from './pod-affinity-terms.ts';
import { nodeAllocatable, podRequests, zeroResources, type Allocatable, type Resources } from './pod-resources.ts';

/** A host port as the NodePorts filter compares them. */
export interface HostPort {
  ip: string;
  protocol: string;
  port: number;
}

/** What the scheduler needs to know about one pod, computed once per pod version. */
export interface PodInfo {
  key: string;
  pod: PodObject;
  requests: Resources;
  /** requests with the scoring defaults for containers that request nothing */
  nonZero: Resources;
  hostPorts: HostPort[];
  /** controller owner uid, or a namespace+labels signature; '' when neither (no spreading) */
  spreadKey: string;
  /** pod (anti-)affinity terms, parsed; undefined for the pods that have none */
  affinity: PodAffinityInfo | undefined;
  /** spec.priority (0 when unset) */
  priority: number;
}

export function podKey(pod: PodObject): string {
  return `${pod.metadata.namespace ?? ''}/${pod.metadata.name ?? ''}`;
}

export function hostPortsOf(pod: PodObject): HostPort[] {
  const out: HostPort[] = [];
  const all = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])];
  for (const c of all) {
    for (const p of (c.ports ?? []) as ContainerPort[]) {
      if (p.hostPort && p.hostPort > 0) {
        out.push({ ip: p.hostIP || '0.0.0.0', protocol: p.protocol ?? 'TCP', port: p.hostPort });
      }
    }
  }
  return out;
}

export function spreadKeyOf(pod: PodObject): string {
  const owners: OwnerReference[] = pod.metadata.ownerReferences ?? [];
  const owner = owners.find((o) => o.controller) ?? owners[0];
  if (owner) return `owner:${owner.uid}`;
  const labels = pod.metadata.labels;
  if (!labels || Object.keys(labels).length === 0) return '';
  const sorted = Object.keys(labels).sort().map((k) => `${k}=${labels[k]}`).join(',');
  return `labels:${pod.metadata.namespace ?? ''}/${sorted}`;
}

export function podInfo(pod: PodObject): PodInfo {
  return {
    key: podKey(pod),
    pod,
    requests: podRequests(pod),
    nonZero: podRequests(pod, true),
    hostPorts: hostPortsOf(pod),
    spreadKey: spreadKeyOf(pod),
    affinity: podAffinityInfo(pod),
    priority: podPriority(pod),
  };
}

/** Totals over every NodeInfo of one scheduler, so a pod without affinity skips the per-node scans. */
export interface ClusterTotals {
  podsWithAffinity: number;
  podsWithRequiredAntiAffinity: number;
}

/**
 * One node plus the running totals of the pods on it, maintained incrementally so a
 * scheduling decision costs O(nodes), not O(nodes × pods).
 */
export class NodeInfo {
  node: NodeObject | undefined;
  allocatable: Allocatable = { ...zeroResources(), pods: 0 };
  readonly pods = new Map<string, PodInfo>();
  /** the pods with pod (anti-)affinity terms: what the other pods' scoring must look at */
  readonly podsWithAffinity = new Map<string, PodInfo>();
  /** the pods with required anti-affinity terms: what every incoming pod must be checked against */
  readonly podsWithRequiredAntiAffinity = new Map<string, PodInfo>();
  requested: Resources = zeroResources();
  nonZeroRequested: Resources = zeroResources();
  private readonly ports = new Map<string, number>();
  private readonly spread = new Map<string, number>();
  /** pods per priority value: whether preemption could find victims here, without a scan */
  private readonly priorities = new Map<number, number>();

  constructor(
    readonly name: string,
    readonly cluster: ClusterTotals = { podsWithAffinity: 0, podsWithRequiredAntiAffinity: 0 },
  ) {}

  setNode(node: NodeObject): void {
    this.node = node;
    this.allocatable = nodeAllocatable(node);
  }

  addPod(pi: PodInfo): void {
    if (this.pods.has(pi.key)) this.removePod(pi.key);
    this.pods.set(pi.key, pi);
    if (pi.affinity) {
      this.podsWithAffinity.set(pi.key, pi);
      this.cluster.podsWithAffinity++;
      if (pi.affinity.requiredAntiAffinity.length) {
        this.podsWithRequiredAntiAffinity.set(pi.key, pi);
        this.cluster.podsWithRequiredAntiAffinity++;
      }
    }
    this.apply(pi, 1);
  }

  removePod(key: string): void {
    const pi = this.pods.get(key);
    if (!pi) return;
    this.pods.delete(key);
    if (this.podsWithAffinity.delete(key)) this.cluster.podsWithAffinity--;
    if (this.podsWithRequiredAntiAffinity.delete(key)) this.cluster.podsWithRequiredAntiAffinity--;
    this.apply(pi, -1);
  }

  private apply(pi: PodInfo, sign: 1 | -1): void {
    const r = this.requested;
    r.milliCPU += sign * pi.requests.milliCPU;
    r.memory += sign * pi.requests.memory;
    r.ephemeralStorage += sign * pi.requests.ephemeralStorage;
    const n = this.nonZeroRequested;
    n.milliCPU += sign * pi.nonZero.milliCPU;
    n.memory += sign * pi.nonZero.memory;
    for (const hp of pi.hostPorts) bump(this.ports, `${hp.protocol}/${hp.port}/${hp.ip}`, sign);
    if (pi.spreadKey) bump(this.spread, pi.spreadKey, sign);
    bump(this.priorities, pi.priority, sign);
  }

  /** some pod here has a priority below `priority` */
  hasPodBelow(priority: number): boolean {
    for (const p of this.priorities.keys()) if (p < priority) return true;
    return false;
  }

  /** host port in use, with 0.0.0.0 conflicting with every address (upstream HostPortInfo semantics) */
  portInUse(hp: HostPort): boolean {
    if (hp.ip === '0.0.0.0') {
      const prefix = `${hp.protocol}/${hp.port}/`;
      for (const k of this.ports.keys()) if (k.startsWith(prefix)) return true;
      return false;
    }
    return this.ports.has(`${hp.protocol}/${hp.port}/${hp.ip}`) || this.ports.has(`${hp.protocol}/${hp.port}/0.0.0.0`);
  }

  spreadCount(key: string): number {
    return key ? (this.spread.get(key) ?? 0) : 0;
  }
}

function bump<K>(m: Map<K, number>, k: K, by: number): void {
  const v = (m.get(k) ?? 0) + by;
  if (v <= 0) m.delete(k);
  else m.set(k, v);
}
