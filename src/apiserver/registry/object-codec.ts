import { randomUUID } from 'node:crypto';
import type { KubeObject } from '../../api/object.ts';
import type { VersionConversion } from '../../api/resources/types.ts';
import { mutableMeta } from './mutable-meta.ts';
import { HedgeError } from '../../lib/errors.ts';
import { keptBufferOf } from '../../lib/kept-buffer.ts';
import type { KeyValue } from '../../store/types.ts';
import { isBinaryValue } from '../../store/stored-bytes.ts';
import { describePrefix, type EncryptionAtRest } from '../encryption/transformer.ts';

/** the version a codec serves: its apiVersion, and how to get there from the stored objects' */
interface CodecView {
  apiVersion: string;
  conversion: VersionConversion | undefined;
}

/** An object read from the store, with resourceVersion filled in. Treat `obj` as read-only: it is shared. */
export interface Decoded {
  key: string;
  rev: number;
  obj: KubeObject;
  /** the stored value decrypted (the object's JSON without resourceVersion), to detect no-op writes */
  raw: string;
  /**
   * read through a provider other than the one that writes (an older key, identity before
   * encryption was turned on): an update writes it even if nothing changed, so
   * `kubectl replace` rewrites it with the current key (upstream's stale flag)
   */
  stale: boolean;
  /** JSON of `obj` */
  json(): string;
  /** JSON of `obj` as UTF-8, encoded once per revision: lists copy these into one body */
  buf(): Buffer;
  /** a private deep copy of `obj`, parsed from the stored text (one JSON.stringify cheaper than a clone) */
  copy(): KubeObject;
  /**
   * `obj` if it is parsed already, else a parse of it that this value does not keep: for a reader
   * that keeps a few fields (a projection) and would otherwise leave the whole object parsed in
   * the cache until its next write, where every major GC marks it. Read-only like `obj`.
   */
  peek(): KubeObject;
}

/**
 * What `encodeWrite` gives: the value to store (`encode`'s JSON), and, when it could tell, the
 * object's JSON as a read of it at its new revision gives it, around that resourceVersion.
 */
export interface Encoded {
  value: string;
  /** the JSON up to the resourceVersion's value, and from its closing quote on */
  read?: { head: string; tail: string };
}

/**
 * A placeholder resourceVersion (this process's own, never sent or stored): `encodeWrite` finds
 * where the new revision goes by it, in the one JSON.stringify the write needs anyway.
 */
