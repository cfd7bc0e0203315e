export { NodeLease, NODE_LEASE_NAMESPACE, type NodeLeaseOptions } from './node-lease.ts';
export { HeartbeatJournal, formatOfflineHeartbeats, OFFLINE_HEARTBEATS_ANNOTATION, type JournaledHeartbeats } from './heartbeat-journal.ts';
