import type { CustomResourceDefinitionCondition } from 'kubernetes-types/apiextensions/v1.js';
import { CRD_CLEANUP_FINALIZER, CRD_GROUP, CRD_PLURAL, customResourceDefs, type CrdObject } from '../../api/crd/index.ts';
import type { KubeObject } from '../../api/object.ts';
import type { ResourceRegistry } from '../../api/resources/registry.ts';
import type { ResourceDef } from '../../api/resources/types.ts';
import { isHedgeError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import type { AdmissionPlugin } from '../admission/types.ts';
import { ObjectCache } from '../auth/object-cache.ts';
import { systemUser } from '../bootstrap/seed.ts';
import { timestamp } from '../registry/strategy.ts';
import type { Registry } from '../registry/registry.ts';

export interface CrdControllerOptions {
  registry: Registry;
  resources: ResourceRegistry;
  logger: Logger;
  signal: AbortSignal;
  /** pause before retrying a CRD whose custom resources are still going (default 1 s) */
  retryMs?: number;
}

interface Served {
  /** metadata.generation the defs were built from */
  generation: number;
  defs: ResourceDef[];
}

/**
 * What upstream's apiextensions-apiserver controllers do, in one loop over a list+watch of the
 * stored CRDs (so every apiserver replica, and a restarted one, serves the same types):
 * naming (NamesAccepted, with the conflicts upstream checks), establishing (the custom resource's
 * ResourceDefs go into the served registry, then Established), and finalizing (a deleted CRD's
 * objects are deleted, then `customresourcecleanup.apiextensions.k8s.io` is dropped and the type
 * stops being served).
 */
export class CrdController {
  readonly #opts: CrdControllerOptions;
  readonly #log: Logger;
  readonly #crdDef: ResourceDef;
  readonly #cache: ObjectCache<CrdObject>;
  readonly #served = new Map<string, Served>();
  #running: Promise<void> | undefined;
  #again = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(opts: CrdControllerOptions) {
    this.#opts = opts;
    this.#log = opts.logger.child({ component: 'crd-controller' });
    const def = opts.resources.lookup(CRD_GROUP, 'v1', CRD_PLURAL);
    if (!def) throw new Error('CustomResourceDefinition is not a served type');
    this.#crdDef = def;
    this.#cache = new ObjectCache<CrdObject>({
      registry: opts.registry,
      def,
      logger: this.#log,
      signal: opts.signal,
      onEvent: () => this.kick(),
    });
    opts.signal.addEventListener('abort', () => clearTimeout(this.#timer), { once: true });
  }

  /** Load the stored CRDs and serve their types; resolves once they are served. */
  async start(): Promise<void> {
    await this.#cache.start();
    await this.kick();
  }

  /** Run a sync pass (coalesced: a pass already running runs once more). Resolves when the pass is done. */
  kick(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = (async () => {
      try {
        do {
          this.#again = false;
          await this.#sync().catch((err: unknown) => {
            if (!this.#opts.signal.aborted) this.#log.error({ err }, 'CRD sync failed');
          });
        } while (this.#again && !this.#opts.signal.aborted);
      } finally {
        this.#running = undefined;
      }
    })();
    return this.#running;
  }

  #retryLater(): void {
    if (this.#timer || this.#opts.signal.aborted) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.kick();
    }, this.#opts.retryMs ?? 1000);
  }

  async #sync(): Promise<void> {
    const crds = [...this.#cache.list()].sort((a, b) => (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? '') || (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''));
    const { resources, registry } = this.#opts;
    const present = new Set(crds.map((c) => c.metadata.name ?? ''));
    // types of CRDs that are gone stop being served
    for (const name of [...this.#served.keys()]) {
      if (!present.has(name)) {
        this.#served.delete(name);
        resources.remove((d) => d.custom?.crdName === name);
        this.#log.info({ crd: name }, 'custom resource no longer served');
      }
    }
    const accepted: CrdObject[] = [];
    for (const crd of crds) {
      const name = crd.metadata.name ?? '';
      const conflict = this.#namesConflict(crd, accepted);
      if (conflict) {
        await this.#writeStatus(crd, conflict);
        continue;
      }
      accepted.push(crd);
      const generation = crd.metadata.generation ?? 0;
      const cur = this.#served.get(name);
      if (!cur || cur.generation !== generation) {
        const defs = customResourceDefs(crd);
        resources.remove((d) => d.custom?.crdName === name);
        resources.add(defs);
        this.#served.set(name, { generation, defs });
        this.#log.info({ crd: name, versions: defs.map((d) => d.version) }, 'custom resource served');
      }
      registry.dropStores((d) => !d.custom || resources.lookup(d.group, d.version, d.plural) === d);
      if (crd.metadata.deletionTimestamp) await this.#finalize(crd);
      else {
        await this.#ensureFinalizer(crd);
        await this.#writeStatus(crd, undefined);
      }
    }
  }

  /** upstream's naming controller: plural, singular, short names and kind must be unique within the group */
  #namesConflict(crd: CrdObject, accepted: CrdObject[]): string | undefined {
    const s = crd.spec;
    const builtin = this.#opts.resources.all().filter((d) => d.group === s.group && !d.custom);
    if (builtin.some((d) => d.plural === s.names.plural)) return `"${s.names.plural}" is already in use`;
    for (const other of accepted) {
      if (other.spec.group !== s.group) continue;
      const o = other.spec.names;
      if (o.kind === s.names.kind) return `"${s.names.kind}" is already in use`;
      const taken = new Set([o.plural, o.singular, ...(o.shortNames ?? [])]);
      for (const n of [s.names.singular, ...(s.names.shortNames ?? [])]) if (n && taken.has(n)) return `"${n}" is already in use`;
    }
    return undefined;
  }

  async #ensureFinalizer(crd: CrdObject): Promise<void> {
    if ((crd.metadata.finalizers ?? []).includes(CRD_CLEANUP_FINALIZER)) return;
    await this.#transform(crd, '', (cur) => {
      if (cur.metadata.deletionTimestamp) return cur;
      cur.metadata.finalizers = [...(cur.metadata.finalizers ?? []), CRD_CLEANUP_FINALIZER];
      return cur;
    });
  }

  /** NamesAccepted/Established (or NamesAccepted=False with the conflict), acceptedNames and storedVersions */
  async #writeStatus(crd: CrdObject, conflict: string | undefined, terminating?: CustomResourceDefinitionCondition): Promise<void> {
    const storage = crd.spec.versions.find((v) => v.storage)?.name;
    const wanted: CustomResourceDefinitionCondition[] = conflict
      ? [
          { type: 'NamesAccepted', status: 'False', reason: 'MultipleNamesNotAllowed', message: conflict },
          { type: 'Established', status: 'False', reason: 'NotAccepted', message: 'not all names are accepted' },
        ]
      : [
          { type: 'NamesAccepted', status: 'True', reason: 'NoConflicts', message: 'no conflicts found' },
          { type: 'Established', status: 'True', reason: 'InitialNamesAccepted', message: 'the initial names have been accepted' },
        ];
    if (terminating) wanted.push(terminating);
    const status = crd.status ?? {};
    const needs =
      wanted.some((w) => {
        const c = status.conditions?.find((x) => x.type === w.type);
        return !c || c.status !== w.status || c.reason !== w.reason || c.message !== w.message;
      }) ||
      (!conflict && JSON.stringify(status.acceptedNames) !== JSON.stringify(crd.spec.names)) ||
      (!conflict && storage !== undefined && !(status.storedVersions ?? []).includes(storage));
    if (!needs) return;
    const now = timestamp(this.#opts.registry.now());
    await this.#transform(crd, 'status', (cur) => {
      const c = cur as CrdObject;
      const st = c.status ?? {};
      const conditions = [...(st.conditions ?? [])];
      for (const w of wanted) {
        const i = conditions.findIndex((x) => x.type === w.type);
        const prev = i >= 0 ? conditions[i] : undefined;
        const next = { ...w, lastTransitionTime: prev && prev.status === w.status ? prev.lastTransitionTime : now };
        if (i >= 0) conditions[i] = next;
        else conditions.push(next);
      }
      st.conditions = conditions;
      if (!conflict) {
        st.acceptedNames = structuredClone(c.spec.names);
        if (storage !== undefined && !(st.storedVersions ?? []).includes(storage)) st.storedVersions = [...(st.storedVersions ?? []), storage];
      } else st.acceptedNames ??= { plural: '', kind: '' };
      c.status = st;
      return c;
    });
  }

  /** delete every object of the CRD, then release it */
  async #finalize(crd: CrdObject): Promise<void> {
    if (!(crd.metadata.finalizers ?? []).includes(CRD_CLEANUP_FINALIZER)) return;
    const name = crd.metadata.name ?? '';
    const { registry, resources } = this.#opts;
    const def = resources.all().find((d) => d.custom?.crdName === name);
    let remaining = 0;
    if (def) {
      const rs = registry.storeFor(def);
      const ctx = { user: systemUser, dryRun: false, signal: this.#opts.signal };
      const list = await rs.list(undefined, {});
      for (const kv of list.items) {
        const obj = rs.codec.decode(kv).obj;
        try {
          const out = await registry.delete(def, obj.metadata.namespace ?? '', obj.metadata.name ?? '', {}, ctx);
          if (!out.deleted) remaining++;
        } catch (err) {
          if (!isHedgeError(err, 'NotFound')) throw err;
        }
      }
    }
    if (remaining > 0) {
      await this.#writeStatus(crd, undefined, {
        type: 'Terminating', status: 'True', reason: 'InstanceDeletionPending', message: `CustomResourceDefinition marked for deletion; ${remaining} instances remain`,
      });
      this.#retryLater();
      return;
    }
    await this.#transform(crd, '', (cur) => {
      cur.metadata.finalizers = (cur.metadata.finalizers ?? []).filter((f) => f !== CRD_CLEANUP_FINALIZER);
      return cur;
    });
    this.#log.info({ crd: name }, 'custom resources deleted; CRD released');
  }

  async #transform(crd: CrdObject, subresource: string, change: (cur: KubeObject) => KubeObject): Promise<void> {
    const ctx = { user: systemUser, dryRun: false, signal: this.#opts.signal, fieldManager: 'kube-apiserver' };
    try {
      await this.#opts.registry.transform(this.#crdDef, '', crd.metadata.name ?? '', subresource, ctx, (cur) => {
        if (cur.metadata.uid !== crd.metadata.uid) throw new Error('the CRD was replaced');
        const out = change(cur);
        delete out.metadata.resourceVersion;
        return out;
      });
    } catch (err) {
      // gone, or replaced meanwhile: the watch brings the next state
      if (isHedgeError(err, 'NotFound') || (err instanceof Error && err.message === 'the CRD was replaced')) return;
      throw err;
    }
  }
}

/** Upstream adds the cleanup finalizer when a CRD is created, so its objects can never outlive it. */
export function crdFinalizerPlugin(): AdmissionPlugin {
  return {
    name: 'CustomResourceDefinitionFinalizer',
    mutate(req) {
      if (req.operation !== 'CREATE' || req.subresource !== '' || !req.object) return;
      if (req.def.group !== CRD_GROUP || req.def.plural !== CRD_PLURAL) return;
      const m = req.object.metadata;
      if (!(m.finalizers ?? []).includes(CRD_CLEANUP_FINALIZER)) m.finalizers = [...(m.finalizers ?? []), CRD_CLEANUP_FINALIZER];
    },
  };
}
