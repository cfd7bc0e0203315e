export { NodeLease, NODE_LEASE_NAMESPACE, type NodeLeaseOptions } from './node-lease.ts';
export { HeartbeatJournal, offlineHeartbeatsAnnotation, type JournaledHeartbeats } from './heartbeat-journal.ts';
export { OFFLINE_HEARTBEATS_ANNOTATION } from '../../api/annotations/offline-heartbeats.ts';
