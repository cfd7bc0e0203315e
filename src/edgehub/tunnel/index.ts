export { startTunnelClient, tunnelPath, type TunnelClient, type TunnelClientOptions } from './tunnel-client.ts';
