/**
 * The node server's raw TCP upgrade to one of its pods, shared by its two ends: the agent serves
 * it (src/agent/server/pod-connect.ts) and the apiserver's admission webhook transport asks for it
 * through the node's tunnel.
 */
export const POD_CONNECT_UPGRADE = 'hedge-tcp';
export const podConnectPath = (ip: string, port: number): string => `/podconnect/${encodeURIComponent(ip)}/${port}`;
