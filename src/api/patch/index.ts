export { applyJsonPatch, MAX_JSON_PATCH_OPERATIONS } from './json-patch.ts';
export { applyMergePatch, createMergePatch, jsonEqual } from './merge-patch.ts';
export { applyStrategicMergePatch } from './strategic-merge-patch.ts';
export {
  emptyPatchMeta,
  patchMetaFromOpenAPI,
  type FieldLookup,
  type FieldPatchInfo,
  type OpenAPIV2Schema,
  type PatchMeta,
} from './patch-meta.ts';
export {
  BEFORE_FIRST_APPLY_MANAGER,
  serverSideApply,
  updateManagedFields,
  type ManagedOperation,
  type ServerSideApplyOptions,
  type UpdateManagedFieldsOptions,
} from './server-side-apply.ts';
