export { startNodeServer, type NodeServer, type RouteHandler } from './node-server.ts';
export { serveExec, exitStatus, Channel, EXEC_PROTOCOLS } from './exec-stream.ts';
export { parseLogQuery, streamContainerLog, type LogQuery } from './container-logs.ts';
export type { NodeServerAuth, NodeServerOptions, PodSource } from './types.ts';
export { startLocalControl, type ControlError, type ControlImageStore, type LocalControlOptions } from './local-control.ts';
export { apiAccessReviews, DEFAULT_NODE_AUTH_TUNING, NodeRequestAuth, nodeRequestAttributes, type AccessReviews, type NodeAuthTuning, type NodeRequestAttributes, type NodeUser } from './auth/index.ts';
