export {
  DEFINITION_REF_PREFIX,
  definitionNameFor,
  loadDefinitions,
  refTarget,
  type Definitions,
  type GroupVersionKind,
  type SchemaObject,
} from './definitions.ts';
export {
  groupVersionPath,
  openapiV2,
  openapiV3Document,
  openapiV3Index,
  servedOpenapiV2,
  servedOpenapiV3,
  servedOpenapiV3Index,
  type ServedDocument,
} from './documents.ts';
export { ATOMIC_STRUCTS, PATCH_META, type FieldPatchMeta, type ListType, type PatchStrategy } from './merge-keys.ts';
export { validateAgainstSchema, type SchemaValidationResult } from './validate.ts';
