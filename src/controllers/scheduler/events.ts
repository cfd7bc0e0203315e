import type { RuntimeClass } from 'kubernetes-types/node/v1.js';
import type { Labels } from '../../api/labels/index.ts';
import type { KubeObject } from '../../api/object.ts';
import type { PersistentVolumeClaimObject, PersistentVolumeObject, StorageClassObject } from '../../api/storage/claims.ts';
import type { NodeObject, PodObject } from '../common/types.ts';
import type { PodInfo } from './node-info.ts';

/**
 * Upstream's framework.ActionType: bits, so a registration names several and an update event
 * carries exactly the kinds of change it made. `Update` is every update bit: what an update of a
 * resource without finer kinds (PVs, claims, classes) carries and what matches any update.
 */
export const ActionType = {
  Add: 1 << 0,
  Delete: 1 << 1,
  UpdateNodeAllocatable: 1 << 2,
  UpdateNodeLabel: 1 << 3,
  /** spec.taints, and spec.unschedulable (upstream counts a cordon as a taint change) */
  UpdateNodeTaint: 1 << 4,
  /** a condition's status (heartbeat and transition times are not a change) */
  UpdateNodeCondition: 1 << 5,
  /** hedge: status.runtimeHandlers (the RuntimeHandler filter) */
  UpdateNodeRuntimeHandlers: 1 << 6,
  UpdatePodLabel: 1 << 7,
  /** hedge: a placed pod got its deletionTimestamp (spreading stops counting it) */
  UpdatePodTerminating: 1 << 8,
  /** any other update (resources without finer kinds) */
  UpdateOther: 1 << 9,
  Update: (1 << 2) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 9),
} as const;

export type RuntimeClassObject = RuntimeClass & KubeObject;

/** The objects of each event resource. `AssignedPod`: a pod on a node (bound, or assumed by this scheduler). */
export interface EventObjects {
  Node: NodeObject;
  AssignedPod: PodObject;
  PersistentVolume: PersistentVolumeObject;
  PersistentVolumeClaim: PersistentVolumeClaimObject;
  StorageClass: StorageClassObject;
  RuntimeClass: RuntimeClassObject;
  Namespace: KubeObject;
}
export type EventResource = keyof EventObjects;

/** A change in the cluster (upstream's ClusterEvent with its old and new object): `old` absent on Add, `new` on Delete. */
export type ClusterEvent = { [R in EventResource]: { resource: R; action: number; old?: EventObjects[R]; new?: EventObjects[R] } }[EventResource];

/** Upstream's QueueingHint: whether the event may make the pod schedulable (Queue) or surely not (QueueSkip). */
export type QueueingHint = 'Queue' | 'QueueSkip';

/** What hints may read besides the pod and the objects. */
export interface HintContext {
  namespaceLabels(name: string): Labels;
}

/**
 * Upstream's QueueingHintFn for a pod a plugin rejected: `old` absent on Add, `new` on Delete. It
 * must only say QueueSkip when the change cannot make that plugin accept the pod on some node.
 */
export type QueueingHintFn<T> = (pod: PodInfo, old: T | undefined, cur: T | undefined, ctx: HintContext) => QueueingHint;

/** Upstream's ClusterEventWithHint: an event a plugin cares about; no hint means Queue. */
export type EventRegistration = { [R in EventResource]: { resource: R; actions: number; hint?: QueueingHintFn<EventObjects[R]> } }[EventResource];

/** The hint of `reg` for `event` (Queue when `reg` has none); undefined when `reg` is not about this event. */
export function hintFor(reg: EventRegistration, event: ClusterEvent, pod: PodInfo, ctx: HintContext): QueueingHint | undefined {
  if (reg.resource !== event.resource || (reg.actions & event.action) === 0) return undefined;
  if (!reg.hint) return 'Queue';
  // same resource, so the objects are of the hint's type
  const hint = reg.hint as QueueingHintFn<unknown>;
  return hint(pod, event.old, event.new, ctx);
}

const json = (v: unknown): string => JSON.stringify(v ?? null);

function conditionStatuses(n: NodeObject): string {
  return json((n.status?.conditions ?? []).map((c) => `${c.type}=${c.status}`).sort());
}

/**
 * The kinds of change a node update made (upstream's nodeSchedulingPropertiesChange); 0 for none
 * the scheduler looks at, e.g. a heartbeat (lastHeartbeatTime), images, addresses, annotations.
 */
export function nodeUpdateActions(old: NodeObject, cur: NodeObject): number {
  let a = 0;
  if (json(old.status?.allocatable) !== json(cur.status?.allocatable)) a |= ActionType.UpdateNodeAllocatable;
  if (json(old.metadata.labels) !== json(cur.metadata.labels)) a |= ActionType.UpdateNodeLabel;
  if (json(old.spec?.taints) !== json(cur.spec?.taints) || !!old.spec?.unschedulable !== !!cur.spec?.unschedulable) a |= ActionType.UpdateNodeTaint;
  if (conditionStatuses(old) !== conditionStatuses(cur)) a |= ActionType.UpdateNodeCondition;
  if (json(old.status?.runtimeHandlers) !== json(cur.status?.runtimeHandlers)) a |= ActionType.UpdateNodeRuntimeHandlers;
  return a;
}

/** The kinds of change an update of a placed pod made: labels (affinity, spreading) and the start of its termination. */
export function assignedPodUpdateActions(old: PodObject, cur: PodObject): number {
  let a = 0;
  if (json(old.metadata.labels) !== json(cur.metadata.labels)) a |= ActionType.UpdatePodLabel;
  if (!old.metadata.deletionTimestamp && cur.metadata.deletionTimestamp) a |= ActionType.UpdatePodTerminating;
  return a;
}
