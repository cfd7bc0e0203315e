import { ENCRYPTED_PREFIX } from '../../store/stored-bytes.ts';
import type { EncryptionConfig, GroupResource, ProviderSpec } from './config.ts';
import { aesCbc, aesGcm, secretBox, type ByteTransformer } from './providers.ts';
import { KmsV2Provider, type KmsService } from './kmsv2.ts';
import type { KmsMetrics } from './metrics.ts';
import { delay, realTimers, type Timers } from '../../lib/timers.ts';
import { EncryptionConfigReloader, type AutomaticReloadOptions, type ReloadOutcome } from './reload.ts';
import type { Store } from '../../store/types.ts';

export type TransformationType = 'from_storage' | 'to_storage';

/** apiserver_storage_transformation_operations_total, or whatever counts the operations */
export interface TransformMetrics {
  record(type: TransformationType, transformerPrefix: string, ok: boolean): void;
}

/** A value read back: the plaintext, and whether it should be rewritten (not the first provider's). */
export interface Opened {
  plain: string;
  stale: boolean;
}

/** One prefix of the chain: a key of a provider (`k8s:enc:aescbc:v1:key1:`) or identity (`''`). */
interface PrefixTransformer {
  prefix: string;
  /** `aescbc:key1`, `identity`: for messages */
  label: string;
  transformer: ByteTransformer | KmsV2Provider | 'identity';
}

/**
 * Upstream's prefixTransformers (storage/value/transformer.go) for one resource: the first
 * transformer writes; a read takes the first whose prefix the value starts with and that can
 * decrypt it, and is stale unless that was the first. Values are the Store seam's strings: JSON,
 * or a binary string (one char per byte) for an encrypted value (store/stored-bytes.ts).
 * Synchronous: the ciphers are local, and a KMS v2 provider encrypts with its current DEK seed and
 * decrypts with DEKs its `prefetch` put in its cache (kmsv2.ts).
 */
export class PrefixTransformers {
  readonly #chain: PrefixTransformer[];
  readonly #metrics: TransformMetrics | undefined;

  constructor(providers: readonly ProviderSpec[], metrics?: TransformMetrics, kms?: ReadonlyMap<string, KmsV2Provider>) {
    this.#chain = providers.flatMap((p): PrefixTransformer[] => {
      switch (p.kind) {
        case 'identity':
          return [{ prefix: '', label: 'identity', transformer: 'identity' }];
        case 'kms': {
          const provider = kms?.get(p.name);
          if (!provider) throw new Error(`KMS provider ${p.name} was not created`);
          return [{ prefix: provider.prefix, label: `kms:${p.name}`, transformer: provider }];
        }
        case 'aescbc':
        case 'aesgcm':
        case 'secretbox': {
          const make = p.kind === 'aescbc' ? aesCbc : p.kind === 'aesgcm' ? aesGcm : secretBox;
          return p.keys.map((k) => ({ prefix: `${ENCRYPTED_PREFIX}${p.kind}:v1:${k.name}:`, label: `${p.kind}:${k.name}`, transformer: make(k.secret) }));
        }
        default: {
          const never: never = p;
          throw new Error(`unknown provider ${JSON.stringify(never)}`);
        }
      }
    });
    if (this.#chain.length === 0) throw new Error('at least one provider is required');
    this.#metrics = metrics;
  }

  /** e.g. `aescbc:key1, identity`: what is tried, in order (no secrets) */
  describe(): string {
    return this.#chain.map((t) => t.label).join(', ');
  }

  toStorage(plain: string, key: string): string {
    const first = this.#chain[0]!;
    if (first.transformer === 'identity') {
      this.#metrics?.record('to_storage', 'identity', true);
      return plain;
    }
    let sealed: Buffer;
    try {
      sealed = first.transformer.toStorage(Buffer.from(plain, 'utf8'), Buffer.from(key, 'utf8'));
    } catch (err) {
      this.#metrics?.record('to_storage', first.prefix, false);
      throw err;
    }
    this.#metrics?.record('to_storage', first.prefix, true);
    return first.prefix + sealed.toString('latin1');
  }

  /** Throws an Error saying why no transformer could read the value (never its content). */
  fromStorage(stored: string, key: string): Opened {
    const errors: string[] = [];
    for (const [i, t] of this.#chain.entries()) {
      if (!stored.startsWith(t.prefix)) continue;
      if (t.transformer === 'identity') {
        // identity is skipped, not failed, for encrypted data: a later provider may read it
        if (stored.startsWith(ENCRYPTED_PREFIX)) continue;
        this.#metrics?.record('from_storage', 'identity', true);
        return { plain: stored, stale: i !== 0 };
      }
      try {
        const data = Buffer.from(stored.slice(t.prefix.length), 'latin1');
        const ad = Buffer.from(key, 'utf8');
        // a KMS value is also stale when its key ID is not the plugin's current one
        const r = t.transformer instanceof KmsV2Provider ? t.transformer.fromStorage(data, ad) : { plain: t.transformer.fromStorage(data, ad), stale: false };
        this.#metrics?.record('from_storage', t.prefix, true);
        return { plain: r.plain.toString('utf8'), stale: i !== 0 || r.stale };
      } catch (err) {
        // overlapping prefixes (one provider listed twice with different keys): try the next
        this.#metrics?.record('from_storage', t.prefix, false);
        errors.push(`${t.label}: ${(err as Error).message}`);
      }
    }
    if (errors.length > 0) throw new Error(`no provider could decrypt it (${errors.join('; ')})`);
    this.#metrics?.record('from_storage', 'unknown', false);
    const found = stored.startsWith(ENCRYPTED_PREFIX) ? `a value stored as ${describePrefix(stored)}` : 'an unencrypted value';
    throw new Error(`the provided value does not match any of the supported transformers: ${found}, and no configured provider (${this.describe()}) reads it`);
  }
}

