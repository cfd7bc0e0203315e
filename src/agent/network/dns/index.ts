export { ClusterZone, DNS_TTL, type Answer } from './cluster-zone.ts';
export { DnsServer, type DnsListen, type DnsServerOptions } from './dns-server.ts';
export { Forwarder, upstreamsFromResolvConf, type Upstream } from './forwarder.ts';
export { startClusterDns, ensureBridgeGateway, gatewayOf, type ClusterDnsOptions, type RunningClusterDns } from './cluster-dns.ts';
export { RCode, RRType, encodeQuery, encodeResponse, parseMessage, parseQuery, reverseName, type ParsedMessage, type ParsedRecord, type Query, type Question, type ResourceRecord } from './wire.ts';
