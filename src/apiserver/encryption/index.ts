export { EncryptionConfigError, parseEncryptionConfiguration, parseGroupResource, type EncryptionConfig, type GroupResource, type ProviderSpec } from './config.ts';
export { transformationMetrics } from './metrics.ts';
export { aesCbc, aesGcm, secretBox, type ByteTransformer } from './providers.ts';
export { EncryptionAtRest, PrefixTransformers, describePrefix, type Opened, type TransformMetrics } from './transformer.ts';