const KMS_V2_PREFIX = `${ENCRYPTED_PREFIX}kms:v2:`;

/** `k8s:enc:aescbc:v1:key1:` of an encrypted value, for messages */
export function describePrefix(stored: string): string {
  const parts = stored.split(':', 5);
  return parts.length === 5 ? `${parts.join(':')}:` : ENCRYPTED_PREFIX;
}

/** A key's resource, from the registry's layout `/registry/<group|core>/<plural>/...`. */
function resourceOfKey(key: string): { prefix: string; gr: GroupResource } | undefined {
  const a = key.indexOf('/', 1);
  const b = a < 0 ? -1 : key.indexOf('/', a + 1);
  const c = b < 0 ? -1 : key.indexOf('/', b + 1);
  if (c < 0) return undefined;
  const group = key.slice(a + 1, b);
  return { prefix: key.slice(0, c + 1), gr: { group: group === 'core' ? '' : group, resource: key.slice(b + 1, c) } };
}

/** what EncryptionAtRest builds its transformers and KMS providers with */
export interface EncryptionOptions {
  metrics?: TransformMetrics;
  /** for tests, the plugin client of a provider (else gRPC on its endpoint) and the timers its poll, check cache and write deadline use */
  kms?: { service?: (name: string) => KmsService | undefined; timers?: Timers; metrics?: KmsMetrics };
  /** --encryption-provider-config-automatic-reload: the file is re-read while the server runs (reload.ts) */
  automaticReload?: AutomaticReloadOptions;
}

/**
 * One loaded EncryptionConfiguration (upstream's transformerFromOverrides): an exact
 * `resource.group` wins over `*.group`, which wins over `*.*`; among entries naming the same
 * pattern, the first. A resource no entry names is stored as is.
 */
class LoadedConfig {
  readonly exact = new Map<string, PrefixTransformers>();
  readonly byPrefix = new Map<string, PrefixTransformers | null>();
  /** the KMS v2 providers by name (names are unique in a config) */
  readonly kms = new Map<string, KmsV2Provider>();

  constructor(config: EncryptionConfig, opts: EncryptionOptions) {
    for (const entry of config.resources) {
      for (const p of entry.providers) {
        if (p.kind === 'kms' && !this.kms.has(p.name)) this.kms.set(p.name, new KmsV2Provider(p, { service: opts.kms?.service?.(p.name), timers: opts.kms?.timers, metrics: opts.kms?.metrics }));
      }
    }
    for (const entry of config.resources) {
      const t = new PrefixTransformers(entry.providers, opts.metrics, this.kms);
      for (const gr of entry.resources) {
        const id = `${gr.resource}.${gr.group}`;
        if (!this.exact.has(id)) this.exact.set(id, t);
      }
    }
  }

