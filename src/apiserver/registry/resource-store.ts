import type { KubeObject } from '../../api/object.ts';
import type { ResourceDef } from '../../api/resources/types.ts';
import { HedgeError, alreadyExists, conflict, isHedgeError, notFound } from '../../lib/errors.ts';
import type { KeyValue, ListResult, Store } from '../../store/types.ts';
import { jsonEqual } from '../../api/patch/index.ts';
import type { Json } from '../../api/object.ts';
import { objectKey, resourcePrefix } from './keys.ts';
import type { Decoded, ObjectCodec } from './object-codec.ts';

export const modifiedMessage = 'the object has been modified; please apply your changes to the latest version and try again';

/** Decide what an update does with the current object: write `obj`, delete it, or nothing. */
export type UpdateResult = { kind: 'write'; obj: KubeObject } | { kind: 'delete'; obj: KubeObject };

export interface UpdateOutcome {
  obj: Decoded;
  /** the object was removed from the store (finalizers drained on a deleting object) */
  deleted: boolean;
}

/**
 * Generic storage for one resource type (upstream's genericregistry.Store, minus the strategy):
 * keys, decode with cache, and the guaranteed-update loop.
 */
export class ResourceStore {
  constructor(
    readonly def: ResourceDef,
    readonly store: Store,
    readonly codec: ObjectCodec,
  ) {}

  key(namespace: string, name: string): string {
    return objectKey(this.def, namespace, name);
  }

  prefix(namespace?: string): string {
    return resourcePrefix(this.def, namespace);
  }

  notFound(name: string): HedgeError {
    return notFound(this.def.plural, name, this.def.group);
  }

  conflict(name: string, reason = modifiedMessage): HedgeError {
    return conflict(this.def.plural, name, reason, this.def.group);
  }

  async tryGet(namespace: string, name: string, revision?: number): Promise<Decoded | undefined> {
    const kv = await this.store.get(this.key(namespace, name), revision === undefined ? undefined : { revision });
    return kv ? this.codec.decode(kv) : undefined;
  }

  async get(namespace: string, name: string, revision?: number): Promise<Decoded> {
    const d = await this.tryGet(namespace, name, revision);
    if (!d) throw this.notFound(name);
    return d;
  }

  async list(namespace: string | undefined, opts: { limit?: number; startAfter?: string; revision?: number }): Promise<ListResult> {
    return this.store.list(this.prefix(namespace), opts);
  }

  async create(obj: KubeObject, dryRun: boolean): Promise<Decoded> {
    const ns = obj.metadata.namespace ?? '';
    const name = obj.metadata.name ?? '';
    const key = this.key(ns, name);
    const enc = this.codec.encodeWrite(obj);
    const value = enc.value;
    if (dryRun) {
      if (await this.store.get(key)) throw alreadyExists(this.def.plural, name, this.def.group);
      return this.codec.decodePlain(key, value, 0);
    }
    let kv: KeyValue;
    try {
      kv = await this.store.create(key, this.codec.seal(key, value));
    } catch (err) {
      if (isHedgeError(err, 'AlreadyExists')) throw alreadyExists(this.def.plural, name, this.def.group);
      throw err;
    }
    return this.codec.decodeWritten(kv, enc);
  }

