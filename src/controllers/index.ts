export { startControllers, type ControllersOptions, type LeaderElectionOptions, type RunningControllers } from './start.ts';
export { Scheduler, type SchedulerConfig } from './scheduler/index.ts';
export { NodeLifecycleController, type NodeLifecycleConfig, AUTONOMY_ANNOTATION, OFFLINE_HEARTBEATS_ANNOTATION, EDGE_AUTONOMY_CONDITION } from './nodelifecycle/index.ts';
export { NodeIpamController, CidrAllocator, type NodeIpamConfig } from './ipam/index.ts';