  forKey(key: string): PrefixTransformers | undefined {
    const r = resourceOfKey(key);
    if (r === undefined) return undefined;
    let t = this.byPrefix.get(r.prefix);
    if (t === undefined) {
      t = this.exact.get(`${r.gr.resource}.${r.gr.group}`) ?? this.exact.get(`*.${r.gr.group}`) ?? this.exact.get('*.*') ?? null;
      this.byPrefix.set(r.prefix, t);
    }
    return t ?? undefined;
  }

  close(): void {
    for (const p of this.kms.values()) p.close();
  }
}

/** upstream's kmsCloseGracePeriod: the KMS providers of a replaced config serve requests already holding them this long */
const KMS_CLOSE_GRACE_MS = 10_000;

/**
 * The transformers of every configured resource. With automatic reload, the config they come from
 * is replaced as a whole when the file changes (`replace`): a request takes the chain of the config
 * current when it asks (upstream's DynamicTransformers).
 */
export class EncryptionAtRest {
  #loaded: LoadedConfig;
  /** what `generation` was when the current config replaced the last (its providers count rotations from 0) */
  #generationBase = 0;
  readonly #opts: EncryptionOptions;
  readonly #reloader: EncryptionConfigReloader | undefined;
  readonly #retired = new Set<{ config: LoadedConfig; timer: unknown }>();
  #closed = false;

  constructor(config: EncryptionConfig, opts: EncryptionOptions = {}) {
    this.#opts = opts;
    this.#loaded = new LoadedConfig(config, opts);
    this.#reloader = opts.automaticReload ? new EncryptionConfigReloader(this, opts.automaticReload) : undefined;
  }

  /** the KMS v2 providers of the current config, by name */
  get kms(): ReadonlyMap<string, KmsV2Provider> {
    return this.#loaded.kms;
  }

  /** whether the config file is re-read while the server runs (the health check is then always `kms-providers`, as upstream) */
  get automaticReload(): boolean {
    return this.#reloader !== undefined;
  }

  /** with automatic reload: look at the file now, as the poll does (tests; undefined without reload) */
  reloadNow(): Promise<ReloadOutcome> | undefined {
    return this.#reloader?.check();
  }

  /** The chain for the resource stored under `key`, or undefined when it is not encrypted. */
  forKey(key: string): PrefixTransformers | undefined {
    return this.#loaded.forKey(key);
  }

  /** Each KMS provider's first Status (and DEK seed), then its poll; a plugin down does not fail this (writes do, and the health check). Then the reload poll. */
  async start(): Promise<void> {
    await startKms(this.#loaded);
    this.#reloader?.start();
  }

  close(): void {
    this.#closed = true;
    this.#reloader?.close();
    this.#loaded.close();
    for (const r of this.#retired) {
      this.#timers.clearTimeout(r.timer);
      r.config.close();
    }
    this.#retired.clear();
  }

  get #timers(): Timers {
    return this.#opts.kms?.timers ?? realTimers;
  }

