import { createHash, randomUUID } from 'node:crypto';
import { Counter, exponentialBuckets, Gauge, Histogram, type Registry } from '../../lib/prom.ts';
import type { TransformMetrics } from './transformer.ts';

/**
 * apiserver_storage_transformation_operations_total as upstream (storage/value/metrics.go):
 * transformer_prefix is the key's full prefix (`k8s:enc:aescbc:v1:key1:`), `identity`, or
 * `unknown` for a value no prefix matched; status is a gRPC code name like upstream's
 * (`OK`, else `Unknown`: no error here carries another).
 */
export function transformationMetrics(registry: Registry): TransformMetrics {
  const ops = new Counter({
    name: 'apiserver_storage_transformation_operations_total',
    help: 'Total number of transformations. Successful transformation will have a status \'OK\' and a varied status string when the transformation fails.',
    labelNames: ['transformation_type', 'transformer_prefix', 'status'] as const,
    registers: [registry],
  });
  return {
    record(type, transformerPrefix, ok) {
      ops.inc({ transformation_type: type, transformer_prefix: transformerPrefix, status: ok ? 'OK' : 'Unknown' });
    },
  };
}

/** what the KMS v2 providers record (upstream's storage/value/encrypt/envelope/metrics) */
export interface KmsMetrics {
  /** one plugin RPC: `method` is the gRPC full method (`/v2.KeyManagementService/Status`), `code` a gRPC code name (`OK`) or `unknown-non-grpc` */
  operation(provider: string, method: string, seconds: number, code: string): void;
  /** a value written (`to_storage`) or read (`from_storage`) under `keyID` */
  keyIDUsed(type: 'from_storage' | 'to_storage', provider: string, keyID: string): void;
  /** Status returned this valid key ID */
  keyIDFromStatus(provider: string, keyID: string): void;
  /** Status returned an invalid key ID: `empty` or `too_long` */
  invalidKeyIDFromStatus(provider: string, code: string): void;
  /** entries of the decrypted-DEK cache */
  dekSourceCacheSize(provider: string, size: number): void;
}

const envelope = 'apiserver_envelope_encryption_';
/** label sets of the key-ID metrics kept, as upstream's LRU (older ones are deleted from the metrics) */
const KEY_ID_LABEL_SETS = 100;

/** upstream's getHash: `sha256:<hex>`, empty for an empty string */
export const hashLabel = (s: string): string => (s === '' ? '' : `sha256:${createHash('sha256').update(s).digest('hex')}`);

/**
 * The apiserver_envelope_encryption_* metrics as upstream registers them, with its label names.
 * `apiServerID` stands for upstream's apiserver identity; only its hash is exported.
 * dek_cache_fill_percent and dek_cache_inter_arrival_time_seconds are KMS v1's (not served here),
 * registered as upstream does, so they stay at 0 / empty.
 */
