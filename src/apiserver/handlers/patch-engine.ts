import { definitionNameFor, loadDefinitions, type Definitions } from '../../api/openapi/index.ts';
import { isPlainObject, type Json, type KubeObject } from '../../api/object.ts';
import {
  applyJsonPatch,
  applyMergePatch,
  applyStrategicMergePatch,
  emptyPatchMeta,
  patchMetaFromOpenAPI,
  serverSideApply,
  updateManagedFields,
  type OpenAPIV2Schema,
  type PatchMeta,
} from '../../api/patch/index.ts';
import type { ResourceDef } from '../../api/resources/types.ts';
import { HedgeError } from '../../lib/errors.ts';

export type PatchType = 'json' | 'merge' | 'strategic' | 'apply';

export const patchMediaTypes: Record<string, PatchType> = {
  'application/json-patch+json': 'json',
  'application/merge-patch+json': 'merge',
  'application/strategic-merge-patch+json': 'strategic',
  'application/apply-patch+yaml': 'apply',
};

/** Patch application and managedFields bookkeeping, with per-type patch metadata cached. */
export interface PatchEngine {
  /** json / merge / strategic patch of `current` (returns a new object) */
  patch(def: ResourceDef, type: Exclude<PatchType, 'apply'>, current: KubeObject, patch: Json): KubeObject;
  serverSideApply(def: ResourceDef, live: KubeObject | undefined, applied: KubeObject, manager: string, force: boolean, now: Date): KubeObject;
  /** record `manager` as the writer of what changed between old and updated */
  trackUpdate(def: ResourceDef, old: KubeObject | undefined, updated: KubeObject, manager: string, subresource: string, now: Date): KubeObject;
}

/**
 * Patch metadata comes from `given` or the generated upstream definitions, parsed on the first
 * patch that needs a type's metadata, not at start: ~2.4 MiB of heap that a node's replica
 * apiserver, which is rarely written through, would hold for nothing.
 */
export function createPatchEngine(given?: Definitions): PatchEngine {
  const metas = new Map<ResourceDef, PatchMeta>();
  const metaFor = (def: ResourceDef): PatchMeta => {
    let m = metas.get(def);
    if (!m) {
      const definitions = given ?? loadDefinitions();
      const apiVersion = def.group ? `${def.group}/${def.version}` : def.version;
      const name = definitionNameFor(apiVersion, def.kind, definitions);
      m = name ? patchMetaFromOpenAPI(definitions as Record<string, OpenAPIV2Schema>, name) : emptyPatchMeta;
      metas.set(def, m);
    }
    return m;
  };
  const asObject = (v: Json): KubeObject => {
    if (!isPlainObject(v)) throw new HedgeError('BadRequest', 'the patched object is not a JSON object');
    const obj = v as unknown as KubeObject;
    if (!isPlainObject(obj.metadata)) obj.metadata = {};
    return obj;
  };
  return {
    patch(def, type, current, patch) {
      const doc = current as unknown as Json;
      switch (type) {
        case 'json':
          return asObject(applyJsonPatch(doc, patch));
        case 'merge':
          return asObject(applyMergePatch(doc, patch));
        case 'strategic':
          return asObject(applyStrategicMergePatch(doc, patch, metaFor(def)));
      }
    },
    serverSideApply(def, live, applied, manager, force, now) {
      return serverSideApply({ live, applied, manager, force, meta: metaFor(def), now });
    },
    trackUpdate(def, old, updated, manager, subresource, now) {
      return updateManagedFields({
        old,
        updated,
        manager,
        operation: 'Update',
        now,
        meta: metaFor(def),
        subresource: subresource || undefined,
      });
    },
  };
}
