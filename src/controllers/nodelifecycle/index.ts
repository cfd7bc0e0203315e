export { NodeLifecycleController, type NodeLifecycleConfig } from './controller.ts';
export { AUTONOMY_ANNOTATION, parseAutonomy, type Autonomy } from './autonomy.ts';
export { OFFLINE_HEARTBEATS_ANNOTATION, parseOfflineHeartbeats, type OfflineHeartbeats } from '../../api/annotations/offline-heartbeats.ts';
export { step, newTracker, autonomyActive, type NodeHealth, type NodeTracker, type HealthInput, type PartitionVerdict } from './health.ts';
export { evictionTime, noExecuteTaintFor, TAINT_NOT_READY, TAINT_UNREACHABLE } from './eviction.ts';
export { EDGE_AUTONOMY_CONDITION, desiredConditions, desiredTaints } from './desired-node.ts';
