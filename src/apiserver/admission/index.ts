export type { AdmissionOperation, AdmissionPlugin, AdmissionRequest, GroupVersionKind } from './types.ts';
export { admissionKind } from './types.ts';
export { AdmissionChain } from './chain.ts';
export { defaultsPlugin } from './defaults.ts';
export { immortalNamespaces, namespaceLifecyclePlugin, type NamespaceLifecycleOptions } from './namespace-lifecycle.ts';
export { runtimeClassPlugin, type RuntimeClassAdmissionOptions } from './runtime-class.ts';
export { nodeRestrictionPlugin, type NodeRestrictionOptions } from './node-restriction.ts';
