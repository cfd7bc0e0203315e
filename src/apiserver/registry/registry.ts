import type { KubeObject } from '../../api/object.ts';
import type { ResourceDef } from '../../api/resources/types.ts';
import { ResourceRegistry } from '../../api/resources/index.ts';
import { apiVersionOf } from '../../api/resources/types.ts';
import { HedgeError, badRequest, isHedgeError } from '../../lib/errors.ts';
import { jsonClone } from '../../lib/json-clone.ts';
import type { Store } from '../../store/types.ts';
import type { AdmissionChain, AdmissionOperation } from '../admission/index.ts';
import type { AdmissionRequest, GroupVersionKind } from '../admission/types.ts';
import type { UserInfo } from '../auth/types.ts';
import { gracePeriodFor, isCore, prepareCreateSpecial } from './behaviour.ts';
import { mutableMeta } from './mutable-meta.ts';
import { ObjectCodec, type Decoded } from './object-codec.ts';
import type { EncryptionAtRest } from '../encryption/transformer.ts';
import { ResourceStore, type UpdateResult } from './resource-store.ts';
import { generateName } from '../../api/meta/name.ts';
import { invalidObject, prepareForCreate, prepareForUpdate, timestamp, validateMeta } from './strategy.ts';

export interface OperationContext {
  user: UserInfo;
  dryRun: boolean;
  signal: AbortSignal;
  /** writer recorded in managedFields; undefined = do not track (e.g. server-side apply did it) */
  fieldManager?: string;
  /** admission warnings land here (sent as `Warning` headers) */
  warnings?: string[];
  /** admission's audit annotations land here (the request's audit event); absent when not audited */
  auditAnnotations?: Record<string, string>;
}

export interface DeleteOptions {
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
  propagationPolicy?: 'Orphan' | 'Background' | 'Foreground';
}

export const ORPHAN_FINALIZER = 'orphan';
export const FOREGROUND_FINALIZER = 'foregroundDeletion';

function gcFinalizerFor(policy: DeleteOptions['propagationPolicy']): string | undefined {
  if (policy === 'Orphan') return ORPHAN_FINALIZER;
  if (policy === 'Foreground') return FOREGROUND_FINALIZER;
  return undefined;
}

export interface DeleteOutcome {
  obj: Decoded;
  /** false when deletion is pending (grace period or finalizers) */
  deleted: boolean;
}

/**
 * Hooks the registry calls around writes. Managed fields and schema checks plug in here so the
 * registry itself stays generic.
 */
export interface WriteHooks {
  /** managedFields for a non-apply write by `manager` (after admission mutation, before validation) */
  trackManagedFields?(req: { def: ResourceDef; old?: KubeObject; obj: KubeObject; manager: string; subresource: string; now: Date }): KubeObject;
  /** after a namespace object was created (e.g. its default ServiceAccount) */
  afterCreate?(def: ResourceDef, obj: KubeObject): Promise<void>;
  /** a namespace entered Terminating */
  namespaceTerminating?(name: string): void;
  /**
   * A create or update of the main resource passed validation and is about to be stored: reserve what it
   * needs (a Service's cluster IP and node ports) and fill it in. The returned function learns
   * whether the write was stored, so a failed write releases what was reserved.
   */
  beginWrite?(req: { def: ResourceDef; obj: KubeObject; old?: KubeObject; dryRun: boolean }): Promise<FinishWrite | undefined>;
  /** an update of the main resource is about to be validated: carry over what it left out (a Service's allocated cluster IP) */
  prepareWrite?(req: { def: ResourceDef; obj: KubeObject; old: KubeObject }): void;
  /** an object is gone from the store (release what it held) */
  afterDelete?(def: ResourceDef, obj: KubeObject): Promise<void>;
}

export type FinishWrite = (stored: boolean) => Promise<void>;

export interface RegistryOptions {
  store: Store;
  resources: ResourceRegistry;
  admission: AdmissionChain;
  codec?: ObjectCodec;
  /** resources encrypted at rest (ignored when `codec` is given: that codec carries its own) */
  encryption?: EncryptionAtRest;
  now?: () => Date;
  hooks?: WriteHooks;
}

/**
 * The write paths of the apiserver, independent of HTTP: create, update (incl. status), patch via a
 * caller-supplied transform, delete with grace periods and finalizers, and collection delete.
 */
