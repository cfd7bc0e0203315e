export { buildModel, type ProxyServicePort, type ProxyEndpoint } from './model.ts';
export { renderRuleset, renderDelete, MASQ_MARK } from './render.ts';
export { ServiceProxy, nftBinary, type Nft, type ServiceProxyOptions } from './proxy.ts';
export { SocketBalancer, nodeSocketBalancer, type SocketLb, socketLbEntries, renderSocketLbBatch, socketLbSkip, SOCKET_LB_MAX_ENDPOINTS } from './socket-lb.ts';
