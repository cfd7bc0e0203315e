import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { realTimers, type Timers } from '../../lib/timers.ts';
import { ProtoWriter } from '../protobuf/writer.ts';
import { readFields } from '../protobuf/wire.ts';
import { ENCRYPTED_PREFIX } from '../../store/stored-bytes.ts';
import type { KmsMetrics } from './metrics.ts';
import { aesGcm, type ByteTransformer } from './providers.ts';

/**
 * KMS v2 envelope encryption as kube-apiserver 1.32 does it by default
 * (storage/value/encrypt/envelope/kmsv2, KMSv2KDF on): a 32-byte DEK *seed* is generated locally,
 * encrypted once by the plugin's Encrypt, and reused for every write while the plugin's Status
 * key_id stays the same; each write derives its own AES-256-GCM key as HKDF-SHA256-Expand(seed,
 * info) with 32 random info bytes (upstream's HKDF_SHA256_XNONCE_AES_GCM_SEED). The stored value is
 * `k8s:enc:kms:v2:<name>:` + the protobuf EncryptedObject (encryptedData = info + nonce + GCM box
 * over the storage key, keyID, encryptedDEKSource, annotations, encryptedDEKSourceType). Values
 * of the older non-KDF format (AES_GCM_KEY: the plugin encrypted the DEK itself) are read too.
 */

/** the plugin's side, over gRPC (kms-grpc.ts, loaded when first used) or a fake in unit tests */
export interface KmsService {
  status(): Promise<{ version: string; healthz: string; keyId: string }>;
  encrypt(uid: string, plaintext: Buffer): Promise<{ ciphertext: Buffer; keyId: string; annotations: Record<string, Buffer> }>;
  decrypt(uid: string, req: { ciphertext: Buffer; keyId: string; annotations: Record<string, Buffer> }): Promise<Buffer>;
  close(): void;
}

/** a failed plugin RPC; `code` is the gRPC code as Go names it (`Unavailable`, `DeadlineExceeded`) */
export class KmsRpcError extends Error {
  constructor(
    readonly code: string,
    desc: string,
  ) {
    super(`rpc error: code = ${code} desc = ${desc}`);
  }
}

/**
 * The gRPC client, loaded on first use: @grpc/grpc-js and protobufjs cost every process that
 * imports the apiserver (the node's edgehub replica among them) several MiB resident, and only an
 * apiserver with a KMS provider configured needs them.
 */
function lazyGrpcKmsService(endpoint: string, timeoutMs: number): KmsService {
  let client: Promise<KmsService> | undefined;
  const get = (): Promise<KmsService> => (client ??= import('./kms-grpc.ts').then((m) => m.grpcKmsService(endpoint, timeoutMs)));
  return {
    status: async () => (await get()).status(),
    encrypt: async (uid, plaintext) => (await get()).encrypt(uid, plaintext),
    decrypt: async (uid, req) => (await get()).decrypt(uid, req),
    close: () => void client?.then((c) => c.close()),
  };
}

export const AES_GCM_KEY = 0;
export const HKDF_SHA256_XNONCE_AES_GCM_SEED = 1;

/** k8s.io/apiserver/pkg/storage/value/encrypt/envelope/kmsv2/v2 EncryptedObject */
export interface EncryptedObject {
  encryptedData: Buffer;
  keyID: string;
  encryptedDEKSource: Buffer;
  annotations: Record<string, Buffer>;
  encryptedDEKSourceType: number;
}

export function encodeEncryptedObject(o: EncryptedObject): Buffer {
  const w = new ProtoWriter().bytes(1, o.encryptedData).string(2, o.keyID).bytes(3, o.encryptedDEKSource);
  for (const k of Object.keys(o.annotations).sort()) w.message(4, new ProtoWriter().string(1, k).bytes(2, o.annotations[k]));
  return w.uint(5, o.encryptedDEKSourceType).finish();
}

