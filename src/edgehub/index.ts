export { startHub, type HubOptions, type HubState, type RunningHub } from './hub.ts';
export { HubDb, type JournalEntry } from './hub-db.ts';
export { Replica } from './replica.ts';
export { replayJournal, type ReplayResult } from './replay.ts';
export { CloudHealth, HEALTH_INTERVAL_MS, HEALTH_TIMEOUT_MS, HEARTBEAT_MS, linkFirstProbe, readyzProbe, type CloudLink, type Connectivity, type HealthProbe } from './cloud-health.ts';
export { nodeReflections, Reflector, type ReflectedResource } from './reflector.ts';
export { localNodeDialer, type LocalNodeServer } from './local-node.ts';
