export { GuardedNetworkPlugin } from './guarded-network.ts';
export { PodGuard, guardTableName, parseGuardSets, sweepStaleGuards, type GuardedPort, type PodGuardOptions, type SetElement } from './pod-guard.ts';