export function kmsMetrics(registry: Registry, apiServerID = `apiserver-${randomUUID()}`): KmsMetrics {
  const registers = [registry];
  new Gauge({ name: `${envelope}dek_cache_fill_percent`, help: 'Percent of the cache slots currently occupied by cached DEKs.', registers });
  new Histogram({
    name: `${envelope}dek_cache_inter_arrival_time_seconds`,
    help: 'Time (in seconds) of inter arrival of transformation requests.',
    labelNames: ['transformation_type'] as const,
    buckets: exponentialBuckets(60, 2, 10),
    registers,
  });
  const latency = new Histogram({
    name: `${envelope}kms_operations_latency_seconds`,
    help: 'KMS operation duration with gRPC error code status total.',
    labelNames: ['provider_name', 'method_name', 'grpc_status_code'] as const,
    buckets: exponentialBuckets(0.0001, 2, 20),
    registers,
  });
  const keyLabels = ['transformation_type', 'provider_name', 'key_id_hash', 'apiserver_id_hash'] as const;
  const used = new Counter({ name: `${envelope}key_id_hash_total`, help: 'Number of times a keyID is used split by transformation type, provider, and apiserver identity.', labelNames: keyLabels, registers });
  const usedAt = new Gauge({ name: `${envelope}key_id_hash_last_timestamp_seconds`, help: 'The last time in seconds when a keyID was used.', labelNames: keyLabels, registers });
  const statusAt = new Gauge({
    name: `${envelope}key_id_hash_status_last_timestamp_seconds`,
    help: 'The last time in seconds when a keyID was returned by the Status RPC call.',
    labelNames: ['provider_name', 'key_id_hash', 'apiserver_id_hash'] as const,
    registers,
  });
  const invalid = new Counter({
    name: `${envelope}invalid_key_id_from_status_total`,
    help: 'Number of times an invalid keyID is returned by the Status RPC call split by error.',
    labelNames: ['provider_name', 'error'] as const,
    registers,
  });
  const cacheSize = new Gauge({
    name: `${envelope}dek_source_cache_size`,
    help: 'Number of records in data encryption key (DEK) source cache. On a restart, this value is an approximation of the number of decrypt RPC calls the server will make to the KMS plugin.',
    labelNames: ['provider_name'] as const,
    registers,
  });
  const apiserverIdHash = hashLabel(apiServerID);
  /** least recently used first; `evict` drops the series of a label set pushed out */
  const lru = <L extends object>(evict: (labels: L) => void) => {
    const sets = new Map<string, L>();
    return (labels: L): L => {
      const k = JSON.stringify(labels);
      sets.delete(k);
      sets.set(k, labels);
      if (sets.size > KEY_ID_LABEL_SETS) {
        const [oldest, l] = sets.entries().next().value!;
        sets.delete(oldest);
        evict(l);
      }
      return labels;
    };
  };
  const usedSets = lru<Record<(typeof keyLabels)[number], string>>((l) => {
    used.remove(l);
    usedAt.remove(l);
  });
  const statusSets = lru<{ provider_name: string; key_id_hash: string; apiserver_id_hash: string }>((l) => statusAt.remove(l));
  return {
    operation(provider, method, seconds, code) {
      latency.observe({ provider_name: provider, method_name: method, grpc_status_code: code }, seconds);
    },
    keyIDUsed(type, provider, keyID) {
      const l = usedSets({ transformation_type: type, provider_name: provider, key_id_hash: hashLabel(keyID), apiserver_id_hash: apiserverIdHash });
      used.inc(l);
      usedAt.set(l, Date.now() / 1000);
    },
    keyIDFromStatus(provider, keyID) {
      statusAt.set(statusSets({ provider_name: provider, key_id_hash: hashLabel(keyID), apiserver_id_hash: apiserverIdHash }), Date.now() / 1000);
    },
    invalidKeyIDFromStatus(provider, code) {
      invalid.inc({ provider_name: provider, error: code });
    },
    dekSourceCacheSize(provider, size) {
      cacheSize.set({ provider_name: provider }, size);
    },
  };
}

/** what the automatic reload of the config file records (reload.ts) */
export interface ReloadMetrics {
  /** one reload that replaced the config (`true`) or was refused (`false`) */
  reloaded(ok: boolean): void;
  /** the hash of the config now in use */
  configInfo(hash: string): void;
}

const reloadPrefix = 'apiserver_encryption_config_controller_';

/**
 * upstream's encryption config controller metrics (server/options/encryptionconfig/metrics):
 * automatic_reloads_total{status}, the deprecated automatic_reload_success_total and
 * automatic_reload_failures_total, automatic_reload_last_timestamp_seconds{status} and
 * last_config_info{hash}; every series labelled with the hash of `apiServerID`.
 */
export function reloadMetrics(registry: Registry, apiServerID: string): ReloadMetrics {
  const registers = [registry];
  const id = ['apiserver_id_hash'] as const;
  const reloads = new Counter({ name: `${reloadPrefix}automatic_reloads_total`, help: 'Total number of reload successes and failures of encryption configuration split by apiserver identity.', labelNames: ['status', ...id] as const, registers });
  const failures = new Counter({ name: `${reloadPrefix}automatic_reload_failures_total`, help: '(Deprecated since 1.30.0) Total number of failed automatic reloads of encryption configuration split by apiserver identity.', labelNames: id, registers });
  const successes = new Counter({ name: `${reloadPrefix}automatic_reload_success_total`, help: '(Deprecated since 1.30.0) Total number of successful automatic reloads of encryption configuration split by apiserver identity.', labelNames: id, registers });
  const lastAt = new Gauge({ name: `${reloadPrefix}automatic_reload_last_timestamp_seconds`, help: 'Timestamp of the last successful or failed automatic reload of encryption configuration split by apiserver identity.', labelNames: ['status', ...id] as const, registers });
  const info = new Gauge({ name: `${reloadPrefix}last_config_info`, help: 'Information about the last applied encryption configuration with hash as label, split by apiserver identity.', labelNames: [...id, 'hash'] as const, registers });
  const apiserverIdHash = hashLabel(apiServerID);
  return {
    reloaded(ok) {
      const status = ok ? 'success' : 'failure';
      reloads.inc({ status, apiserver_id_hash: apiserverIdHash });
      (ok ? successes : failures).inc({ apiserver_id_hash: apiserverIdHash });
      lastAt.set({ status, apiserver_id_hash: apiserverIdHash }, Date.now() / 1000);
    },
    configInfo(hash) {
      info.reset();
      info.set({ apiserver_id_hash: apiserverIdHash, hash }, 1);
    },
  };
}
