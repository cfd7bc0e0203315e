export { PersistentVolumeController, type PersistentVolumeControllerConfig } from './pv-controller.ts';
export { StorageProtectionController } from './protection.ts';
export { nodeProxyDeleter, type LocalPathVolumeDeleter, type RawApiRequester } from './local-path-deleter.ts';
export { VolumeControllers, type VolumeControllersConfig } from './manager.ts';
