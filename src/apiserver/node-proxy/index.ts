export { directNodeDialer, requestOverStream, type DirectNodeDialerOptions, type NodeDialer, type NodeRequest, type NodeResponse } from './node-dialer.ts';
export { kubeletEndpoint } from './kubelet-endpoint.ts';
export { containerLogsQuery, podLogProvider } from './pod-log.ts';
export { podStreamProvider, streamQuery } from './pod-exec.ts';
export { pickContainer, resolvePodTarget, type PodTarget } from './pod-target.ts';
export { writeRawResponse } from './raw-response.ts';
export { relayUpgrade } from './upgrade-relay.ts';
