export type { NetworkPlugin, NetworkResult, NetworkSandbox } from './types.ts';
export { CniNetworkPlugin, toNetworkResult, type StatusOptions } from './cni-plugin.ts';
export {
  buildConflist,
  validateNetworkConfig,
  type BridgeModeConfig,
  type CniNetworkConfig,
  type MacvlanModeConfig,
  type NetworkModeConfig,
  type PassthroughModeConfig,
} from './cni-config.ts';
export {
  CNI_VERSION,
  CniRunner,
  type CniCachedAttachment,
  type CniNetworkConfigList,
  type CniOptions,
  type CniPluginConf,
  type CniResult,
  type CniRuntimeConf,
} from './cni.ts';
export { NETNS_POOL_STATE_FILE, NetnsPool, type NetnsPoolOptions, type PooledNetwork } from './netns-pool.ts';
export { DEFAULT_NETNS_DIR, createNetns, listNetns, netnsExists, netnsPath, nsenterArgs, removeNetns } from './netns.ts';
