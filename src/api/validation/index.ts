export { objectValidator, type SpecValidator } from './for-resource.ts';
export { validatePod, validatePodSpec, validatePodUpdate, validateTolerations } from './pod.ts';
export { validateResourceList, validateResourceRequirements } from './resources.ts';
export { MAX_DATA_SIZE, validateConfigMap, validateSecret } from './config-data.ts';
export { validateService } from './service.ts';
export {
  validateEndpoints,
  validateEvent,
  validateLease,
  validateNamespace,
  validateNode,
  validateRuntimeClass,
  validateServiceAccount,
} from './cluster.ts';
export { diffPaths, semanticEqual } from './semantic.ts';
export {
  validateControllerRevision,
  validateCronJob,
  validateDaemonSet,
  validateDeployment,
  validateEndpointSlice,
  validateJob,
  validatePodDisruptionBudget,
  validateReplicaSet,
  validateStatefulSet,
} from './workloads.ts';
