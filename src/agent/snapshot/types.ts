/** The snapshot seam (containerd's shape): overlay for OCI runtimes, block images for microVM. */
export interface Mount {
  type: string; // 'overlay' | 'bind' | 'ext4' | 'erofs' ...
  source: string;
  options: string[];
  target?: string;
}

export type SnapshotKind = 'committed' | 'active' | 'view';

export interface SnapshotInfo {
  key: string;
  parent?: string;
  kind: SnapshotKind;
  createdAt: Date;
  labels: Record<string, string>;
  /** bytes on disk, when known */
  sizeBytes?: number;
}

export interface Snapshotter {
  /** a writable snapshot on top of parent (committed); returns its mounts */
  prepare(key: string, parent: string | undefined, opts: { labels?: Record<string, string>; signal?: AbortSignal }): Promise<Mount[]>;
  /** a read-only view on top of parent */
  view(key: string, parent: string | undefined, opts: { signal?: AbortSignal }): Promise<Mount[]>;
  /** turn active snapshot `activeKey` into committed `name` */
  commit(name: string, activeKey: string, opts: { labels?: Record<string, string>; signal?: AbortSignal }): Promise<void>;
  mounts(key: string): Promise<Mount[]>;
  stat(key: string): Promise<SnapshotInfo | undefined>;
  list(): Promise<SnapshotInfo[]>;
  /** committed snapshots with children cannot be removed (HedgeError Conflict) */
  remove(key: string): Promise<void>;
}
