export { NodeRegistrar } from './node-registrar.ts';
export { defaultNodeConfig, type NodeConfig } from './config.ts';
export { systemHostProbe, parseMeminfo, parseOsRelease, type HostProbe, type HostIdentity, type HostUsage } from './host-probe.ts';
export { nodeConditions, nodeStatus, statusFingerprint, type PressureSource, KUBELET_VERSION, RUNTIME_VERSION } from './node-status.ts';