export function decodeEncryptedObject(b: Buffer): EncryptedObject {
  const o: EncryptedObject = { encryptedData: Buffer.alloc(0), keyID: '', encryptedDEKSource: Buffer.alloc(0), annotations: {}, encryptedDEKSourceType: AES_GCM_KEY };
  let fields;
  try {
    fields = readFields(b);
  } catch {
    throw new Error('failed to unmarshal encrypted object: not a protobuf EncryptedObject');
  }
  for (const f of fields) {
    if (f.field === 5 && f.v.wire === 0) o.encryptedDEKSourceType = Number(f.v.value);
    if (f.v.wire !== 2) continue;
    const v = f.v.value;
    if (f.field === 1) o.encryptedData = v;
    else if (f.field === 2) o.keyID = v.toString('utf8');
    else if (f.field === 3) o.encryptedDEKSource = v;
    else if (f.field === 4) {
      let key = '';
      let value: Buffer = Buffer.alloc(0);
      for (const e of readFields(v)) {
        if (e.v.wire !== 2) continue;
        if (e.field === 1) key = e.v.value.toString('utf8');
        if (e.field === 2) value = e.v.value;
      }
      o.annotations[key] = value;
    }
  }
  return o;
}

const MAX_KEY_ID = 1024;
const MAX_DEK_SOURCE = 1024;
const MAX_ANNOTATIONS = 32 * 1024;
const FQDN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$/;

/** upstream's ValidateKeyID: the message, and the code invalid_key_id_from_status_total counts it by */
export function validateKeyID(keyID: string): { code: 'empty' | 'too_long'; message: string } | undefined {
  if (keyID === '') return { code: 'empty', message: 'keyID is empty' };
  if (keyID.length > MAX_KEY_ID) return { code: 'too_long', message: `keyID is ${keyID.length} bytes, which exceeds the max size of ${MAX_KEY_ID}` };
  return undefined;
}

/** upstream's ValidateEncryptedObject (encryptedData checked only for stored values) */
function validateEncryptedObject(o: EncryptedObject, withData: boolean): string | undefined {
  if (withData && o.encryptedData.length === 0) return 'encrypted data is empty';
  if (o.encryptedDEKSourceType !== AES_GCM_KEY && o.encryptedDEKSourceType !== HKDF_SHA256_XNONCE_AES_GCM_SEED) return `unknown encryptedDEKSourceType: ${o.encryptedDEKSourceType}`;
  if (o.encryptedDEKSource.length === 0) return 'encrypted DEK source is empty';
  if (o.encryptedDEKSource.length > MAX_DEK_SOURCE) return `encrypted DEK source is ${o.encryptedDEKSource.length} bytes, which exceeds the max size of ${MAX_DEK_SOURCE}`;
  const bad = validateKeyID(o.keyID);
  if (bad) return bad.message;
  let size = 0;
  for (const [k, v] of Object.entries(o.annotations)) {
    if (!FQDN.test(k)) return `annotation key ${JSON.stringify(k)} is not a fully qualified domain name`;
    size += k.length + v.length;
  }
  if (size > MAX_ANNOTATIONS) return `total size of annotations is ${size}, which exceeds the max size of ${MAX_ANNOTATIONS}`;
  return undefined;
}

/** HKDF-Expand(SHA-256) of one 32-byte block: upstream's sha256KDFExpandOnly (the seed is already uniform, so no Extract) */
export function expandOnly(seed: Buffer, info: Buffer): Buffer {
  return createHmac('sha256', seed).update(info).update(Buffer.from([1])).digest();
}

const INFO_SIZE = 32;
const SEED_SIZE = 32;

/** a DEK seed's transformer: each write derives its own key from 32 random info bytes stored ahead of the GCM box */
function seedTransformer(seed: Buffer): ByteTransformer {
  return {
    toStorage(plain, ad) {
      const info = randomBytes(INFO_SIZE);
      return Buffer.concat([info, aesGcm(expandOnly(seed, info)).toStorage(plain, ad)]);
    },
    fromStorage(data, ad) {
      if (data.length < INFO_SIZE) throw new Error('the stored data was shorter than the required size');
      return aesGcm(expandOnly(seed, data.subarray(0, INFO_SIZE))).fromStorage(data.subarray(INFO_SIZE), ad);
    },
  };
}