const RV_MARK = randomUUID();
const RV_PREFIX = '"resourceVersion":"';
const RV_FIELD = `${RV_PREFIX}${RV_MARK}"`;

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

  readonly #view: CodecView | undefined;
  readonly #encryption: EncryptionAtRest | undefined;

  /**
   * `apiVersion`: decoded objects report this apiVersion whatever version wrote them (a custom
   * resource served at several versions with `None` conversion: only apiVersion differs).
   * `conversion` (with `apiVersion`): a version served over another's stored objects; decoded
   * objects are converted from storage, encoded ones to it.
   * `encryption`: the resources encrypted at rest (--encryption-provider-config); values are
   * encrypted in `seal` and decrypted here, above the store, so every read path (get, list,
   * watch, the decode cache) sees plaintext and the store only ever holds the sealed bytes.
   */
  constructor(opts: { maxCached?: number; apiVersion?: string; conversion?: VersionConversion; encryption?: EncryptionAtRest } = {}) {
    this.#max = opts.maxCached ?? 50_000;
    this.#view = opts.apiVersion === undefined ? undefined : { apiVersion: opts.apiVersion, conversion: opts.conversion };
    this.#encryption = opts.encryption;
  }

  /** The value to store under `key` for the JSON `plain` (from `encode`): encrypted when its resource is configured so. */
  seal(key: string, plain: string): string {
    const t = this.#encryption?.forKey(key);
    if (t === undefined) return plain;
    try {
      return t.toStorage(plain, key);
    } catch (err) {
      throw new HedgeError('Internal', `unable to transform key ${JSON.stringify(key)}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** A stored value's plaintext (never logged or put into messages). */
  #open(key: string, value: string): { plain: string; stale: boolean } {
    const t = this.#encryption?.forKey(key);
    if (t === undefined) {
      // upstream's identity transformer for resources not configured: refuse, do not misparse, encrypted data
      if (isBinaryValue(value)) {
        throw new HedgeError('Internal', `unable to transform key ${JSON.stringify(key)}: identity transformer tried to read encrypted data (stored as ${describePrefix(value)}; is --encryption-provider-config missing or without this resource?)`);
      }
      return { plain: value, stale: false };
    }
    try {
      return t.fromStorage(value, key);
    } catch (err) {
      throw new HedgeError('Internal', `unable to transform key ${JSON.stringify(key)}: ${(err as Error).message}`, { cause: err });
    }
  }

  encode(served: KubeObject): string {
    const c = this.#view?.conversion;
    const obj = c && served.apiVersion !== c.storageApiVersion ? c.toStorage(served) : served;
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

  /**
   * `encode` for a write, with the JSON of the object as it reads back once written (its new
   * resourceVersion last in metadata, as `decode` puts it) for `decodeWritten`: the writer's
   * answer and watch events then need no parse and no second JSON.stringify of what it just wrote.
   */
  encodeWrite(obj: KubeObject): Encoded {
    // a served version other than the written one is set by `decode`: read back, it differs (and
    // a converted one differs in more than that)
    if (this.#view !== undefined && (this.#view.conversion || obj.apiVersion !== this.#view.apiVersion)) return { value: this.encode(obj) };
    const m = mutableMeta(obj);
    const rv = m.resourceVersion;
    delete m.resourceVersion;
    m.resourceVersion = RV_MARK;
    let text: string;
    try {
      text = JSON.stringify(obj);
    } finally {
      delete m.resourceVersion;
      if (rv !== undefined) m.resourceVersion = rv;
    }
    const at = text.indexOf(RV_FIELD);
    // the placeholder elsewhere in the object too (it cannot be guessed; still): encode plainly
    if (at <= 0 || text.indexOf(RV_FIELD, at + 1) !== -1) return { value: this.encode(obj) };
    // the field is metadata's last: after a comma, or metadata's only one
    const end = at + RV_FIELD.length;
    const value = text.charCodeAt(at - 1) === 44 ? text.slice(0, at - 1) + text.slice(end) : text.slice(0, at) + text.slice(end);
    return { value, read: { head: text.slice(0, at + RV_PREFIX.length), tail: text.slice(end - 1) } };
  }

  /** a KMS key rotation makes current values stale: decoded objects cached before it are dropped */
  #generation = 0;
  #rotated(): void {
    const g = this.#encryption?.generation ?? 0;
    if (g === this.#generation) return;
    this.#generation = g;
    this.#cache.clear();
  }

  decode(kv: KeyValue): Decoded {
    this.#rotated();
    const hit = this.#cache.get(kv.key);
    if (hit && hit.rev === kv.modRevision) return hit;
    return this.#remember(kv, this.#parse(kv.key, this.#open(kv.key, kv.value), kv.modRevision));
  }

  /**
   * What this process just wrote as `kv`, from `encodeWrite`'s JSON: cached without decrypting it
   * again; its JSON is `encodeWrite`'s with the revision in, and its object is parsed from that
   * only when something asks for it (the writer's answer and watch lines need the bytes alone).
   */
  decodeWritten(kv: KeyValue, enc: Encoded): Decoded {
    this.#rotated();
    const hit = this.#cache.get(kv.key);
    if (hit && hit.rev === kv.modRevision) return hit;
    const plain = { plain: enc.value, stale: false };
    if (enc.read === undefined) return this.#remember(kv, this.#parse(kv.key, plain, kv.modRevision));
    return this.#remember(kv, this.#written(kv.key, enc.value, enc.read, kv.modRevision));
  }

  #written(key: string, value: string, read: { head: string; tail: string }, rev: number): Decoded {
    return new WrittenValue(key, rev, value, keptBufferOf(read.head + String(rev) + read.tail), this.#view);
  }

  #remember(kv: KeyValue, d: Decoded): Decoded {
    const hit = this.#cache.get(kv.key);
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
    const d = this.#parse(kv.key, this.#open(kv.key, kv.value), kv.modRevision);
    this.#deleted.delete(kv.key);
    this.#deleted.set(kv.key, d);
    if (this.#deleted.size > 1000) {
      const oldest = this.#deleted.keys().next().value;
      if (oldest !== undefined) this.#deleted.delete(oldest);
    }
    return d;
  }

  /** Decode a stored value that must not be cached under its key (e.g. a previous value). */
  decodeUncached(key: string, value: string, rev: number): Decoded {
    return this.#parse(key, this.#open(key, value), rev);
  }

  /** Decode `encode`'s JSON that was not stored (a dry run). */
  decodePlain(key: string, plain: string, rev: number): Decoded {
    return this.#parse(key, { plain, stale: false }, rev);
  }

  /**
   * The object of `kv` for a reader that keeps only a few fields of it (see `Decoded.peek`): the
   * cached value's when it is at this revision, else a decode that is not cached (a decode would
   * keep its parse).
   */
  peek(kv: KeyValue): KubeObject {
    this.#rotated();
    const hit = this.#cache.get(kv.key);
    if (hit && hit.rev === kv.modRevision) return hit.peek();
    return this.decodeUncached(kv.key, kv.value, kv.modRevision).obj;
  }

  forget(key: string): void {
    this.#cache.delete(key);
  }

  /** The newest decoded object this process has seen under `key` (it may be stale: another writer, or deleted since). */
  latest(key: string): Decoded | undefined {
    return this.#cache.get(key);
  }

  #parse(key: string, opened: { plain: string; stale: boolean }, rev: number): Decoded {
    return new ParsedValue(key, rev, opened.plain, opened.stale, this.#view);
  }
}

/**
 * The object a stored value (JSON without resourceVersion) reads as at `rev`: resourceVersion
 * filled in, and the served apiVersion (converted to it, when it has a conversion) when the codec has one.
 */
function storedObject(key: string, value: string, rev: number, view: CodecView | undefined): KubeObject {
  let obj: KubeObject;
  try {
    obj = JSON.parse(value) as KubeObject;
  } catch (err) {
    throw new HedgeError('Internal', `stored object at ${key} is not valid JSON`, { cause: err });
  }
  if (typeof obj !== 'object' || obj === null) throw new HedgeError('Internal', `stored object at ${key} is not an object`);
  obj.metadata ??= {};
  mutableMeta(obj).resourceVersion = String(rev);
  if (view === undefined) return obj;
  if (view.conversion && obj.apiVersion === view.conversion.storageApiVersion) obj = view.conversion.fromStorage(obj);
  if (obj.apiVersion !== view.apiVersion) obj.apiVersion = view.apiVersion;
  return obj;
}

// The two kinds of decoded value are classes, not object literals of closures: the decode cache
// holds one per key, and closures cost five functions and a context per value (at 10,000 nodes,
// over 100,000 objects that every major GC marks).

/** What both kinds share: the stored value, and a private copy parsed from it. */
abstract class StoredValue {
  constructor(
    readonly key: string,
    readonly rev: number,
    readonly raw: string,
    protected readonly view: CodecView | undefined,
  ) {}

  copy(): KubeObject {
    return storedObject(this.key, this.raw, this.rev, this.view);
  }
}

/** A value read from the store: parsed at once; its bytes are made when a list or watch asks. */
class ParsedValue extends StoredValue implements Decoded {
  readonly obj: KubeObject;
  /** only the bytes are kept: the string form is cheap to recover and rarely needed twice */
  #bytes: Buffer | undefined;

  constructor(
    key: string,
    rev: number,
    raw: string,
    readonly stale: boolean,
    view: CodecView | undefined,
  ) {
    super(key, rev, raw, view);
    this.obj = storedObject(key, raw, rev, view);
  }

  json(): string {
    return this.buf().toString('utf8');
  }

  buf(): Buffer {
    return (this.#bytes ??= keptBufferOf(JSON.stringify(this.obj)));
  }

  peek(): KubeObject {
    return this.obj;
  }
}

/**
 * What this process just wrote: its JSON as a read gives it (`encodeWrite`'s, with the revision
 * in) is at hand, so the object is parsed only when something asks for it (the writer's answer
 * and watch lines need the bytes alone).
 */
class WrittenValue extends StoredValue implements Decoded {
  readonly stale = false;
  #obj: KubeObject | undefined;

  constructor(
    key: string,
    rev: number,
    raw: string,
    private readonly bytes: Buffer,
    view: CodecView | undefined,
  ) {
    super(key, rev, raw, view);
  }

  get obj(): KubeObject {
    return (this.#obj ??= this.#parse());
  }

  json(): string {
    return this.bytes.toString('utf8');
  }

  buf(): Buffer {
    return this.bytes;
  }

  peek(): KubeObject {
    return this.#obj ?? this.#parse();
  }

  /** the same object `storedObject` makes of `raw`: the JSON of the bytes is that object's */
  #parse(): KubeObject {
    return JSON.parse(this.bytes.toString('utf8')) as KubeObject;
  }
}
