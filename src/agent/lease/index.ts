export { NodeLease, NODE_LEASE_NAMESPACE, type NodeLeaseOptions } from './node-lease.ts';
