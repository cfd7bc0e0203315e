import { randomUUID } from 'node:crypto';
import { HedgeError, alreadyExists, conflict, invalid, notFound } from '../lib/errors.ts';
import { nameIsDNS1035Label, nameIsDNSLabel, nameIsDNSSubdomain, type NameValidator } from '../api/meta/name.ts';
import { validateObjectMeta } from '../api/meta/object-meta.ts';
import { isPlainObject, type KubeObject } from '../api/object.ts';
import { applyPatch } from './patch.ts';
import { apiVersionOfRef, resolveResource } from './resources.ts';
import {
  matchFields,
  matchLabels,
  parseFieldSelector,
  parseLabelSelector,
  type FieldSelector,
  type Selector,
} from './selectors.ts';
import type {
  BindOptions,
  DeleteOptions,
  GetOptions,
  KubeClient,
  ListOptions,
  ObjectList,
  PatchOptions,
  PatchType,
  ResourceRef,
  ResourceTarget,
  WatchEvent,
  WatchOptions,
  WriteOptions,
} from './types.ts';

export type FakeVerb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'updateStatus' | 'patch' | 'delete' | 'bind';

export interface FakeCall {
  verb: FakeVerb;
  plural: string;
  namespace?: string;
  name?: string;
}

interface HistoryEntry {
  rv: number;
  resource: string;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: KubeObject;
  old?: KubeObject;
}

interface Watcher {
  resource: string;
  ref: ResourceRef;
  namespace?: string;
  labels: Selector;
  fields: FieldSelector;
  bookmarks: boolean;
  push(ev: WatchEvent | Error | 'end'): void;
}

/** Resources whose .status only the status subresource may change (as in the apiserver). */
const withStatusSubresource = new Set(['/pods', '/nodes', '/namespaces', '/services', '/persistentvolumeclaims', '/persistentvolumes']);

const resKey = (r: ResourceRef): string => `${r.group}/${r.plural}`;

/** made by the apiserver's bootstrap (apiserver/bootstrap); creating in any other namespace needs it to exist */
const BOOTSTRAP_NAMESPACES = new Set(['default', 'kube-system', 'kube-public', 'kube-node-lease']);

/** the apiserver's name rules (registry/strategy.ts) */
function nameRule(r: ResourceRef): NameValidator {
  if (r.group === '' && r.plural === 'namespaces') return nameIsDNSLabel;
  if (r.group === '' && r.plural === 'services') return nameIsDNS1035Label;
  return nameIsDNSSubdomain;
}

/**
 * KubeClient in memory, with the apiserver semantics controllers rely on: one resourceVersion
 * counter, optimistic concurrency, watch from a resourceVersion (410 Gone after `compact`),
 * selector-aware watch (an object leaving a selector arrives as DELETED), watches ending at
 * timeoutSeconds, graceful pod deletion, pods/binding, dryRun, object-meta validation. The test
 * double for everything that talks to the API; ./contract.ts checks it against the real server.
 */
export class FakeKubeClient implements KubeClient {
  private rv = 0;
  private compactedRv = 0;
  /** resource → "ns/name" → object */
  private readonly objects = new Map<string, Map<string, KubeObject>>();
  private history: HistoryEntry[] = [];
  private readonly watchers = new Set<Watcher>();
  private readonly failures: { verb: FakeVerb; err: HedgeError }[] = [];
  readonly calls: FakeCall[] = [];
  /** set to false to skip recording calls (benchmarks) */
  recordCalls = true;

  /** the current resourceVersion of the whole store */
  get resourceVersion(): string {
    return String(this.rv);
  }

  /** make the next call of `verb` fail with `err` (queued; one failure per call) */
  failNext(verb: FakeVerb, err: HedgeError): void {
    this.failures.push({ verb, err });
  }

  /** forget history: watches from an older resourceVersion get 410 Gone */
  compact(): void {
    this.compactedRv = this.rv;
    this.history = [];
  }

  /** send a BOOKMARK at the current resourceVersion to every watch that asked for them */
  sendBookmarks(): void {
    for (const w of this.watchers) {
      if (w.bookmarks) {
        w.push({ type: 'BOOKMARK', object: { apiVersion: apiVersionOfRef(w.ref), ...(w.ref.kind ? { kind: w.ref.kind } : {}), metadata: { resourceVersion: String(this.rv) } } });
      }
    }
  }

  /** end every open watch as a server does at timeoutSeconds */
  closeWatches(): void {
    for (const w of [...this.watchers]) w.push('end');
  }

