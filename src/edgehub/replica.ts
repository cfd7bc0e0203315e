import type { KubeObject } from '../api/object.ts';
import { objectKey, resourcePrefix } from '../apiserver/index.ts';
import { apiVersionOfRef } from '../client/resources.ts';
import type { ResourceRef } from '../client/types.ts';
import { isHedgeError } from '../lib/errors.ts';
import type { Logger } from '../lib/log.ts';
import type { KeyValue, Store } from '../store/types.ts';
import type { CloudVersion, HubDb } from './hub-db.ts';

/** Numeric comparison of resourceVersions when both are numbers (hedge and kube-apiserver); otherwise unordered. */
export function olderCloudRv(a: string, b: string): boolean {
  const x = Number(a);
  const y = Number(b);
  return Number.isSafeInteger(x) && Number.isSafeInteger(y) && x < y;
}

/**
 * The node's replica of the cloud's objects, in the apiserver's own storage format (key layout,
 * JSON without resourceVersion; the store revision is the resourceVersion local clients see), so
 * the apiserver's read handlers serve it unchanged. The cloud resourceVersion behind each stored
 * revision is kept in `HubDb`, which is what translates a local client's resourceVersion back
 * to the cloud's on writes.
 *
 * Writes to one key are serialized (a reflector event and a node write may race); a write that
 * changes nothing is not written, so local watchers see each real change exactly once.
 *
 * Durability: nothing here waits for a disk sync. The store acknowledges and publishes at commit
 * (`acknowledgeAtCommit`) and the cloud resourceVersion is committed unsynced, each file's WAL
 * fdatasync'ed behind it. Everything the replica holds is held elsewhere too: the cloud's objects
 * by the cloud (a hub that restarts lists again and `reconcile`s, repairing a lost or stale
 * revision or cloud resourceVersion in either file without an event when the value is already
 * there), the node's offline writes by hub.db's journal (appended with a sync before the replica
 * changes). A watch event or answer lost to a power cut was seen only by local clients, which
 * the power cut ended too.
 */
export class Replica {
  private readonly chains = new Map<string, Promise<unknown>>();
  /** resolves when the last cloud write asked for has reached the store (see `inOrder`) */
  private issued: Promise<void> = Promise.resolve();

  constructor(private readonly o: { store: Store; db: HubDb; logger: Logger }) {}

  key(res: ResourceRef, namespace: string, name: string): string {
    return objectKey(res, namespace, name);
  }

  prefix(res: ResourceRef, namespace?: string): string {
    return resourcePrefix(res, namespace);
  }

  /** the stored object with the hub's resourceVersion, or undefined */
  async get(res: ResourceRef, namespace: string, name: string): Promise<KubeObject | undefined> {
    const kv = await this.o.store.get(this.key(res, namespace, name));
    return kv ? decode(kv) : undefined;
  }

  /** every stored object of `res` (in `namespace` when given) */
  async list(res: ResourceRef, namespace?: string): Promise<KubeObject[]> {
    return (await this.o.store.list(this.prefix(res, namespace))).items.map(decode);
  }

  /** the cloud resourceVersion behind hub revision `hubRev` of `key`, if that is still the stored one */
  cloudRvFor(key: string, hubRev: number): string | undefined {
    const v = this.o.db.cloudVersion(key);
    return v && v.hubRev === hubRev ? v.cloudRv : undefined;
  }

  /** the cloud resourceVersion the stored value is based on */
  baseCloudRv(key: string): string {
    return this.o.db.cloudVersion(key)?.cloudRv ?? '';
  }

  /** Store what the cloud returned (a get, list item, watch event or write response); returns it with the hub's resourceVersion. */
  putFromCloud(res: ResourceRef, obj: KubeObject): Promise<KubeObject> {
    const key = this.key(res, obj.metadata.namespace ?? '', obj.metadata.name ?? '');
    return this.inOrder(key, async (enqueued) => {
      const cloudRv = obj.metadata.resourceVersion ?? '';
      const cur = await this.o.store.get(key);
      const known = this.o.db.cloudVersion(key);
      if (cur && known && known.hubRev === cur.modRevision) {
        // an older answer (a write response overtaken by a watch event) must not roll the replica back
        if (olderCloudRv(cloudRv, known.cloudRv)) return decode(cur);
        if (cloudRv === known.cloudRv && !known.dirty) return decode(cur);
      }
      const value = encode(res, obj);
      if (cur && cur.value === value) {
        this.recordCloudVersion(key, { hubRev: cur.modRevision, cloudRv, dirty: false });
        return decode(cur);
      }
      const writing = cur ? this.o.store.update(key, value, { expectedRevision: cur.modRevision }) : this.o.store.create(key, value);
      enqueued();
      const kv = await writing;
      this.recordCloudVersion(key, { hubRev: kv.modRevision, cloudRv, dirty: false });
      return decode(kv);
    });
  }

