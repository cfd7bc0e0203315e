export type { ImageInfo, ImageRef, ImageStore, PullProgress, RegistryCredentials } from './types.ts';
export { parseReference, formatReference, registryHost, registryScheme } from './reference.ts';
export { parseAuthChallenges, type AuthChallenge } from './auth-challenge.ts';
export { chainIds, sha256Digest } from './digest.ts';
export { ContentStore, type BlobSource } from './content-store.ts';
export { RegistryClient, type RegistryClientOptions } from './registry-client.ts';
export { LocalImageStore, type LocalImageStoreOptions, type RemoveStep } from './local-image-store.ts';
export { ImageGCManager, IMAGE_GC_PERIOD_MS, defaultImageGCPolicy, statfsImageFs, validateImageGCPolicy, type ImageFsStats, type ImageGCDeps, type ImageGCPolicy, type ImageGCReason } from './image-gc.ts';
export { MediaType } from './media-types.ts';
