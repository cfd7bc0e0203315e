import type { ContainerImage, NodeCondition, NodeStatus } from 'kubernetes-types/core/v1.js';
import { formatTime } from '../../client/micro-time.ts';
import { parseReference } from '../image/reference.ts';
import type { ImageInfo } from '../image/types.ts';
import { nodeAllocatable } from './allocatable.ts';
import type { NodeConfig } from './config.ts';
import type { HostIdentity, HostUsage } from './host-probe.ts';

/** what the node's pressure conditions follow: the eviction manager's verdicts (eviction/eviction-manager.ts) */
export interface PressureSource {
  underPressure(condition: 'MemoryPressure' | 'DiskPressure' | 'PIDPressure'): boolean;
}

export const KUBELET_VERSION = 'v1.32.0-hedge';
export const RUNTIME_VERSION = 'hedge://0.1.0';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * kubelet's node conditions: the pressure ones as the eviction manager has them (its thresholds,
 * held for evictionPressureTransitionPeriod once met), False until it has made its first pass
 */
export function nodeConditions(pressure: PressureSource | undefined, now: number, previous: readonly NodeCondition[] = [], notReady?: string): NodeCondition[] {
  const memPressure = pressure?.underPressure('MemoryPressure') ?? false;
  const diskPressure = pressure?.underPressure('DiskPressure') ?? false;
  const pidPressure = pressure?.underPressure('PIDPressure') ?? false;
  const prev = new Map(previous.map((c) => [c.type, c]));
  const mk = (type: string, on: boolean, yes: [string, string], no: [string, string]): NodeCondition => {
    const status = on ? 'True' : 'False';
    const [reason, message] = on ? yes : no;
    const p = prev.get(type);
    return {
      type,
      status,
      lastHeartbeatTime: formatTime(now),
      lastTransitionTime: p && p.status === status && p.lastTransitionTime ? p.lastTransitionTime : formatTime(now),
      reason,
      message,
    };
  };
  return [
    mk('MemoryPressure', memPressure, ['KubeletHasInsufficientMemory', 'kubelet has insufficient memory available'], ['KubeletHasSufficientMemory', 'kubelet has sufficient memory available']),
    mk('DiskPressure', diskPressure, ['KubeletHasDiskPressure', 'kubelet has disk pressure'], ['KubeletHasNoDiskPressure', 'kubelet has no disk pressure']),
    mk('PIDPressure', pidPressure, ['KubeletHasInsufficientPID', 'kubelet has insufficient PID available'], ['KubeletHasSufficientPID', 'kubelet has sufficient PID available']),
    mk('Ready', notReady === undefined, ['KubeletReady', 'kubelet is posting ready status'], ['KubeletNotReady', notReady ?? '']),
  ];
}

/** the kubelet's nodeStatusMaxImages and maxNamesPerImageInNodeStatus */
export const NODE_STATUS_MAX_IMAGES = 50;
export const MAX_NAMES_PER_IMAGE = 5;

/**
 * NodeStatus.images as the kubelet reports it: one entry per image (by id), its repo digests then
 * its tags (at most 5 names), largest first, at most 50. Unnamed images (imported without a name,
 * known by digest only) are left out.
 */
export function nodeImages(images: readonly ImageInfo[]): ContainerImage[] {
  const byId = new Map<string, { digests: Set<string>; tags: Set<string>; sizeBytes: number }>();
  for (const i of images) {
    if (/^sha256:[a-f0-9]{64}$/.test(i.ref)) continue;
    let repo: string;
    try {
      const r = parseReference(i.ref);
      repo = `${r.registry}/${r.repository}`;
    } catch {
      continue;
    }
    const e = byId.get(i.id) ?? { digests: new Set<string>(), tags: new Set<string>(), sizeBytes: 0 };
    e.digests.add(`${repo}@${i.digest}`);
    if (!i.ref.includes('@')) e.tags.add(i.ref);
    e.sizeBytes = Math.max(e.sizeBytes, i.sizeBytes);
    byId.set(i.id, e);
  }
  return [...byId.values()]
    .sort((a, b) => b.sizeBytes - a.sizeBytes)
    .slice(0, NODE_STATUS_MAX_IMAGES)
    .map((e) => ({ names: [...[...e.digests].sort(), ...[...e.tags].sort()].slice(0, MAX_NAMES_PER_IMAGE), sizeBytes: e.sizeBytes }));
}

export function nodeStatus(opts: {
  cfg: NodeConfig;
  cpus: number;
  id: HostIdentity;
  usage: HostUsage;
  now: number;
  previous?: readonly NodeCondition[];
  notReady?: string;
  /** the node's images (NodeStatus.images); undefined = not reported */
  images?: readonly ImageInfo[];
  pressure?: PressureSource;
}): NodeStatus {
  const { cfg, usage } = opts;
  const mem = usage.memory.totalBytes;
  const disk = usage.disk.totalBytes;
  const alloc = nodeAllocatable({ cpuMilli: opts.cpus * 1000, memoryBytes: mem, ephemeralStorageBytes: disk }, cfg.reserved, cfg.hardEvictionThresholds);
  const st: Mutable<NodeStatus> = {
    capacity: {
      cpu: String(opts.cpus),
      memory: `${Math.floor(mem / 1024)}Ki`,
      'ephemeral-storage': `${Math.floor(disk / 1024)}Ki`,
      pods: String(cfg.maxPods),
    },
    allocatable: {
      cpu: `${alloc.cpuMilli}m`,
      memory: `${Math.floor(alloc.memoryBytes / 1024)}Ki`,
      'ephemeral-storage': String(alloc.ephemeralStorageBytes),
      pods: String(cfg.maxPods),
    },
    conditions: nodeConditions(opts.pressure, opts.now, opts.previous, opts.notReady),
    addresses: [...(cfg.internalIP ? [{ type: 'InternalIP', address: cfg.internalIP }] : []), { type: 'Hostname', address: opts.id.hostname || cfg.nodeName }],
    daemonEndpoints: { kubeletEndpoint: { Port: cfg.kubeletPort } },
    nodeInfo: {
      machineID: opts.id.machineID,
      systemUUID: opts.id.machineID,
      bootID: opts.id.bootID,
      kernelVersion: opts.id.kernelVersion,
      osImage: opts.id.osImage,
      containerRuntimeVersion: RUNTIME_VERSION,
      kubeletVersion: KUBELET_VERSION,
      kubeProxyVersion: '',
      operatingSystem: 'linux',
      architecture: opts.id.architecture,
    },
    ...(opts.images ? { images: nodeImages(opts.images) } : {}),
  };
  // k8s 1.30 NodeRuntimeHandler; kubernetes-types 1.30 lacks the field, so it is added untyped.
  (st as Record<string, unknown>).runtimeHandlers = cfg.runtimeHandlers.map((name) => ({
    name,
    features: { recursiveReadOnlyMounts: false, userNamespaces: false },
  }));
  return st;
}

/** status without heartbeat times, to decide whether anything really changed */
export function statusFingerprint(s: NodeStatus): string {
  return JSON.stringify({ ...s, conditions: (s.conditions ?? []).map((c) => ({ ...c, lastHeartbeatTime: undefined })) });
}