  /** fail every open watch with `err` (e.g. a dropped connection) */
  breakWatches(err: Error): void {
    for (const w of [...this.watchers]) w.push(err);
  }

  get openWatches(): number {
    return this.watchers.size;
  }

  private enter(verb: FakeVerb, r: ResourceRef, namespace?: string, name?: string): void {
    if (this.recordCalls) this.calls.push({ verb, plural: r.plural, namespace, name });
    const i = this.failures.findIndex((f) => f.verb === verb);
    if (i >= 0) {
      const [f] = this.failures.splice(i, 1);
      throw f.err;
    }
  }

  /** the namespaces the apiserver's bootstrap makes, plus any created */
  private namespaceExists(ns: string): boolean {
    return BOOTSTRAP_NAMESPACES.has(ns) || this.bucket(resolveResource({ apiVersion: 'v1', kind: 'Namespace' })).has(`/${ns}`);
  }

  private bucket(r: ResourceRef): Map<string, KubeObject> {
    let b = this.objects.get(resKey(r));
    if (!b) {
      b = new Map();
      this.objects.set(resKey(r), b);
    }
    return b;
  }

  private key(r: ResourceRef, namespace: string | undefined, name: string): string {
    if (r.namespaced && !namespace) throw new HedgeError('BadRequest', `${r.plural} are namespaced: namespace required`);
    return `${r.namespaced ? namespace : ''}/${name}`;
  }

  private record(r: ResourceRef, type: HistoryEntry['type'], object: KubeObject, old?: KubeObject): void {
    const entry: HistoryEntry = { rv: this.rv, resource: resKey(r), type, object, old };
    this.history.push(entry);
    for (const w of this.watchers) deliver(w, entry);
  }

  async get<T extends KubeObject = KubeObject>(res: ResourceTarget, name: string, opts: GetOptions = {}): Promise<T> {
    const r = resolveResource(res);
    this.enter('get', r, opts.namespace, name);
    const obj = this.bucket(r).get(this.key(r, opts.namespace, name));
    if (!obj) throw notFound(r.plural, name, r.group);
    return structuredClone(obj) as T;
  }

  async list<T extends KubeObject = KubeObject>(res: ResourceTarget, opts: ListOptions = {}): Promise<ObjectList<T>> {
    const r = resolveResource(res);
    this.enter('list', r, opts.namespace);
    const labels = parseLabelSelector(opts.labelSelector);
    const fields = parseFieldSelector(opts.fieldSelector);
    const keys = [...this.bucket(r).keys()].sort();
    let start = 0;
    if (opts.continue) {
      const after = Buffer.from(opts.continue, 'base64url').toString('utf8');
      start = keys.findIndex((k) => k > after);
      if (start < 0) start = keys.length;
    }
    const items: T[] = [];
    let last = '';
    let i = start;
    for (; i < keys.length; i++) {
      if (opts.limit && items.length >= opts.limit) break;
      const obj = this.bucket(r).get(keys[i]) as KubeObject;
      if (!selects(obj, opts.namespace, labels, fields)) continue;
      items.push(structuredClone(obj) as T);
      last = keys[i];
    }
    const more = i < keys.length && keys.slice(i).some((k) => selects(this.bucket(r).get(k) as KubeObject, opts.namespace, labels, fields));
    return {
      apiVersion: apiVersionOfRef(r),
      kind: `${r.kind ?? 'Object'}List`,
      metadata: {
        resourceVersion: String(this.rv),
        ...(more ? { continue: Buffer.from(last, 'utf8').toString('base64url') } : {}),
      },
      items,
    };
  }

  watch<T extends KubeObject = KubeObject>(res: ResourceTarget, opts: WatchOptions = {}): AsyncIterable<WatchEvent<T>> {
    const r = resolveResource(res);
    return {
      [Symbol.asyncIterator]: () => this.openWatch<T>(r, opts),
    };
  }