  /**
   * upstream's DynamicTransformers.Set, after its validateNewTransformersHealth: `config` is built
   * (a config that cannot be is thrown), its KMS providers started and found healthy within
   * `healthTimeoutMs` (else thrown and closed), then it replaces the current one at once. The
   * replaced providers close after a grace period (requests in flight may hold them).
   */
  async replace(config: EncryptionConfig, healthTimeoutMs: number): Promise<void> {
    const next = new LoadedConfig(config, this.#opts);
    try {
      await startKms(next);
      const err = await healthyWithin(next, healthTimeoutMs, this.#timers);
      if (err !== undefined) throw new Error(`the new KMS providers are not healthy: ${err}`);
      if (this.#closed) throw new Error('the server is shutting down');
    } catch (err) {
      next.close();
      throw err;
    }
    const prev = this.#loaded;
    this.#generationBase = this.generation + 1;
    this.#loaded = next;
    if (prev.kms.size === 0) return;
    const retired = { config: prev, timer: undefined as unknown };
    retired.timer = this.#timers.setTimeout(() => {
      this.#retired.delete(retired);
      prev.close();
    }, KMS_CLOSE_GRACE_MS);
    this.#retired.add(retired);
  }

  /** changes when a KMS provider rotates its DEK seed, and when the config is replaced: what was current may be stale now */
  get generation(): number {
    let n = this.#generationBase;
    for (const p of this.#loaded.kms.values()) n += p.rotations;
    return n;
  }

  /**
   * upstream's `kms-providers` health check: every KMS provider's Status (cached 20 s when
   * healthy, 3 s when not); the error names each failing provider, undefined when all are healthy
   * (and when there is none: under automatic reload the check is there without KMS, a no-op).
   */
  async checkKms(): Promise<string | undefined> {
    return checkKmsOf(this.#loaded);
  }

  /**
   * The store as the codec should see it: with KMS providers, every value read (get, list, watch,
   * the previous value of a delete) has its DEK decrypted by the plugin before it is returned, so
   * the synchronous decode finds it cached. Without KMS, the store itself.
   */
  wrapStore(store: Store): Store {
    // a reloaded config may bring KMS providers later
    if (this.kms.size === 0 && !this.automaticReload) return store;
    const ready = async (values: readonly (string | undefined)[]): Promise<void> => {
      const waits: Promise<void>[] = [];
      for (const v of values) {
        if (v === undefined || !v.startsWith(KMS_V2_PREFIX)) continue;
        const end = v.indexOf(':', KMS_V2_PREFIX.length);
        const p = end < 0 ? undefined : this.kms.get(v.slice(KMS_V2_PREFIX.length, end));
        if (p) waits.push(p.prefetch(Buffer.from(v.slice(end + 1), 'latin1')));
      }
      if (waits.length > 0) await Promise.all(waits);
    };
    return {
      async get(key, opts) {
        const kv = await store.get(key, opts);
        await ready([kv?.value]);
        return kv;
      },
      async list(prefix, opts) {
        const r = await store.list(prefix, opts);
        await ready(r.items.map((kv) => kv.value));
        return r;
      },
      async delete(key, opts) {
        const kv = await store.delete(key, opts);
        await ready([kv.value]);
        return kv;
      },
      async *watch(prefix, opts) {
        for await (const ev of store.watch(prefix, opts)) {
          if (ev.type !== 'progress') await ready([ev.kv.value, ev.prevKv?.value]);
          yield ev;
        }
      },
      count: (prefix) => store.count(prefix),
      create: (key, value, opts) => store.create(key, value, opts),
      update: (key, value, opts) => store.update(key, value, opts),
      currentRevision: () => store.currentRevision(),
      compactedRevision: () => store.compactedRevision(),
      compact: (revision) => store.compact(revision),
      close: () => store.close(),
    };
  }

  /** resource pattern → providers in order, for the startup log (no secrets) */
  summary(): Record<string, string> {
    return Object.fromEntries([...this.#loaded.exact].map(([id, t]) => [id, t.describe()]));
  }
}

async function startKms(c: LoadedConfig): Promise<void> {
  await Promise.all([...c.kms.values()].map((p) => p.start()));
}

async function checkKmsOf(c: LoadedConfig, force = false): Promise<string | undefined> {
  const errs: string[] = [];
  let i = 0;
  for (const p of c.kms.values()) {
    const err = await p.check(force);
    if (err !== undefined) errs.push(`kms-provider-${i}: ${err}`);
    i++;
  }
  return errs.length === 0 ? undefined : errs.length === 1 ? errs[0] : `[${errs.join(', ')}]`;
}

/** upstream polls a new config's KMS health every 100 ms until it passes or the time is up; the last error, or undefined */
async function healthyWithin(c: LoadedConfig, timeoutMs: number, timers: Timers): Promise<string | undefined> {
  if (c.kms.size === 0) return undefined;
  const deadline = timers.now() + timeoutMs;
  for (;;) {
    const err = await checkKmsOf(c, true);
    if (err === undefined || timers.now() >= deadline) return err;
    await delay(timers, 100);
  }
}