/** the plugin's timings as upstream's (encryptionconfig/config.go) */
const HEALTHY_POLL_MS = 60_000;
const UNHEALTHY_POLL_MS = 10_000;
const WRITE_DEK_MAX_TTL_MS = 3 * 60_000;
const CHECK_POSITIVE_TTL_MS = 20_000;
const CHECK_NEGATIVE_TTL_MS = 3_000;
const MAX_CACHED_DEKS = 1000;

interface WriteState {
  transformer: ByteTransformer;
  keyID: string;
  encryptedDEKSource: Buffer;
  annotations: Record<string, Buffer>;
  /** writes refused after this (timers.now()), unless a Status with the same key_id extends it */
  expiresAt: number;
}

export interface KmsV2Spec {
  name: string;
  endpoint: string;
  timeoutMs: number;
}

/**
 * One `kms` provider (apiVersion v2): the prefix, the write state (seed + its encrypted form and
 * key_id), the decrypted-DEK cache keyed by the encrypted DEK source, and the health probe.
 * `toStorage`/`fromStorage` are synchronous (the Store seam's values are decoded synchronously):
 * a write uses the current seed; a read needs its DEK in the cache, which `prefetch` fills
 * (through the plugin's Decrypt) before the value reaches the decoder.
 */
export class KmsV2Provider {
  readonly name: string;
  readonly prefix: string;
  readonly #service: KmsService;
  readonly #timers: Timers;
  #state: WriteState | undefined;
  #version: string | undefined;
  #last: { at: number; err: string | undefined } | undefined;
  #checking: Promise<string | undefined> | undefined;
  readonly #deks = new Map<string, ByteTransformer>();
  readonly #fetching = new Map<string, Promise<void>>();
  #timer: unknown;
  #closed = false;
  readonly #metrics: KmsMetrics | undefined;
  /** DEK seed rotations so far: a decoded value's staleness is only valid within one */
  rotations = 0;

  constructor(spec: KmsV2Spec, opts: { service?: KmsService; timers?: Timers; metrics?: KmsMetrics } = {}) {
    this.name = spec.name;
    this.prefix = `${ENCRYPTED_PREFIX}kms:v2:${spec.name}:`;
    const service = opts.service ?? lazyGrpcKmsService(spec.endpoint, spec.timeoutMs);
    this.#metrics = opts.metrics;
    this.#service = opts.metrics ? measured(service, spec.name, opts.metrics) : service;
    this.#timers = opts.timers ?? realTimers;
  }