  private openWatch<T extends KubeObject>(r: ResourceRef, opts: WatchOptions): AsyncIterator<WatchEvent<T>> {
    this.enter('watch', r, opts.namespace);
    const queue: (WatchEvent | Error | 'end')[] = [];
    let wake: (() => void) | undefined;
    let done = false;
    const w: Watcher = {
      resource: resKey(r),
      ref: r,
      namespace: opts.namespace,
      labels: parseLabelSelector(opts.labelSelector),
      fields: parseFieldSelector(opts.fieldSelector),
      bookmarks: opts.allowWatchBookmarks === true,
      push: (ev) => {
        queue.push(ev);
        wake?.();
      },
    };
    const from = opts.resourceVersion;
    if (from === undefined || from === '' || from === '0') {
      for (const obj of this.bucket(r).values()) {
        if (selects(obj, opts.namespace, w.labels, w.fields)) queue.push({ type: 'ADDED', object: structuredClone(obj) });
      }
    } else {
      const n = Number(from);
      if (!Number.isInteger(n) || n < this.compactedRv) {
        queue.push(new HedgeError('Gone', `too old resource version: ${from} (${this.compactedRv})`));
      } else {
        for (const e of this.history) if (e.rv > n) deliver(w, e);
      }
    }
    this.watchers.add(w);
    // the server ends a watch at timeoutSeconds, cleanly
    const timer = opts.timeoutSeconds !== undefined ? setTimeout(() => w.push('end'), opts.timeoutSeconds * 1000) : undefined;
    timer?.unref();
    const finish = (): void => {
      done = true;
      this.watchers.delete(w);
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
    };
    const onAbort = (): void => {
      finish();
      wake?.();
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (opts.signal?.aborted) finish();
    return {
      next: async (): Promise<IteratorResult<WatchEvent<T>>> => {
        for (;;) {
          if (done) return { done: true, value: undefined };
          const ev = queue.shift();
          if (ev === 'end') {
            finish();
            return { done: true, value: undefined };
          }
          if (ev instanceof Error) {
            finish();
            throw ev;
          }
          if (ev) return { done: false, value: ev as WatchEvent<T> };
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
        }
      },
      return: async (): Promise<IteratorResult<WatchEvent<T>>> => {
        finish();
        return { done: true, value: undefined };
      },
    };
  }

  async create<T extends KubeObject = KubeObject>(res: ResourceTarget, obj: T, opts: WriteOptions = {}): Promise<T> {
    const r = resolveResource(res);
    const o = structuredClone(obj) as KubeObject;
    o.metadata ??= {};
    if (!o.metadata.name && o.metadata.generateName) {
      o.metadata.name = o.metadata.generateName + randomUUID().slice(0, 5);
    }
    const name = o.metadata.name;
    this.enter('create', r, o.metadata.namespace, name);
    if (!name) throw new HedgeError('Invalid', `${r.plural}: metadata.name: Required value: name or generateName is required`);
    if (!r.namespaced) delete o.metadata.namespace;
    const causes = validateObjectMeta(o.metadata, { namespaced: r.namespaced, nameFn: nameRule(r) });
    if (causes.length) throw invalid(r.plural, name, causes, r.group);
    if (r.namespaced && o.metadata.namespace && !this.namespaceExists(o.metadata.namespace)) {
      throw notFound('namespaces', o.metadata.namespace);
    }
    const key = this.key(r, o.metadata.namespace, name);
    const b = this.bucket(r);
    if (b.has(key)) throw alreadyExists(r.plural, name, r.group);
    o.apiVersion = apiVersionOfRef(r);
    if (r.kind) o.kind = r.kind;
    o.metadata.uid = randomUUID();
    o.metadata.creationTimestamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    o.metadata.generation = 1;
    delete o.metadata.deletionTimestamp;
    if (opts.dryRun) return o as T;
    o.metadata.resourceVersion = String(++this.rv);
    b.set(key, o);
    this.record(r, 'ADDED', structuredClone(o));
    return structuredClone(o) as T;
  }

  async update<T extends KubeObject = KubeObject>(res: ResourceTarget, obj: T, opts: WriteOptions = {}): Promise<T> {
    const r = resolveResource(res);
    this.enter('update', r, obj.metadata.namespace, obj.metadata.name);
    return this.replace(r, obj, 'main', opts.dryRun === true) as Promise<T>;
  }

  async updateStatus<T extends KubeObject = KubeObject>(
    res: ResourceTarget,
    obj: T,
    opts: WriteOptions = {},
  ): Promise<T> {
    const r = resolveResource(res);
    this.enter('updateStatus', r, obj.metadata.namespace, obj.metadata.name);
    return this.replace(r, obj, 'status', opts.dryRun === true) as Promise<T>;
  }

  /** store `next` over the current object, honouring the status subresource split and rv preconditions */
  private async replace(r: ResourceRef, next: KubeObject, part: 'main' | 'status', dryRun = false): Promise<KubeObject> {
    const name = next.metadata.name ?? '';
    const key = this.key(r, next.metadata.namespace, name);
    const b = this.bucket(r);
    const cur = b.get(key);
    if (!cur) throw notFound(r.plural, name, r.group);
    const wantRv = next.metadata.resourceVersion;
    if (wantRv && wantRv !== cur.metadata.resourceVersion) {
      throw conflict(r.plural, name, 'the object has been modified; please apply your changes to the latest version and try again', r.group);
    }
    let o = structuredClone(next) as KubeObject;
    if (withStatusSubresource.has(resKey(r))) {
      if (part === 'main') o.status = structuredClone(cur.status);
      else o = { ...structuredClone(cur), status: structuredClone(next.status) };
    }
    // Immutable identity fields come from the stored object, whatever the client sent.
    o.apiVersion = cur.apiVersion;
    o.kind = cur.kind;
    o.metadata = {
      ...o.metadata,
      name: cur.metadata.name,
      namespace: cur.metadata.namespace,
      uid: cur.metadata.uid,
      creationTimestamp: cur.metadata.creationTimestamp,
      deletionTimestamp: cur.metadata.deletionTimestamp,
      deletionGracePeriodSeconds: cur.metadata.deletionGracePeriodSeconds,
    };
    if (o.metadata.deletionTimestamp === undefined) delete o.metadata.deletionTimestamp;
    if (o.metadata.deletionGracePeriodSeconds === undefined) delete o.metadata.deletionGracePeriodSeconds;
    if (JSON.stringify(o.spec) !== JSON.stringify(cur.spec)) o.metadata.generation = (cur.metadata.generation ?? 1) + 1;
    else o.metadata.generation = cur.metadata.generation;
    if (JSON.stringify({ ...o, metadata: { ...o.metadata, resourceVersion: '' } }) ===
      JSON.stringify({ ...cur, metadata: { ...cur.metadata, resourceVersion: '' } })) {
      // A no-op write does not bump the resourceVersion, like the apiserver.
      return structuredClone(cur);
    }
    if (dryRun) return o;
    // Finalizers gone from an object being deleted: the delete completes now.
    if (o.metadata.deletionTimestamp && !(o.metadata.finalizers?.length) && !isGracefulPod(r, o)) {
      b.delete(key);
      o.metadata.resourceVersion = String(++this.rv);
      this.record(r, 'DELETED', structuredClone(o), cur);
      return structuredClone(o);
    }
    o.metadata.resourceVersion = String(++this.rv);
    b.set(key, o);
    this.record(r, 'MODIFIED', structuredClone(o), cur);
    return structuredClone(o);
  }

  async patch<T extends KubeObject = KubeObject>(
    res: ResourceTarget,
    name: string,
    type: PatchType,
    patch: unknown,
    opts: PatchOptions = {},
  ): Promise<T> {
    const r = resolveResource(res);
    this.enter('patch', r, opts.namespace, name);
    const cur = this.bucket(r).get(this.key(r, opts.namespace, name));
    if (!cur) throw notFound(r.plural, name, r.group);
    const patched = applyPatch(cur, type, patch);
    if (!isPlainObject(patched) || !isPlainObject(patched.metadata)) {
      throw new HedgeError('Invalid', `${r.plural} "${name}": patch removed metadata`);
    }
    const next = patched as KubeObject;
    // A resourceVersion inside the patch is a precondition; otherwise the patch applies to the latest.
    const patchRv = type !== 'json' && isPlainObject(patch) && isPlainObject(patch.metadata) ? patch.metadata.resourceVersion : undefined;
    next.metadata.resourceVersion = typeof patchRv === 'string' ? patchRv : cur.metadata.resourceVersion;
    if (opts.subresource && opts.subresource !== 'status') {
      throw new HedgeError('NotFound', `${r.plural}/${opts.subresource}: subresource not supported by the fake`);
    }
    return this.replace(r, next, opts.subresource === 'status' ? 'status' : 'main', opts.dryRun === true) as Promise<T>;
  }

  async delete(res: ResourceTarget, name: string, opts: DeleteOptions = {}): Promise<KubeObject | undefined> {
    const r = resolveResource(res);
    this.enter('delete', r, opts.namespace, name);
    const key = this.key(r, opts.namespace, name);
    const b = this.bucket(r);
    const cur = b.get(key);
    if (!cur) throw notFound(r.plural, name, r.group);
    const pre = opts.preconditions;
    if (pre?.uid && pre.uid !== cur.metadata.uid) {
      throw conflict(r.plural, name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${cur.metadata.uid}`, r.group);
    }
    if (pre?.resourceVersion && pre.resourceVersion !== cur.metadata.resourceVersion) {
      throw conflict(r.plural, name, `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${cur.metadata.resourceVersion}`, r.group);
    }
    const spec = isPlainObject(cur.spec) ? cur.spec : {};
    const grace =
      opts.gracePeriodSeconds ??
      cur.metadata.deletionGracePeriodSeconds ??
      (typeof spec.terminationGracePeriodSeconds === 'number' ? spec.terminationGracePeriodSeconds : 30);
    // Like the apiserver: a pod on a node terminates gracefully (the kubelet finishes the delete);
    // finalizers hold any object until they are removed.
    const graceful = isScheduledPod(r, cur) && grace > 0;
    if (graceful || cur.metadata.finalizers?.length) {
      const o = structuredClone(cur);
      o.metadata.deletionTimestamp ??= new Date(Date.now() + (graceful ? grace * 1000 : 0)).toISOString().replace(/\.\d+Z$/, 'Z');
      if (graceful) o.metadata.deletionGracePeriodSeconds = Math.min(grace, cur.metadata.deletionGracePeriodSeconds ?? grace);
      if (JSON.stringify(o) === JSON.stringify(cur)) return structuredClone(cur);
      o.metadata.resourceVersion = String(++this.rv);
      b.set(key, o);
      this.record(r, 'MODIFIED', structuredClone(o), cur);
      return structuredClone(o);
    }
    b.delete(key);
    const o = structuredClone(cur);
    o.metadata.resourceVersion = String(++this.rv);
    this.record(r, 'DELETED', structuredClone(o), cur);
    return o;
  }

  async bind(opts: BindOptions): Promise<void> {
    const r = resolveResource({ apiVersion: 'v1', kind: 'Pod' });
    this.enter('bind', r, opts.namespace, opts.name);
    const b = this.bucket(r);
    const key = this.key(r, opts.namespace, opts.name);
    const cur = b.get(key);
    if (!cur) throw notFound('pods', opts.name);
    if (opts.uid && opts.uid !== cur.metadata.uid) {
      throw conflict('pods', opts.name, `Precondition failed: UID in precondition: ${opts.uid}, UID in object meta: ${cur.metadata.uid}`);
    }
    if (cur.metadata.deletionTimestamp) {
      throw conflict('pods', opts.name, `pod ${opts.name} is being deleted, cannot be assigned to a host`);
    }
    const spec = (isPlainObject(cur.spec) ? cur.spec : {}) as Record<string, unknown>;
    if (typeof spec.nodeName === 'string' && spec.nodeName !== '') {
      throw conflict('pods', opts.name, `pod ${opts.name} is already assigned to node "${spec.nodeName}"`);
    }
    const o = structuredClone(cur);
    (o.spec as Record<string, unknown>) = { ...spec, nodeName: opts.nodeName };
    const status = (isPlainObject(o.status) ? o.status : {}) as { conditions?: Record<string, unknown>[] };
    const conditions = (status.conditions ?? []).filter((c) => c.type !== 'PodScheduled');
    conditions.push({ type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z') });
    o.status = { ...status, conditions };
    o.metadata.resourceVersion = String(++this.rv);
    b.set(key, o);
    this.record(r, 'MODIFIED', structuredClone(o), cur);
  }
}

function isScheduledPod(r: ResourceRef, obj: KubeObject): boolean {
  return resKey(r) === '/pods' && isPlainObject(obj.spec) && typeof obj.spec.nodeName === 'string' && obj.spec.nodeName !== '';
}

function isGracefulPod(r: ResourceRef, obj: KubeObject): boolean {
  return isScheduledPod(r, obj) && (obj.metadata.deletionGracePeriodSeconds ?? 0) > 0;
}

function selects(obj: KubeObject, namespace: string | undefined, labels: Selector, fields: FieldSelector): boolean {
  if (namespace && obj.metadata.namespace !== namespace) return false;
  return matchLabels(labels, obj.metadata.labels) && matchFields(fields, obj);
}

/** Selector-aware delivery: entering a selector is ADDED, leaving it is DELETED (as the apiserver does). */
function deliver(w: Watcher, e: HistoryEntry): void {
  if (e.resource !== w.resource) return;
  const now = selects(e.object, w.namespace, w.labels, w.fields);
  const before = e.old ? selects(e.old, w.namespace, w.labels, w.fields) : false;
  if (e.type === 'MODIFIED') {
    if (now && before) w.push({ type: 'MODIFIED', object: structuredClone(e.object) });
    else if (now) w.push({ type: 'ADDED', object: structuredClone(e.object) });
    else if (before) w.push({ type: 'DELETED', object: structuredClone(e.object) });
    return;
  }
  if (now) w.push({ type: e.type, object: structuredClone(e.object) });
}
