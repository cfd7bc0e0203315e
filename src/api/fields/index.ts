export {
  checkFieldsSupported,
  compileFieldSelector,
  exactMatch,
  fieldSelectorToString,
  fieldSet,
  matchesFields,
  parseFieldSelector,
  supportedFields,
  type FieldOperator,
  type FieldRequirement,
  type FieldSelector,
} from './selector.ts';
export { eventFields, namespaceFields, nodeFields, podFields, secretFields } from './field-maps.ts';
export { formatMap, podFieldRefValue, type FieldRefScope } from './pod-field-ref.ts';
