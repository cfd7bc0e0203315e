import type { Pod, Service } from 'kubernetes-types/core/v1.js';
import type { Clock } from '../../client/clock.ts';
import type { KubeClient } from '../../client/types.ts';
import type { SharedInformerFactory } from '../../client/shared-informers.ts';
import type { Logger } from '../../lib/log.ts';
import type { ImageStore } from '../image/types.ts';
import type { NetworkPlugin } from '../network/types.ts';
import type { ContainerId, ContainerState, RuntimeHandler, SandboxId } from '../runtime/types.ts';
import type { Snapshotter } from '../snapshot/types.ts';
import type { Mounter } from '../volumes/types.ts';
import type { LocalPathVolumes } from '../volumes/local-path.ts';
import type { EventSink } from '../../client/event-recorder.ts';
import type { ContainerKind } from './labels.ts';
import type { NetnsPool } from '../network/netns-pool.ts';
import type { StartGate } from './start-gate.ts';

export interface PodSyncDeps {
  client: KubeClient;
  runtimes: Map<string, RuntimeHandler>;
  network: NetworkPlugin;
  images: ImageStore;
  snapshotter: Snapshotter;
  mounter: Mounter;
  /** the node's local-path volumes (PVC volumes), shared with the node server that deletes them */
  localPath?: LocalPathVolumes;
  logger: Logger;
  clock: Clock;
  events: EventSink;
  /** for resourceFieldRef without limits */
  nodeAllocatable: { cpuMilli: number; memoryBytes: number };
  /**
   * RuntimeClass name → its handler, undefined when there is no such RuntimeClass. PodSync fills
   * it from a RuntimeClass informer; without it every new pod costs an API GET.
   */
  runtimeClassHandler?: (name: string, signal: AbortSignal) => Promise<string | undefined>;
  /** bounds concurrent pod starts, oldest pod first; PodSync makes one (PodSyncConfig.maxConcurrentStarts) */
  startGate?: StartGate;
  /** the cluster's Services for the containers' service variables; undefined until read once. PodSync fills it from a Service informer */
  services?: () => readonly Service[] | undefined;
  /** network namespaces made ahead of the pods (network/netns-pool.ts); PodSync starts it once it has swept the netns directory */
  netnsPool?: Pick<NetnsPool, 'start' | 'take' | 'close'>;
  /** the node's shared informers (its pods, RuntimeClasses and Services are read there); PodSync makes its own otherwise */
  informers?: SharedInformerFactory;
  /** the kubelet's admit handlers, asked in order before a new pod is started (the eviction manager's) */
  admitHandlers?: readonly PodAdmitHandler[];
}

/** lifecycle.PodAdmitResult: a refused pod is written Failed with `reason` and `Pod was rejected: <message>` */
export type PodAdmitResult = { admit: true } | { admit: false; reason: string; message: string };

/** lifecycle.PodAdmitHandler: may this node start `pod` now? `others` are the pods it runs (not finished) */
export interface PodAdmitHandler {
  admit(pod: Pod, others: readonly Pod[]): PodAdmitResult;
}

/** Where a running sandbox is; persisted so a restarted agent can find and clean it. */
export interface SandboxRecord {
  id: SandboxId;
  handler: string;
  netnsPath?: string;
  podIP?: string;
  /** one address per family, podIP first (dual-stack pods have an IPv6 one too) */
  podIPs?: string[];
  /** k8s.v1.cni.cncf.io/network-status to write on the pod (pods that select networks by annotation) */
  networkStatus?: string;
  /** the runtime's createSandbox succeeded (before that only the network may exist) */
  created: boolean;
  pod: { uid: string; namespace: string; name: string };
}

export interface ProbeTrack {
  nextAt: number;
  successes: number;
  failures: number;
  /** undefined until the first result */
  ok?: boolean;
}

export interface TerminatedInfo {
  exitCode: number;
  reason: string;
  message?: string;
  startedAt?: number;
  finishedAt: number;
  containerId: ContainerId;
}

/** The agent's view of one container of the pod across restarts. */
export interface ContainerRecord {
  name: string;
  kind: ContainerKind;
  /** the current runtime container (newest attempt) */
  id?: ContainerId;
  /** the attempt before, kept for `logs --previous` */
  prevId?: ContainerId;
  restartCount: number;
  observed?: ContainerState;
  /** why it is not running, when it is not */
  waiting?: { reason: string; message?: string };
  lastTerminated?: TerminatedInfo;
  /** the container whose exit has been accounted for (back-off computed) */
  handledExit?: ContainerId;
  /** back-off for the next restart/pull, 0 = none yet */
  backoffMs: number;
  retryAt: number;
  /** delay currently being waited out (for the CrashLoopBackOff message) */
  waitingDelayMs: number;
  pullFailures: number;
  image?: string;
  imageID?: string;
  logPath?: string;
  started: boolean;
  ready: boolean;
  probes: { startup?: ProbeTrack; liveness?: ProbeTrack; readiness?: ProbeTrack };
  /** set when the agent kills the container (liveness/startup failure) */
  killReason?: string;
  /** the log tail read once for an attempt's FallbackToLogsOnError message */
  logMessage?: { id: ContainerId; message: string };
}

/** Inputs a worker reacts to; tagged so handling stays exhaustive. */
export type PodEvent =
  | { type: 'updated'; pod: Pod }
  | { type: 'deleted' }
  | { type: 'tick' };

export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';