  /** The first Status (and DEK seed), then the poll: every minute while healthy, every 10 s otherwise. */
  async start(): Promise<void> {
    const poll = async (): Promise<void> => {
      const err = await this.check(true);
      if (this.#closed) return;
      this.#timer = this.#timers.setTimeout(() => void poll(), err === undefined ? HEALTHY_POLL_MS : UNHEALTHY_POLL_MS);
      (this.#timer as { unref?: () => void }).unref?.();
    };
    await poll();
  }

  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#service.close();
  }

  /** the key_id writes currently use, if any */
  currentKeyID(): string | undefined {
    return this.#state?.keyID;
  }

  /**
   * upstream's kmsv2PluginProbe.check: Status, then rotate the seed if key_id changed (or extend
   * the current one's write deadline). The result is reused for 20 s when healthy, 3 s when not,
   * unless `force` (the poll). Returns the error, undefined when healthy.
   */
  async check(force = false): Promise<string | undefined> {
    const now = this.#timers.now();
    if (!force && this.#last && now - this.#last.at < (this.#last.err === undefined ? CHECK_POSITIVE_TTL_MS : CHECK_NEGATIVE_TTL_MS)) return this.#last.err;
    this.#checking ??= this.#probe().finally(() => (this.#checking = undefined));
    return this.#checking;
  }

  async #probe(): Promise<string | undefined> {
    let err: string | undefined;
    try {
      const st = await this.#service.status();
      const errs: string[] = [];
      if (st.healthz !== 'ok') errs.push(`got unexpected healthz status: ${st.healthz}`);
      if (st.version !== 'v2' && st.version !== 'v2beta1') errs.push(`expected KMSv2 API version v2, got ${st.version}`);
      else {
        this.#version ??= st.version;
        if (this.#version !== st.version) errs.push(`KMSv2 API version should not change after the initial status response version ${this.#version}, got ${st.version}`);
      }
      const badKey = validateKeyID(st.keyId);
      if (badKey) {
        this.#metrics?.invalidKeyIDFromStatus(this.name, badKey.code);
        errs.push(`got invalid KMSv2 KeyID: ${badKey.message}`);
      } else {
        this.#metrics?.keyIDFromStatus(this.name, st.keyId);
        const rotateErr = await this.#rotateOnKeyIDChange(st.keyId);
        if (rotateErr) errs.push(rotateErr);
      }
      if (errs.length > 0) err = `kmsv2 Provider ${this.name} is not healthy, error: ${errs.join(', ')}`;
    } catch (e) {
      err = `failed to perform status section of the healthz check for KMS Provider ${this.name}, error: ${(e as Error).message}`;
    }
    this.#last = { at: this.#timers.now(), err };
    return err;
  }

  async #rotateOnKeyIDChange(statusKeyID: string): Promise<string | undefined> {
    // the deadline starts before the call: 3 min is the upper bound of coasting on this seed
    const expiresAt = this.#timers.now() + WRITE_DEK_MAX_TTL_MS;
    if (this.#state && this.#state.keyID === statusKeyID) {
      this.#state.expiresAt = expiresAt;
      return undefined;
    }
    const seed = randomBytes(SEED_SIZE);
    try {
      const r = await this.#service.encrypt(randomUUID(), seed);
      const obj: EncryptedObject = { encryptedData: Buffer.alloc(0), keyID: r.keyId, encryptedDEKSource: r.ciphertext, annotations: r.annotations, encryptedDEKSourceType: HKDF_SHA256_XNONCE_AES_GCM_SEED };
      const bad = validateEncryptedObject(obj, false);
      if (bad) return `failed to rotate DEK: the plugin's Encrypt returned an invalid result: ${bad}`;
      if (r.keyId !== statusKeyID) return `failed to rotate DEK: the key_id of Encrypt (${JSON.stringify(r.keyId)}) differs from Status's (${JSON.stringify(statusKeyID)})`;
      const transformer = seedTransformer(seed);
      this.#state = { transformer, keyID: r.keyId, encryptedDEKSource: r.ciphertext, annotations: r.annotations, expiresAt };
      this.rotations++;
      this.#remember(cacheKey(obj), transformer);
      return undefined;
    } catch (e) {
      return `failed to rotate DEK: ${(e as Error).message}`;
    }
  }

  toStorage(plain: Buffer, ad: Buffer): Buffer {
    const s = this.#state;
    if (!s) throw new Error(`KMS provider ${this.name} has no DEK to encrypt with: ${this.#last?.err ?? 'the plugin has not answered Status yet'}`);
    const now = this.#timers.now();
    if (now > s.expiresAt) {
      throw new Error(`KMS provider ${this.name}: the DEK seed of key ID ${JSON.stringify(s.keyID)} expired ${Math.round((now - s.expiresAt) / 1000)}s ago: the plugin has not answered Status for over 3 minutes (${this.#last?.err ?? 'no error'})`);
    }
    const encryptedData = s.transformer.toStorage(plain, ad);
    this.#metrics?.keyIDUsed('to_storage', this.name, s.keyID);
    return encodeEncryptedObject({ encryptedData, keyID: s.keyID, encryptedDEKSource: s.encryptedDEKSource, annotations: s.annotations, encryptedDEKSourceType: HKDF_SHA256_XNONCE_AES_GCM_SEED });
  }

  /** `data` is what follows the prefix; stale when its key ID is not the current one (or its DEK is not a seed) */
  fromStorage(data: Buffer, ad: Buffer): { plain: Buffer; stale: boolean } {
    const obj = decodeEncryptedObject(data);
    const bad = validateEncryptedObject(obj, true);
    if (bad) throw new Error(`invalid encrypted object: ${bad}`);
    const t = this.#deks.get(cacheKey(obj));
    if (!t) throw new Error(`KMS provider ${this.name}: the DEK of this value (key ID ${JSON.stringify(obj.keyID)}) is not decrypted: ${this.#fetchErr.get(cacheKey(obj)) ?? 'the plugin was not asked'}`);
    const plain = t.fromStorage(obj.encryptedData, ad);
    this.#metrics?.keyIDUsed('from_storage', this.name, obj.keyID);
    return { plain, stale: obj.keyID !== this.#state?.keyID || obj.encryptedDEKSourceType !== HKDF_SHA256_XNONCE_AES_GCM_SEED };
  }

  readonly #fetchErr = new Map<string, string>();

  /** Decrypt the DEK of a stored value (what follows the prefix) through the plugin unless cached; never throws. */
  async prefetch(data: Buffer): Promise<void> {
    let obj: EncryptedObject;
    try {
      obj = decodeEncryptedObject(data);
    } catch {
      return; // fromStorage says why
    }
    if (validateEncryptedObject(obj, true) !== undefined) return;
    const key = cacheKey(obj);
    if (this.#deks.has(key)) return;
    let p = this.#fetching.get(key);
    if (!p) {
      p = this.#service
        .decrypt(randomUUID(), { ciphertext: obj.encryptedDEKSource, keyId: obj.keyID, annotations: obj.annotations })
        .then((dek) => {
          if (obj.encryptedDEKSourceType === HKDF_SHA256_XNONCE_AES_GCM_SEED) {
            if (dek.length < SEED_SIZE) throw new Error(`the decrypted DEK seed is ${dek.length} bytes, expected at least ${SEED_SIZE}`);
            this.#remember(key, seedTransformer(dek));
          } else this.#remember(key, aesGcm(dek));
          this.#fetchErr.delete(key);
        })
        .catch((e: unknown) => {
          this.#fetchErr.set(key, `failed to decrypt DEK, error: ${(e as Error).message}`);
          if (this.#fetchErr.size > MAX_CACHED_DEKS) this.#fetchErr.delete(this.#fetchErr.keys().next().value!);
        })
        .finally(() => this.#fetching.delete(key));
      this.#fetching.set(key, p);
    }
    await p;
  }

  #remember(key: string, t: ByteTransformer): void {
    this.#deks.delete(key);
    this.#deks.set(key, t);
    if (this.#deks.size > MAX_CACHED_DEKS) this.#deks.delete(this.#deks.keys().next().value!);
    this.#metrics?.dekSourceCacheSize(this.name, this.#deks.size);
  }
}

/** the DEK cache's key: what the plugin decrypts (upstream's generateCacheKey) */
function cacheKey(o: EncryptedObject): string {
  const ann = Object.keys(o.annotations)
    .sort()
    .map((k) => `${k}=${o.annotations[k]!.toString('base64')}`)
    .join(',');
  return `${o.encryptedDEKSourceType}|${o.keyID}|${o.encryptedDEKSource.toString('base64')}|${ann}`;
}

/** the service with each call's latency and gRPC code recorded, as upstream's client interceptor */
function measured(service: KmsService, provider: string, metrics: KmsMetrics): KmsService {
  const timed = async <T>(method: string, call: () => Promise<T>): Promise<T> => {
    const start = performance.now();
    let code = 'OK';
    try {
      return await call();
    } catch (e) {
      code = e instanceof KmsRpcError ? e.code : 'unknown-non-grpc';
      throw e;
    } finally {
      metrics.operation(provider, `/v2.KeyManagementService/${method}`, (performance.now() - start) / 1000, code);
    }
  };
  return {
    status: () => timed('Status', () => service.status()),
    encrypt: (uid, plaintext) => timed('Encrypt', () => service.encrypt(uid, plaintext)),
    decrypt: (uid, req) => timed('Decrypt', () => service.decrypt(uid, req)),
    close: () => service.close(),
  };
}