  /**
   * Read-modify-write with compare-and-swap, retried on store conflicts. `tryUpdate` sees the
   * current object (a private copy) and throws to abort; if the returned object carries a
   * resourceVersion that differs from the current one, that is the caller's precondition and the
   * result is a 409 rather than a retry.
   * As upstream's etcd3 store with its watch cache's object: the first attempt starts from the newest
   * object this process decoded under the key instead of reading the store (a lease renewal's read
   * was a fifth of its storage time). The write's compare-and-swap catches a stale start (a Conflict:
   * read and try again); whatever else would be answered without a write (a no-op, a dry run, a
   * refusal, a precondition that names another version) is decided again on a fresh read.
   */
  async guaranteedUpdate(
    namespace: string,
    name: string,
    tryUpdate: (current: KubeObject, currentDecoded: Decoded) => Promise<UpdateResult> | UpdateResult,
    opts: { dryRun: boolean; current?: Decoded },
  ): Promise<UpdateOutcome> {
    const key = this.key(namespace, name);
    let cur = opts.current;
    /** `cur` came from the decode cache, not from a read: not yet known to be the store's current value */
    let unconfirmed = false;
    if (!cur) {
      cur = this.codec.latest(key);
      unconfirmed = cur !== undefined;
    }
    for (let attempt = 0; ; attempt++) {
      if (!cur) {
        const kv = await this.store.get(key);
        if (!kv) throw this.notFound(name);
        cur = this.codec.decode(kv);
        unconfirmed = false;
      }
      let result: UpdateResult;
      try {
        result = await tryUpdate(cur.copy(), cur);
      } catch (err) {
        // refused against what may be an old version (validation, admission): decide on the current one
        if (!unconfirmed) throw err;
        cur = undefined;
        continue;
      }
      const wantRv = result.obj.metadata.resourceVersion;
      const preconditionFails = wantRv !== undefined && wantRv !== '' && wantRv !== String(cur.rev);
      const enc = result.kind === 'write' ? this.codec.encodeWrite(result.obj) : undefined;
      const value = enc?.value;
      // A write that changes nothing is not a write: same object, same resourceVersion (as upstream);
      // unless the stored value is stale (an older encryption key, or not encrypted yet): rewriting it
      // with the current provider is what `kubectl replace` of unchanged objects is for.
      const noop = value !== undefined && !cur.stale && (value === cur.raw || sameObject(value, cur.raw));
      // Whatever is answered without a write (a 409, a no-op, a dry run) is decided on what the
      // store holds: an unconfirmed start is read first (the precondition may name a newer version).
      if (unconfirmed && (preconditionFails || noop || opts.dryRun)) {
        cur = undefined;
        continue;
      }
      if (preconditionFails) throw this.conflict(name);
      try {
        if (result.kind === 'delete') {
          if (opts.dryRun) return { obj: this.codec.decodePlain(key, this.codec.encode(result.obj), cur.rev), deleted: true };
          const kv = await this.store.delete(key, { expectedRevision: cur.rev });
          this.codec.forget(key);
          return { obj: this.codec.decodeUncached(key, kv.value, kv.modRevision), deleted: true };
        }
        if (noop) return { obj: cur, deleted: false };
        if (opts.dryRun) return { obj: this.codec.decodePlain(key, value!, cur.rev), deleted: false };
        const kv = await this.store.update(key, this.codec.seal(key, value!), { expectedRevision: cur.rev });
        return { obj: this.codec.decodeWritten(kv, enc!), deleted: false };
      } catch (err) {
        if (isHedgeError(err, 'NotFound')) throw this.notFound(name);
        if (isHedgeError(err, 'Conflict') && attempt < 20) {
          cur = undefined;
          continue;
        }
        if (isHedgeError(err, 'Conflict')) throw this.conflict(name);
        throw err;
      }
    }
  }

  /** Remove the object, guarded by the revision the caller decided on. */
  async remove(cur: Decoded, dryRun: boolean): Promise<Decoded> {
    const name = cur.obj.metadata.name ?? '';
    if (dryRun) return cur;
    try {
      const kv = await this.store.delete(cur.key, { expectedRevision: cur.rev });
      this.codec.forget(cur.key);
      return this.codec.decodeUncached(cur.key, kv.value, cur.rev);
    } catch (err) {
      if (isHedgeError(err, 'NotFound')) throw this.notFound(name);
      if (isHedgeError(err, 'Conflict')) throw new HedgeError('Conflict', 'retry', { cause: err });
      throw err;
    }
  }
}


/** Same JSON regardless of key order (writers may rebuild metadata in another order). */
function sameObject(a: string, b: string): boolean {
  if (a.length !== b.length || !sameCharacters(a, b)) return false;
  return jsonEqual(JSON.parse(a) as Json, JSON.parse(b) as Json);
}

const charCounts = new Int32Array(128);

/**
 * Whether `a` and `b` (of one length) hold the same characters in any order: JSON that differs
 * only in member order does. A renewal's new renewTime fails this without the two parses (the
 * old and new Lease have the same length). Characters past ASCII share the last slot. The common
 * prefix and suffix hold the same characters on both sides, so only the range between them is
 * counted (a renewal's: the few digits of its renewTime).
 */
function sameCharacters(a: string, b: string): boolean {
  let start = 0;
  let end = a.length;
  while (start < end && a.charCodeAt(start) === b.charCodeAt(start)) start++;
  while (end > start && a.charCodeAt(end - 1) === b.charCodeAt(end - 1)) end--;
  if (start === end) return true;
  charCounts.fill(0);
  for (let i = start; i < end; i++) charCounts[Math.min(a.charCodeAt(i), 127)]++;
  for (let i = start; i < end; i++) if (--charCounts[Math.min(b.charCodeAt(i), 127)] < 0) return false;
  return true;
}
