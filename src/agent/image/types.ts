import type { Mount, Snapshotter } from '../snapshot/types.ts';

export interface ImageRef {
  /** as written in the pod, e.g. "127.0.0.1:5000/hedge/busybox:1" */
  original: string;
  registry: string; // "docker.io" → registry-1.docker.io when contacted
  repository: string; // "library/busybox"
  tag?: string;
  digest?: string;
}

export interface PullProgress {
  layer: string; // digest
  completedBytes: number;
  totalBytes: number;
  status: 'waiting' | 'downloading' | 'verifying' | 'extracting' | 'done' | 'cached';
}

export interface RegistryCredentials {
  username?: string;
  password?: string;
  /** identity token / bearer */
  token?: string;
}

export interface ImageInfo {
  ref: string;
  /** manifest digest (for status.imageID) */
  digest: string;
  /** the image config digest (image id) */
  id: string;
  /** the OCI image config's `config` section */
  config: {
    Entrypoint?: string[];
    Cmd?: string[];
    Env?: string[];
    WorkingDir?: string;
    User?: string;
    ExposedPorts?: Record<string, object>;
    Labels?: Record<string, string>;
  };
  layers: { digest: string; diffId: string; size: number; mediaType: string }[];
  sizeBytes: number;
  /** snapshot key of the top committed layer (chain id) once unpacked */
  topSnapshot?: string;
  lastUsed: Date;
  /** never garbage collected (CRI Image.pinned: the sandbox image, anything an operator pins) */
  pinned?: boolean;
}

export interface ImageStore {
  /** pulls manifest, config and layers (dedup by digest, verified while streaming); returns the image */
  pull(
    ref: string,
    opts: { credentials?: (registry: string) => RegistryCredentials | undefined; onProgress?: (p: PullProgress) => void; signal: AbortSignal },
  ): Promise<ImageInfo>;
  /** local lookup by reference or digest; undefined when not present */
  resolve(ref: string): Promise<ImageInfo | undefined>;
  /** unpacks layers into committed snapshots (once) and returns the top snapshot key */
  unpack(image: ImageInfo, snapshotter: Snapshotter, signal: AbortSignal): Promise<string>;
  list(): Promise<ImageInfo[]>;
  remove(ref: string): Promise<void>;
  /** import an OCI layout directory or docker-archive tarball (for offline nodes) */
  import(path: string, opts: { signal: AbortSignal }): Promise<ImageInfo[]>;
  /**
   * Removes the images recorded under `refs` (unknown refs are skipped), then every blob and
   * unpacked layer no remaining image needs; shared ones stay. Resolves with the bytes freed on
   * disk. Which images to remove is the image GC's policy (image-gc.ts), not the store's.
   */
  removeImages(refs: string[], opts: { signal: AbortSignal }): Promise<number>;
  /** marks an image pinned (or not): the image GC never removes a pinned image */
  setPinned(ref: string, pinned: boolean): Promise<void>;
}

export type { Mount };
