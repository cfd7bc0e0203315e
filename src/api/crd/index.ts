export { crdResourceDef } from './crd-resource.ts';
export { validateCrd } from './crd-validation.ts';
export { customResourceDefs, parseJsonPath, valueAt } from './custom-resource.ts';
export { applyDefaults, prune, validateStructuralSchema, validateValue, type JSONSchemaProps } from './schema.ts';
export { conditionOf, isEstablished, CRD_CLEANUP_FINALIZER, CRD_GROUP, CRD_PLURAL, type CrdObject, type CrdSpec, type CrdStatus, type CrdVersion } from './types.ts';
