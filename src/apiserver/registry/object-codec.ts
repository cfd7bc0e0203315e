import type { KubeObject } from '../../api/object.ts';
import { mutableMeta } from './mutable-meta.ts';
import { HedgeError } from '../../lib/errors.ts';
import type { KeyValue } from '../../store/types.ts';

/** An object read from the store, with resourceVersion filled in. Treat `obj` as read-only: it is shared. */
export interface Decoded {
  key: string;
  rev: number;
  obj: KubeObject;
  /** the stored value (no resourceVersion), to detect no-op writes */
  raw: string;
  /** JSON of `obj` */
  json(): string;
  /** JSON of `obj` as UTF-8, encoded once per revision: lists copy these into one body */
  buf(): Buffer;
  /** a private deep copy of `obj`, parsed from the stored text (one JSON.stringify cheaper than a clone) */
  copy(): KubeObject;
}

/**
 * Stored values are the object's JSON without metadata.resourceVersion (the store revision is the
 * resourceVersion, as in upstream's etcd3 storage). Decoded objects are cached by key+revision so
 * lists and watches do not re-parse and re-serialize unchanged objects.
 */
export class ObjectCodec {
  readonly #cache = new Map<string, Decoded>();
  /** recent delete events, by key */
  readonly #deleted = new Map<string, Decoded>();
  readonly #max: number;

  readonly #apiVersion: string | undefined;

  /**
   * `apiVersion`: decoded objects report this apiVersion whatever version wrote them (a custom
   * resource served at several versions with `None` conversion: only apiVersion differs).
   */
  constructor(opts: { maxCached?: number; apiVersion?: string } = {}) {
    this.#max = opts.maxCached ?? 50_000;
    this.#apiVersion = opts.apiVersion;
  }

  encode(obj: KubeObject): string {
    const rv = obj.metadata.resourceVersion;
    if (rv === undefined) return JSON.stringify(obj);
    const m = mutableMeta(obj);
    delete m.resourceVersion;
    try {
      return JSON.stringify(obj);
    } finally {
      m.resourceVersion = rv;
    }
  }

  decode(kv: KeyValue): Decoded {
    const hit = this.#cache.get(kv.key);
    if (hit && hit.rev === kv.modRevision) return hit;
    const d = this.#parse(kv.key, kv.value, kv.modRevision);
    if (!hit || hit.rev < kv.modRevision) {
      this.#cache.delete(kv.key);
      this.#cache.set(kv.key, d);
      if (this.#cache.size > this.#max) {
        const oldest = this.#cache.keys().next().value;
        if (oldest !== undefined) this.#cache.delete(oldest);
      }
    }
    return d;
  }

  /** A delete event: the last value, stamped with the delete's revision (like upstream watch). */
  decodeDeleted(kv: KeyValue): Decoded {
    this.#cache.delete(kv.key);
    // every watcher of the resource decodes the same delete event: parse it once
    const hit = this.#deleted.get(kv.key);
    if (hit && hit.rev === kv.modRevision) return hit;
    const d = this.#parse(kv.key, kv.value, kv.modRevision);
    this.#deleted.delete(kv.key);
    this.#deleted.set(kv.key, d);
    if (this.#deleted.size > 1000) {
      const oldest = this.#deleted.keys().next().value;
      if (oldest !== undefined) this.#deleted.delete(oldest);
    }
    return d;
  }

  /** Decode for a value that must not be cached under its key (e.g. a previous value). */
  decodeUncached(key: string, value: string, rev: number): Decoded {
    return this.#parse(key, value, rev);
  }

  forget(key: string): void {
    this.#cache.delete(key);
  }

  /** The newest decoded object this process has seen under `key` (it may be stale: another writer, or deleted since). */
  latest(key: string): Decoded | undefined {
    return this.#cache.get(key);
  }

  #parse(key: string, value: string, rev: number): Decoded {
    const obj = this.#object(key, value, rev);
    // only the bytes are kept: the string form is cheap to recover and rarely needed twice
    let bytes: Buffer | undefined;
    const buf = (): Buffer => (bytes ??= Buffer.from(JSON.stringify(obj)));
    return {
      key,
      rev,
      obj,
      raw: value,
      json: () => buf().toString('utf8'),
      buf,
      copy: () => this.#object(key, value, rev),
    };
  }

  #object(key: string, value: string, rev: number): KubeObject {
    let obj: KubeObject;
    try {
      obj = JSON.parse(value) as KubeObject;
    } catch (err) {
      throw new HedgeError('Internal', `stored object at ${key} is not valid JSON`, { cause: err });
    }
    if (typeof obj !== 'object' || obj === null) throw new HedgeError('Internal', `stored object at ${key} is not an object`);
    obj.metadata ??= {};
    mutableMeta(obj).resourceVersion = String(rev);
    if (this.#apiVersion !== undefined && obj.apiVersion !== this.#apiVersion) obj.apiVersion = this.#apiVersion;
    return obj;
  }
}
