export { EncryptionConfigError, parseEncryptionConfiguration, parseGroupResource, type EncryptionConfig, type GroupResource, type KmsSpec, type ProviderSpec } from './config.ts';
export { KmsRpcError, KmsV2Provider, type KmsService } from './kmsv2.ts';
export { grpcKmsService } from './kms-grpc.ts';
export { kmsMetrics, transformationMetrics, type KmsMetrics } from './metrics.ts';
export { aesCbc, aesGcm, secretBox, type ByteTransformer } from './providers.ts';
export { EncryptionAtRest, PrefixTransformers, describePrefix, type Opened, type TransformMetrics } from './transformer.ts';
