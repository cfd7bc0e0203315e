import type { NodeCondition, Taint } from 'kubernetes-types/core/v1.js';
import { formatTime } from '../../client/micro-time.ts';
import type { NodeObject } from '../common/types.ts';
import { noExecuteTaintFor, TAINT_NOT_READY, TAINT_UNREACHABLE } from './eviction.ts';
import { autonomyActive, type NodeTracker } from './health.ts';

export const EDGE_AUTONOMY_CONDITION = 'EdgeAutonomy';

const managed = (t: Taint): boolean =>
  t.effect === 'NoExecute' && (t.key === TAINT_UNREACHABLE || t.key === TAINT_NOT_READY);

/** upstream's nodeConditionToTaintKeyStatusMap, the pressure part (TaintNodesByCondition): condition True → NoSchedule taint */
export const PRESSURE_TAINTS: Readonly<Record<string, string>> = {
  MemoryPressure: 'node.kubernetes.io/memory-pressure',
  DiskPressure: 'node.kubernetes.io/disk-pressure',
  PIDPressure: 'node.kubernetes.io/pid-pressure',
};
const PRESSURE_TAINT_KEYS = new Set(Object.values(PRESSURE_TAINTS));
const managedNoSchedule = (t: Taint): boolean => t.effect === 'NoSchedule' && PRESSURE_TAINT_KEYS.has(t.key);

/**
 * The node's taint list with our NoExecute taints matching its health (timeAdded kept when already
 * there), and a NoSchedule taint for each pressure condition that is True (upstream's
 * doNoScheduleTaintingPass: new pods stay off a node the kubelet is evicting from).
 */
export function desiredTaints(node: NodeObject, t: NodeTracker, now: number): Taint[] {
  const current = node.spec?.taints ?? [];
  const want = noExecuteTaintFor(t.health);
  const conds = new Map((node.status?.conditions ?? []).map((c) => [c.type, c.status]));
  const pressure = new Set(Object.entries(PRESSURE_TAINTS).filter(([c]) => conds.get(c) === 'True').map(([, key]) => key));
  const out = current.filter((x) => (!managed(x) || (want !== undefined && x.key === want.key)) && (!managedNoSchedule(x) || pressure.has(x.key)));
  if (want && !out.some((x) => managed(x) && x.key === want.key)) out.push({ ...want, timeAdded: formatTime(now) });
  for (const key of pressure) if (!out.some((x) => managedNoSchedule(x) && x.key === key)) out.push({ key, effect: 'NoSchedule' });
  return out;
}

const STOPPED = 'Kubelet stopped posting node status.';
const NEVER = 'Kubelet never posted node status.';
const PRESSURE = ['MemoryPressure', 'DiskPressure', 'PIDPressure'];

function durationText(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  return `${Math.round(s / 360) / 10}h`;
}

/**
 * Conditions to write (only those that differ from the node's): Ready (and the pressure
 * conditions) Unknown while unreachable, as upstream; and hedge's EdgeAutonomy condition on
 * autonomous nodes, carrying the partition verdict once the node is back.
 */
export function desiredConditions(node: NodeObject, t: NodeTracker, now: number): NodeCondition[] {
  const conds = node.status?.conditions ?? [];
  const byType = new Map(conds.map((c) => [c.type, c]));
  const out: NodeCondition[] = [];
  const ts = formatTime(now);
  const h = t.health;
  if (h.kind === 'Unreachable') {
    const ready = byType.get('Ready');
    if (!ready) {
      out.push({ type: 'Ready', status: 'Unknown', reason: 'NodeStatusNeverUpdated', message: NEVER, lastHeartbeatTime: ts, lastTransitionTime: ts });
    }
    for (const c of conds) {
      if ((c.type === 'Ready' || PRESSURE.includes(c.type)) && c.status !== 'Unknown') {
        // lastHeartbeatTime is kept: it is the node's, and our write must not look like a heartbeat.
        out.push({ ...c, status: 'Unknown', reason: 'NodeStatusUnknown', message: STOPPED, lastTransitionTime: ts });
      }
    }
  }
  const edge = edgeCondition(t, now);
  if (edge) {
    const cur = byType.get(EDGE_AUTONOMY_CONDITION);
    if (!cur || cur.status !== edge.status || cur.reason !== edge.reason || cur.message !== edge.message) {
      out.push({
        type: EDGE_AUTONOMY_CONDITION,
        ...edge,
        lastHeartbeatTime: ts,
        lastTransitionTime: cur && cur.status === edge.status ? cur.lastTransitionTime : ts,
      });
    }
  }
  return out;
}

function edgeCondition(t: NodeTracker, now: number): Pick<NodeCondition, 'status' | 'reason' | 'message'> | undefined {
  const h = t.health;
  if (h.kind === 'Unreachable') {
    if (autonomyActive(t.autonomy, h.since, now)) {
      return { status: 'True', reason: 'EdgeUnreachable', message: 'edge unreachable from cloud; autonomous node, pods kept' };
    }
    if (h.lastAutonomousAt !== undefined) {
      return { status: 'False', reason: 'AutonomyEnded', message: 'edge unreachable from cloud; autonomy expired or was removed, pods are evicted by their tolerations' };
    }
    return undefined;
  }
  const lp = t.lastPartition;
  if (!lp?.autonomous) return undefined;
  const gone = durationText(lp.to - lp.from);
  return lp.verdict === 'EdgeWasPartitioned'
    ? {
        status: 'False',
        reason: 'EdgeWasPartitioned',
        message: `edge was unreachable from cloud for ${gone} but kept running: it journaled ${lp.heartbeats ?? 0} heartbeats offline; pods kept`,
      }
    : {
        status: 'False',
        reason: 'NodeWasDown',
        message: `edge was unreachable from cloud for ${gone} and reported no offline heartbeats: the node (or its agent) was down`,
      };
}

export function sameTaints(a: Taint[] | undefined, b: Taint[] | undefined): boolean {
  const norm = (x: Taint[] | undefined): string =>
    JSON.stringify((x ?? []).map((t) => [t.key, t.value ?? '', t.effect]).sort());
  return norm(a) === norm(b);
}
