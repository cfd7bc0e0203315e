import { join } from 'node:path';

export const podDir = (dataDir: string, uid: string): string => join(dataDir, 'pods', uid);
export const podVolumesDir = (dataDir: string, uid: string): string => join(podDir(dataDir, uid), 'volumes');
/** kubelet's layout: volumes/<plugin>/<name> */
export const volumeDir = (dataDir: string, uid: string, plugin: string, name: string): string =>
  join(podVolumesDir(dataDir, uid), plugin, name);