  /** the cloud deleted it (watch DELETED, 404 on get, gone from a relist) */
  removeFromCloud(res: ResourceRef, namespace: string, name: string): Promise<void> {
    const key = this.key(res, namespace, name);
    return this.inOrder(key, async (enqueued) => {
      try {
        const deleting = this.o.store.delete(key);
        enqueued();
        await deleting;
      } catch (err) {
        if (!isHedgeError(err, 'NotFound')) throw err;
      }
      this.o.db.forgetCloudVersion(key).catch((err: unknown) => this.o.logger.debug({ err, key }, 'cloud version not synced'));
    });
  }

  /**
   * Committed at once (a local client's write with the new revision must find it), on disk after
   * the WAL sync behind it, which nothing waits for: see the class comment.
   */
  private recordCloudVersion(key: string, v: CloudVersion): void {
    this.o.db.recordCloudVersion(key, v).catch((err: unknown) => this.o.logger.debug({ err, key }, 'cloud version not synced'));
  }

  /**
   * Make the replica's objects in scope equal `items` (a fresh list from the cloud): changed ones
   * are written, missing ones deleted, unchanged ones untouched, so local watchers get exactly the
   * synthetic events that bridge the gap.
   */
  async reconcile(res: ResourceRef, scope: { namespace?: string; matches: (obj: KubeObject) => boolean }, items: KubeObject[]): Promise<void> {
    const seen = new Set<string>();
    const writes: Promise<unknown>[] = [];
    for (const item of items) {
      seen.add(this.key(res, item.metadata.namespace ?? '', item.metadata.name ?? ''));
      writes.push(this.putFromCloud(res, item));
    }
    await Promise.all(writes);
    const stored = await this.o.store.list(this.prefix(res, scope.namespace));
    const removals: Promise<void>[] = [];
    for (const kv of stored.items) {
      if (seen.has(kv.key)) continue;
      const obj = decode(kv);
      if (!scope.matches(obj)) continue;
      removals.push(this.removeFromCloud(res, obj.metadata.namespace ?? '', obj.metadata.name ?? ''));
    }
    await Promise.all(removals);
  }

  /**
   * A node write applied locally while the cloud is unreachable. `change` gets the stored object
   * (hub resourceVersion) and returns the new one, or throws (e.g. Conflict). The cloud
   * resourceVersion stays the one the write was based on, marked dirty until replay.
   */
  writeLocal(res: ResourceRef, namespace: string, name: string, change: (cur: KubeObject | undefined) => KubeObject): Promise<KubeObject> {
    const key = this.key(res, namespace, name);
    return this.serialize(key, async () => {
      const cur = await this.o.store.get(key);
      const next = change(cur ? decode(cur) : undefined);
      const value = encode(res, next);
      if (cur && cur.value === value) return decode(cur);
      const kv = cur ? await this.o.store.update(key, value, { expectedRevision: cur.modRevision }) : await this.o.store.create(key, value);
      const base = this.o.db.cloudVersion(key)?.cloudRv ?? '';
      this.o.db.setCloudVersion(key, { hubRev: kv.modRevision, cloudRv: base, dirty: true });
      return decode(kv);
    });
  }

  /** resolves when every write queued so far has settled */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.chains.values()]);
  }

  /**
   * Writes from the cloud reach the store in the order they were asked for, across keys (watch
   * events in the cloud's order become local events in the same order), without waiting for each
   * other's commit: each waits only until the previous one is queued in the store (the stores
   * order their revisions by call), so a burst is still group-committed. `fn` calls `enqueued()`
   * right after it hands its write to the store; a write that writes nothing releases the next
   * when it returns.
   */
  private inOrder<T>(key: string, fn: (enqueued: () => void) => Promise<T>): Promise<T> {
    const previous = this.issued;
    let release!: () => void;
    this.issued = new Promise<void>((r) => (release = r));
    return this.serialize(key, async () => {
      try {
        await previous;
        return await fn(release);
      } finally {
        release();
      }
    });
  }

  private serialize<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.chains.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch((err: unknown) => this.o.logger.debug({ err, key }, 'replica write failed'));
    this.chains.set(key, tail);
    void tail.then(() => {
      if (this.chains.get(key) === tail) this.chains.delete(key);
    });
    return next;
  }
}

/** The apiserver's storage format: the object without metadata.resourceVersion, apiVersion and kind set. */
export function encode(res: ResourceRef, obj: KubeObject): string {
  const { resourceVersion: _rv, ...metadata } = obj.metadata;
  return JSON.stringify({ ...obj, apiVersion: obj.apiVersion ?? apiVersionOfRef(res), kind: obj.kind ?? res.kind, metadata });
}

export function decode(kv: KeyValue): KubeObject {
  const obj = JSON.parse(kv.value) as KubeObject;
  obj.metadata.resourceVersion = String(kv.modRevision);
  return obj;
}
