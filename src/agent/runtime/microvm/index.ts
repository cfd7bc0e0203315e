export { MicroVmRuntimeHandler, type MicroVmInfo, type MicroVmRuntimeHandlerOptions } from './microvm-handler.ts';
export { plugPodTap, unplugPodTap, pickPodInterface, POD_TAP, type GuestNetwork } from './pod-network.ts';
export { GuestAgentClient, type GuestKernel, type GuestMountSpec, type GuestProcessSpec } from './agent-client.ts';
export { QmpClient } from './qmp.ts';
export { launchVm, qemuArgs, type Accelerator, type GuestArtifacts, type VmLaunchOptions } from './vm.ts';
export { ensureRootfsImage, rootfsImageKey, type RootfsImage } from './rootfs-image.ts';
export { parseGuestStats, type GuestStats } from './guest-stats.ts';
export { CriLogWriter, criTimestamp } from './cri-log-writer.ts';
export { findGuestArtifacts, buildGuest } from './guest-artifacts.ts';
