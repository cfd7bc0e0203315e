export type { Mount, SnapshotInfo, SnapshotKind, Snapshotter } from './types.ts';
export { OverlaySnapshotter, type OverlaySnapshotterOptions } from './overlay-snapshotter.ts';
export { makeOpaque, makeWhiteout } from './overlay-whiteout.ts';
