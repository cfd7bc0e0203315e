export { EncryptionConfigError, parseEncryptionConfiguration, parseGroupResource, type EncryptionConfig, type GroupResource, type KmsSpec, type ProviderSpec } from './config.ts';
export { KmsRpcError, KmsV2Provider, type KmsService } from './kmsv2.ts';
export { grpcKmsService } from './kms-grpc.ts';
export { kmsMetrics, reloadMetrics, transformationMetrics, type KmsMetrics, type ReloadMetrics } from './metrics.ts';
export { configHash, EncryptionConfigReloader, RELOAD_INTERVAL_MS, type AutomaticReloadOptions, type ReloadOutcome } from './reload.ts';
export { aesCbc, aesGcm, secretBox, type ByteTransformer } from './providers.ts';
export { EncryptionAtRest, PrefixTransformers, describePrefix, type EncryptionOptions, type Opened, type TransformMetrics } from './transformer.ts';