export class Registry {
  readonly resources: ResourceRegistry;
  readonly codec: ObjectCodec;
  readonly store: Store;
  readonly #admission: AdmissionChain;
  readonly #stores = new Map<ResourceDef, ResourceStore>();
  readonly #now: () => Date;
  readonly #encryption: EncryptionAtRest | undefined;
  hooks: WriteHooks;

  constructor(opts: RegistryOptions) {
    this.resources = opts.resources;
    this.store = opts.store;
    this.#encryption = opts.encryption;
    this.codec = opts.codec ?? new ObjectCodec({ encryption: opts.encryption });
    this.#admission = opts.admission;
    this.#now = opts.now ?? (() => new Date());
    this.hooks = opts.hooks ?? {};
    for (const def of opts.resources.all()) this.storeFor(def);
  }

  now(): Date {
    return this.#now();
  }

  /**
   * Admission of a request whose object is not the stored one, run by its handler: a CONNECT
   * (pods/exec, attach, portforward, nodes/proxy: the options), a subresource create (pods/binding,
   * pods/eviction, serviceaccounts/token: the Binding, Eviction, TokenRequest) or the mutate phase
   * of a scale (the Scale). `phase` omitted: mutating then validating plugins, as kube-apiserver's
   * connect and create handlers do.
   */
  async admit(req: AdmissionRequest, phase?: 'mutate' | 'validate'): Promise<void> {
    if (phase !== 'validate') await this.#admission.mutate(req);
    if (phase !== 'mutate') await this.#admission.validate(req);
  }

