import type { Autonomy } from './autonomy.ts';
import { parseOfflineHeartbeats } from '../../api/annotations/offline-heartbeats.ts';

/**
 * Health of one node as the cloud sees it. Tagged union; every transition is in `step`.
 * - Healthy: renewals arrive and the node does not say NotReady.
 * - NotReady: renewals arrive but the node reports Ready=False (since = when we saw that).
 * - Unreachable: no renewal for the grace period (since = when we noticed). `ordinarySince`
 *   is when ordinary eviction rules began to apply: undefined while autonomy protects the node.
 */
export type NodeHealth =
  | { kind: 'Healthy' }
  | { kind: 'NotReady'; since: number }
  | {
      kind: 'Unreachable';
      since: number;
      ordinarySince: number | undefined;
      /** autonomy protected the node at some point of this partition; last time it did */
      lastAutonomousAt: number | undefined;
      /** offline-heartbeats annotation when the partition began (to tell new evidence from old) */
      markBefore: string | undefined;
    };

export type PartitionVerdict = 'EdgeWasPartitioned' | 'NodeWasDown';

export interface LastPartition {
  from: number;
  to: number;
  verdict: PartitionVerdict;
  markBefore: string | undefined;
  /** the node was autonomous during the partition (decides whether the verdict is published) */
  autonomous: boolean;
  heartbeats?: number;
}

export type ReadyStatus = 'True' | 'False' | 'Unknown' | undefined;

export interface NodeTracker {
  /** local time of the last observed renewal (lease or heartbeat change); never the node's timestamps */
  probeAt: number;
  leaseRenew: string | undefined;
  heartbeat: string | undefined;
  reported: ReadyStatus;
  autonomy: Autonomy;
  offlineHeartbeats: string | undefined;
  health: NodeHealth;
  lastPartition?: LastPartition;
}

export type HealthInput =
  | { type: 'Lease'; at: number; renewTime: string | undefined }
  | {
      type: 'Node';
      at: number;
      ready: ReadyStatus;
      /** the Ready condition's lastHeartbeatTime as the node wrote it */
      heartbeat: string | undefined;
      autonomy: Autonomy;
      offlineHeartbeats: string | undefined;
    }
  | { type: 'Tick'; at: number };

export interface HealthConfig {
  /** no renewal for longer than this → Unreachable (upstream nodeMonitorGracePeriod, default 40 s) */
  gracePeriodMs: number;
}

export function newTracker(at: number): NodeTracker {
  return {
    probeAt: at,
    leaseRenew: undefined,
    heartbeat: undefined,
    reported: undefined,
    autonomy: { kind: 'none' },
    offlineHeartbeats: undefined,
    health: { kind: 'Healthy' },
  };
}

export function autonomyActive(a: Autonomy, since: number, now: number): boolean {
  switch (a.kind) {
    case 'none':
      return false;
    case 'forever':
      return true;
    case 'for':
      return now < since + a.ms;
  }
}

/**
 * Apply one observation. Renewals are detected by CHANGE of the lease renewTime or of the
 * Ready heartbeat, and stamped with our clock: a node clock that is ahead, behind, or jumps
 * back cannot extend or shorten its grace period (upstream compares renewTime with Before(),
 * which ignores renewals from a node clock that stepped back; we count any change).
 */
export function step(prev: NodeTracker, input: HealthInput, cfg: HealthConfig): NodeTracker {
  const t: NodeTracker = { ...prev };
  switch (input.type) {
    case 'Lease':
      if (input.renewTime !== undefined && input.renewTime !== t.leaseRenew) {
        t.leaseRenew = input.renewTime;
        t.probeAt = input.at;
      }
      break;
    case 'Node':
      if (input.heartbeat !== undefined && input.heartbeat !== t.heartbeat) {
        t.heartbeat = input.heartbeat;
        t.probeAt = input.at;
      }
      t.reported = input.ready;
      t.autonomy = input.autonomy;
      t.offlineHeartbeats = input.offlineHeartbeats;
      break;
    case 'Tick':
      break;
  }
  return evaluate(t, input.at, cfg);
}

function evaluate(t: NodeTracker, now: number, cfg: HealthConfig): NodeTracker {
  const reachable = now <= t.probeAt + cfg.gracePeriodMs;
  const h = t.health;
  switch (h.kind) {
    case 'Healthy':
    case 'NotReady':
      if (!reachable) {
        t.health = protect({ kind: 'Unreachable', since: now, ordinarySince: undefined, lastAutonomousAt: undefined, markBefore: t.offlineHeartbeats }, t.autonomy, now);
        return t;
      }
      t.health = reachableHealth(t, h, now);
      upgradeVerdict(t);
      return t;
    case 'Unreachable':
      if (reachable) {
        t.lastPartition = verdictFor(t, h, now);
        t.health = reachableHealth(t, { kind: 'Healthy' }, now);
        return t;
      }
      t.health = protect(h, t.autonomy, now);
      return t;
  }
}

function reachableHealth(t: NodeTracker, h: NodeHealth, now: number): NodeHealth {
  if (t.reported !== 'False') return { kind: 'Healthy' };
  return h.kind === 'NotReady' ? h : { kind: 'NotReady', since: now };
}

/** Keep `ordinarySince` in step with the autonomy the node has right now. */
function protect(h: Extract<NodeHealth, { kind: 'Unreachable' }>, a: Autonomy, now: number): NodeHealth {
  if (autonomyActive(a, h.since, now)) return { ...h, ordinarySince: undefined, lastAutonomousAt: now };
  if (h.ordinarySince !== undefined) return h;
  let from: number;
  if (h.lastAutonomousAt === undefined) from = a.kind === 'for' ? h.since + a.ms : h.since;
  // Autonomy lapsed or was removed mid-partition: the eviction clock starts then, not at the partition start.
  else from = a.kind === 'for' ? Math.min(now, Math.max(h.since + a.ms, h.lastAutonomousAt)) : now;
  return { ...h, ordinarySince: Math.min(from, now) };
}

function verdictFor(t: NodeTracker, h: Extract<NodeHealth, { kind: 'Unreachable' }>, now: number): LastPartition {
  const hb = parseOfflineHeartbeats(t.offlineHeartbeats);
  const fresh = hb !== undefined && hb.count > 0 && t.offlineHeartbeats !== h.markBefore;
  return {
    from: h.since,
    to: now,
    verdict: fresh ? 'EdgeWasPartitioned' : 'NodeWasDown',
    markBefore: h.markBefore,
    autonomous: h.lastAutonomousAt !== undefined,
    heartbeats: fresh ? hb.count : undefined,
  };
}

/** The agent may post its journaled heartbeats after its lease resumed: revise the verdict then. */
function upgradeVerdict(t: NodeTracker): void {
  const lp = t.lastPartition;
  if (!lp || lp.verdict === 'EdgeWasPartitioned' || t.offlineHeartbeats === lp.markBefore) return;
  const hb = parseOfflineHeartbeats(t.offlineHeartbeats);
  if (hb && hb.count > 0) t.lastPartition = { ...lp, verdict: 'EdgeWasPartitioned', heartbeats: hb.count };
}
