export { startAgent, resolveAgentConfig, type Agent, type AgentConfig, type AgentConfigInput, type AgentDeps } from './agent.ts';
export { PodSync, defaultPodSyncConfig, type PodSyncConfig } from './podsync/index.ts';
export { NodeRegistrar, defaultNodeConfig, systemHostProbe, type NodeConfig, type HostProbe } from './node/index.ts';
export { NodeLease, NODE_LEASE_NAMESPACE } from './lease/index.ts';
export { startNodeServer, type NodeServer, type NodeServerAuth, type RouteHandler } from './server/index.ts';
export { systemMounter, type Mounter } from './volumes/index.ts';