  storeFor(def: ResourceDef): ResourceStore {
    let rs = this.#stores.get(def);
    if (!rs) {
      // each served version of a custom resource decodes with its own apiVersion (conversion None);
      // a built-in version served over another's objects converts them (autoscaling/v1 over v2)
      const codec =
        def.custom || def.conversion
          ? new ObjectCodec({ maxCached: 5_000, apiVersion: apiVersionOf(def), conversion: def.conversion, encryption: this.#encryption })
          : this.codec;
      rs = new ResourceStore(def, this.store, codec);
      this.#stores.set(def, rs);
    }
    return rs;
  }

  /** Forget the stores of defs no longer served (a CRD went or changed). */
  dropStores(keep: (def: ResourceDef) => boolean): void {
    for (const def of this.#stores.keys()) if (!keep(def)) this.#stores.delete(def);
  }

  defFor(group: string, plural: string): ResourceDef | undefined {
    return this.resources.all().find((d) => d.group === group && d.plural === plural);
  }

  async create(def: ResourceDef, input: KubeObject, ctx: OperationContext, subresource = ''): Promise<Decoded> {
    const rs = this.storeFor(def);
    if (input.metadata.resourceVersion) throw badRequest('resourceVersion should not be set on objects to be created');
    const wantsGenerated = !input.metadata.name && !!input.metadata.generateName;
    // each generateName attempt starts from the object as the client sent it
    const pristine = wantsGenerated ? jsonClone(input) : input;
    for (let attempt = 0; ; attempt++) {
      let obj = attempt === 0 ? input : jsonClone(pristine);
      if (wantsGenerated) obj.metadata.name = generateName(obj.metadata.generateName ?? '');
      await this.#admit('CREATE', def, subresource, obj, undefined, ctx, 'mutate');
      prepareForCreate(def, obj, this.#now());
      prepareCreateSpecial(def, obj);
      obj = this.#track(def, undefined, obj, ctx, subresource);
      this.#validate(def, obj);
      await this.#admit('CREATE', def, subresource, obj, undefined, ctx, 'validate');
      // reservations (a Service's cluster IP) come last: a refused write touches nothing
      const finish = subresource === '' ? await this.hooks.beginWrite?.({ def, obj, dryRun: ctx.dryRun }) : undefined;
      let created: Decoded;
      try {
        created = await rs.create(obj, ctx.dryRun);
      } catch (err) {
        await finish?.(false);
        if (wantsGenerated && isHedgeError(err, 'AlreadyExists') && attempt < 8) continue;
        throw err;
      }
      await finish?.(true);
      // the object as written (not `created.obj`: that would parse what was just stored, and keep the parse)
      if (!ctx.dryRun && this.hooks.afterCreate) await this.hooks.afterCreate(def, obj);
      return created;
    }
  }

  /**
   * PUT of the main resource or of `status`: the body replaces the stored object. Each attempt
   * changes the object it gets; given `again` (a fresh decode of the request's body), the first
   * attempt takes `body` itself and a retry `again()`, else every attempt takes a deep copy.
   */
  async update(
    def: ResourceDef,
    namespace: string,
    name: string,
    body: KubeObject,
    subresource: string,
    ctx: OperationContext,
    again?: () => KubeObject,
  ): Promise<Decoded> {
    let first: KubeObject | undefined = again ? body : undefined;
    const change = (): KubeObject => {
      const b = first;
      first = undefined;
      return b ?? (again ? again() : jsonClone(body));
    };
    return this.transform(def, namespace, name, subresource, ctx, change, { replaces: true });
  }

  /**
   * Read-modify-write: `change` turns the current object into the desired one (patch, binding, PUT
   * body); then the same update pipeline as PUT. Retried on conflicts unless the result carries a
   * resourceVersion precondition. `replaces`: `change` neither reads nor writes the current object
   * (a PUT), so the private copy it would get serves as the old object.
   */
  async transform(
    def: ResourceDef,
    namespace: string,
    name: string,
    subresource: string,
    ctx: OperationContext,
    change: (current: KubeObject) => KubeObject | Promise<KubeObject>,
    opts: { current?: Decoded; replaces?: boolean; admission?: TransformAdmission } = {},
  ): Promise<Decoded> {
    const rs = this.storeFor(def);
    // reservations of the attempt that is being stored; an attempt retried on a conflict undoes its own
    let pending: FinishWrite | undefined;
    let lastOld: KubeObject | undefined;
    const settle = async (stored: boolean): Promise<void> => {
      const f = pending;
      pending = undefined;
      await f?.(stored);
    };
    let out;
    try {
      out = await rs.guaranteedUpdate(
      namespace,
      name,
      async (current, currentDecoded): Promise<UpdateResult> => {
        await settle(false);
        // A binding reserves nothing and tracks no fields: nothing below writes to `old`, so the
        // shared decoded object serves (one deep copy less per bind).
        // A PUT's change ignores `current` (already a private copy): it is the old object as is.
        const old = subresource === 'binding' ? currentDecoded.obj : opts.replaces ? current : jsonClone(current);
        lastOld = old;
        const desired = await change(current);
        if (!desired.metadata || typeof desired.metadata !== 'object') desired.metadata = {};
        let obj = prepareForUpdate(def, desired, old, subresource);
        const view = opts.admission;
        if (view === undefined) await this.#admit('UPDATE', def, subresource, obj, old, ctx, 'mutate');
        const reserves = subresource === '' && !obj.metadata.deletionTimestamp;
        if (reserves) this.hooks.prepareWrite?.({ def, obj, old });
        obj = this.#track(def, old, obj, ctx, subresource);
        // Binding writes spec.nodeName directly in storage upstream, past the pod update rules.
        this.#validate(def, obj, old, subresource === 'binding');
        if (view === undefined) await this.#admit('UPDATE', def, subresource, obj, old, ctx, 'validate');
        else if (view !== 'none') {
          await this.#admission.validate(admissionRequest(ctx, { operation: 'UPDATE', def, subresource, kind: view.kind, object: view.of(obj), oldObject: view.of(old) }));
        }
        if (reserves) pending = await this.hooks.beginWrite?.({ def, obj, old, dryRun: ctx.dryRun });
        // An object being deleted goes away once its last finalizer is removed (ShouldDeleteDuringUpdate).
        if (obj.metadata.deletionTimestamp && (obj.metadata.finalizers ?? []).length === 0 && old.metadata.deletionGracePeriodSeconds === 0) {
          return { kind: 'delete', obj };
        }
        return { kind: 'write', obj };
      },
      { dryRun: ctx.dryRun, current: opts.current },
    );
    } catch (err) {
      await settle(false);
      throw err;
    }
    await settle(!out.deleted);
    if (out.deleted && !ctx.dryRun && lastOld) await this.hooks.afterDelete?.(def, lastOld);
    return out.obj;
  }

  /** `admitted`: the caller admitted the request as what it is (an eviction: a CREATE of pods/eviction), so the DELETE is not admitted again */
  async delete(def: ResourceDef, namespace: string, name: string, options: DeleteOptions, ctx: OperationContext, admitted = false): Promise<DeleteOutcome> {
    const rs = this.storeFor(def);
    for (let attempt = 0; ; attempt++) {
      const cur = await rs.get(namespace, name);
      const obj = cur.obj;
      const pre = options.preconditions;
      if (pre?.uid && pre.uid !== obj.metadata.uid) {
        throw rs.conflict(name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${obj.metadata.uid ?? ''}`);
      }
      if (pre?.resourceVersion && pre.resourceVersion !== obj.metadata.resourceVersion) {
        throw rs.conflict(
          name,
          `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${obj.metadata.resourceVersion ?? ''}`,
        );
      }
      if (!admitted) await this.#admit('DELETE', def, '', undefined, obj, ctx, 'validate');
      try {
        if (isCore(def, 'namespaces')) return await this.#deleteNamespace(rs, cur, ctx);
        const grace = gracePeriodFor(def, obj, options.gracePeriodSeconds);
        const gcFinalizer = gcFinalizerFor(options.propagationPolicy);
        if (gcFinalizer && !(obj.metadata.finalizers ?? []).includes(gcFinalizer)) {
          // Orphan / Foreground: the garbage collector finishes the delete and then drops the finalizer
          return { obj: await this.#markDeleting(rs, cur, obj.metadata.deletionTimestamp ? (obj.metadata.deletionGracePeriodSeconds ?? 0) : grace, ctx, gcFinalizer), deleted: false };
        }
        const hasFinalizers = (obj.metadata.finalizers ?? []).length > 0;
        const pendingGrace = obj.metadata.deletionGracePeriodSeconds;
        if (obj.metadata.deletionTimestamp) {
          // Already being deleted: a shorter grace period shortens it; grace 0 without finalizers removes it.
          if (grace === 0 && !hasFinalizers) return { obj: await this.#remove(def, rs, cur, ctx), deleted: true };
          if (pendingGrace !== undefined && grace < pendingGrace) {
            return { obj: await this.#markDeleting(rs, cur, grace, ctx), deleted: false };
          }
          return { obj: cur, deleted: false };
        }
        if (grace > 0 || hasFinalizers) return { obj: await this.#markDeleting(rs, cur, grace, ctx), deleted: false };
        return { obj: await this.#remove(def, rs, cur, ctx), deleted: true };
      } catch (err) {
        if (isHedgeError(err, 'Conflict') && err.message === 'retry' && attempt < 20) continue;
        throw err;
      }
    }
  }

  async #remove(def: ResourceDef, rs: ResourceStore, cur: Decoded, ctx: OperationContext): Promise<Decoded> {
    const gone = await rs.remove(cur, ctx.dryRun);
    if (!ctx.dryRun) await this.hooks.afterDelete?.(def, cur.obj);
    return gone;
  }

  async #markDeleting(rs: ResourceStore, cur: Decoded, grace: number, ctx: OperationContext, finalizer?: string): Promise<Decoded> {
    const now = this.#now();
    const out = await rs.guaranteedUpdate(
      cur.obj.metadata.namespace ?? '',
      cur.obj.metadata.name ?? '',
      (obj) => {
        const m = mutableMeta(obj);
        if (!m.deletionTimestamp) {
          m.deletionTimestamp = timestamp(new Date(now.getTime() + grace * 1000));
          m.deletionGracePeriodSeconds = grace;
        } else if (m.deletionGracePeriodSeconds === undefined || grace < m.deletionGracePeriodSeconds) {
          m.deletionTimestamp = timestamp(new Date(now.getTime() + grace * 1000));
          m.deletionGracePeriodSeconds = grace;
        }
        if (finalizer) {
          // the two propagation finalizers exclude each other (upstream deletionFinalizersForGarbageCollection)
          const other = finalizer === ORPHAN_FINALIZER ? FOREGROUND_FINALIZER : ORPHAN_FINALIZER;
          m.finalizers = [...(m.finalizers ?? []).filter((f) => f !== other && f !== finalizer), finalizer];
        }
        delete m.resourceVersion;
        return { kind: 'write', obj };
      },
      { dryRun: ctx.dryRun, current: cur },
    );
    return out.obj;
  }

  async #deleteNamespace(rs: ResourceStore, cur: Decoded, ctx: OperationContext): Promise<DeleteOutcome> {
    const name = cur.obj.metadata.name ?? '';
    if (cur.obj.metadata.deletionTimestamp) {
      throw new HedgeError(
        'Conflict',
        'Operation cannot be fulfilled on namespaces "' +
          name +
          '": The system is ensuring all content is removed from this namespace.  Upon completion, this namespace will automatically be purged by the system.',
        { details: { kind: 'namespaces', name } },
      );
    }
    const spec = cur.obj.spec as { finalizers?: string[] } | undefined;
    if ((spec?.finalizers ?? []).length === 0 && (cur.obj.metadata.finalizers ?? []).length === 0) {
      return { obj: await rs.remove(cur, ctx.dryRun), deleted: true };
    }
    const now = timestamp(this.#now());
    const out = await rs.guaranteedUpdate(
      '',
      name,
      (obj) => {
        const m = mutableMeta(obj);
        m.deletionTimestamp = now;
        m.deletionGracePeriodSeconds = 0;
        obj.status = { ...(obj.status as object | undefined), phase: 'Terminating' };
        delete m.resourceVersion;
        return { kind: 'write', obj };
      },
      { dryRun: ctx.dryRun, current: cur },
    );
    if (!ctx.dryRun) this.hooks.namespaceTerminating?.(name);
    return { obj: out.obj, deleted: false };
  }

  #track(def: ResourceDef, old: KubeObject | undefined, obj: KubeObject, ctx: OperationContext, subresource: string): KubeObject {
    if (!ctx.fieldManager || !this.hooks.trackManagedFields) return obj;
    return this.hooks.trackManagedFields({ def, old, obj, manager: ctx.fieldManager, subresource, now: this.#now() });
  }

  #validate(def: ResourceDef, obj: KubeObject, old?: KubeObject, metadataOnly = false): void {
    const seen = new Set<string>();
    // ResourceDef.validate may check metadata too; report each problem once.
    const causes = [...validateMeta(def, obj, old), ...((!metadataOnly && def.validate?.(obj, old)) || [])].filter((c) => {
      const k = `${c.field}\u0000${c.message}`;
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    });
    if (causes.length > 0) throw invalidObject(def, obj.metadata.name ?? '', causes);
  }

  async #admit(
    operation: AdmissionOperation,
    def: ResourceDef,
    subresource: string,
    object: KubeObject | undefined,
    oldObject: KubeObject | undefined,
    ctx: OperationContext,
    phase: 'mutate' | 'validate',
  ): Promise<void> {
    const req = admissionRequest(ctx, { operation, def, subresource, object, oldObject });
    if (phase === 'mutate') await this.#admission.mutate(req);
    else await this.#admission.validate(req);
  }
}

/**
 * How `transform` admits a write whose request is about another object than the stored one:
 * `none` — the caller admitted it (a binding: a CREATE of the Binding); a view — the caller ran the
 * mutate phase on the subresource's object in `change` (a Scale), and the validate phase sees the
 * view of the new and the old stored object (upstream's scale validation wrappers).
 */
export type TransformAdmission = 'none' | { kind: GroupVersionKind; of(obj: KubeObject): KubeObject };

/** what an admission request is about; name and namespace default to the object's (else the old one's) */
export interface AdmissionTarget {
  operation: AdmissionOperation;
  def: ResourceDef;
  subresource: string;
  kind?: GroupVersionKind;
  object?: KubeObject;
  oldObject?: KubeObject;
  name?: string;
  namespace?: string;
}

/** The admission request of an operation `ctx` (its user, dry run, warnings, audit annotations and signal). */
export function admissionRequest(ctx: OperationContext, t: AdmissionTarget): AdmissionRequest {
  return new AdmissionCall(t, ctx);
}

/** An admission request; its signal is the operation's, read on use (a request's is made then). */
class AdmissionCall implements AdmissionRequest {
  readonly operation: AdmissionOperation;
  readonly def: ResourceDef;
  readonly subresource: string;
  readonly kind: GroupVersionKind | undefined;
  readonly object: KubeObject | undefined;
  readonly oldObject: KubeObject | undefined;
  readonly namespace: string;
  readonly name: string;
  readonly user: UserInfo;
  readonly dryRun: boolean;
  readonly warnings: string[] | undefined;
  readonly auditAnnotations: Record<string, string> | undefined;
  readonly #ctx: OperationContext;

  constructor(t: AdmissionTarget, ctx: OperationContext) {
    this.operation = t.operation;
    this.def = t.def;
    this.subresource = t.subresource;
    this.kind = t.kind;
    this.object = t.object;
    this.oldObject = t.oldObject;
    const target = t.object ?? t.oldObject;
    this.namespace = t.namespace ?? target?.metadata.namespace ?? '';
    this.name = t.name ?? target?.metadata.name ?? '';
    this.user = ctx.user;
    this.dryRun = ctx.dryRun;
    this.warnings = ctx.warnings;
    this.auditAnnotations = ctx.auditAnnotations;
    this.#ctx = ctx;
  }

  get signal(): AbortSignal {
    return this.#ctx.signal;
  }
}
