import type { KubeObject } from '../api/object.ts';

/**
 * Where a resource lives in the REST tree. Built-in kinds resolve through resources.ts;
 * anything else can be addressed with an explicit ref.
 */
export interface ResourceRef {
  /** '' for the core group */
  group: string;
  version: string;
  plural: string;
  namespaced: boolean;
  /** for error messages and the fake; optional for custom refs */
  kind?: string;
}

/** A resource named by apiVersion + kind (resolved through the built-in table) or an explicit ref. */
export type ResourceTarget = ResourceRef | { apiVersion: string; kind: string };

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK';

export interface WatchEvent<T extends KubeObject = KubeObject> {
  type: WatchEventType;
  object: T;
}

export interface ListMetaOut {
  resourceVersion: string;
  continue?: string;
  remainingItemCount?: number;
}

export interface ObjectList<T extends KubeObject = KubeObject> {
  apiVersion?: string;
  kind?: string;
  metadata: ListMetaOut;
  items: T[];
}

interface Cancellable {
  signal?: AbortSignal;
}

export interface GetOptions extends Cancellable {
  namespace?: string;
}

export interface ListOptions extends Cancellable {
  /** undefined = all namespaces for namespaced resources */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
}

export interface WatchOptions extends Cancellable {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  resourceVersion?: string;
  allowWatchBookmarks?: boolean;
  timeoutSeconds?: number;
}

export interface WriteOptions extends Cancellable {
  fieldManager?: string;
  dryRun?: boolean;
}

export type PatchType = 'json' | 'merge' | 'strategic';

export interface PatchOptions extends WriteOptions {
  namespace?: string;
  subresource?: string;
}

export interface Preconditions {
  uid?: string;
  resourceVersion?: string;
}

export interface DeleteOptions extends Cancellable {
  namespace?: string;
  gracePeriodSeconds?: number;
  preconditions?: Preconditions;
  propagationPolicy?: 'Orphan' | 'Background' | 'Foreground';
}

export interface BindOptions extends Cancellable {
  namespace: string;
  /** pod name */
  name: string;
  nodeName: string;
  /** the pod's uid, sent as a precondition-like field of the Binding metadata */
  uid?: string;
}

/**
 * The seam between hedge's controllers/agent and any Kubernetes apiserver.
 * Implementations: HttpKubeClient (real HTTP), FakeKubeClient (in memory, tests).
 * Errors are HedgeError; a watch that cannot resume (410 / ERROR event) throws HedgeError('Gone').
 */
export interface KubeClient {
  get<T extends KubeObject = KubeObject>(res: ResourceTarget, name: string, opts?: GetOptions): Promise<T>;
  list<T extends KubeObject = KubeObject>(res: ResourceTarget, opts?: ListOptions): Promise<ObjectList<T>>;
  watch<T extends KubeObject = KubeObject>(res: ResourceTarget, opts?: WatchOptions): AsyncIterable<WatchEvent<T>>;
  create<T extends KubeObject = KubeObject>(res: ResourceTarget, obj: T, opts?: WriteOptions): Promise<T>;
  update<T extends KubeObject = KubeObject>(res: ResourceTarget, obj: T, opts?: WriteOptions): Promise<T>;
  updateStatus<T extends KubeObject = KubeObject>(res: ResourceTarget, obj: T, opts?: WriteOptions): Promise<T>;
  patch<T extends KubeObject = KubeObject>(
    res: ResourceTarget,
    name: string,
    type: PatchType,
    patch: unknown,
    opts?: PatchOptions,
  ): Promise<T>;
  /** resolves to the object as the server returned it (the deleted object or, with finalizers / grace, the terminating one) */
  delete(res: ResourceTarget, name: string, opts?: DeleteOptions): Promise<KubeObject | undefined>;
  /** POST pods/binding */
  bind(opts: BindOptions): Promise<void>;
  /**
   * binds held for this turn's batch (HttpKubeClient's `bindBatchSize`) leave now: the caller
   * has no more to add (a client that does not batch has none held)
   */
  flushBinds?(): void;
}
