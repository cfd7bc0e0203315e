export const MediaType = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
} as const;

/** what we send as Accept on manifest requests: indexes first so multi-arch images resolve */
export const MANIFEST_ACCEPT = [MediaType.ociIndex, MediaType.dockerList, MediaType.ociManifest, MediaType.dockerManifest];

export const isIndex = (mt: string | undefined): boolean => mt === MediaType.ociIndex || mt === MediaType.dockerList;
export const isManifest = (mt: string | undefined): boolean => mt === MediaType.ociManifest || mt === MediaType.dockerManifest;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture: string; os: string; variant?: string };
  annotations?: Record<string, string>;
}

export interface ManifestDoc {
  schemaVersion: number;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
}

export interface IndexDoc {
  schemaVersion: number;
  mediaType?: string;
  manifests: Descriptor[];
}

export interface ImageConfigDoc {
  architecture?: string;
  os?: string;
  config?: Record<string, unknown>;
  rootfs: { type: string; diff_ids: string[] };
}

/** picks the entry for the platform; the variant is only compared when the caller names one */
export function selectPlatform(index: IndexDoc, want: { os: string; architecture: string; variant?: string }): Descriptor | undefined {
  const candidates = index.manifests.filter(
    (m) => isManifest(m.mediaType) && m.platform?.os === want.os && m.platform.architecture === want.architecture,
  );
  if (want.variant) return candidates.find((m) => m.platform?.variant === want.variant) ?? candidates[0];
  return candidates[0];
}
