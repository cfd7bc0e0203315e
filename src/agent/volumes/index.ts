export type { Mounter, PreparedVolume, ProjectedFile, VolumeContext } from './types.ts';
export { setUpPodVolumes } from './set-up.ts';
export { tearDownPodVolumes } from './tear-down.ts';
export { writeAtomic } from './atomic-writer.ts';
export { systemMounter, FakeMounter } from './mounter.ts';
export { podDir, podVolumesDir, volumeDir } from './paths.ts';
export { LOCAL_PATH_DRIVER, LocalPathVolumes, validateLocalPathHandle } from './local-path.ts';
export { isVolumeNotReady, unableToMountMessage, VolumeNotReadyError } from './persistent-volume.ts';
