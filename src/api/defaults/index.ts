export { defaultPod, defaultPodSpec, imageTag, podQOSClass } from './pod.ts';
export { defaultEndpoints, defaultNamespace, defaultNode, defaultSecret, defaultService } from './others.ts';
export {
  defaultCronJob,
  defaultDaemonSet,
  defaultDeployment,
  defaultEndpointSlice,
  defaultJob,
  defaultJobSpec,
  defaultPodDisruptionBudget,
  defaultReplicaSet,
  defaultStatefulSet,
} from './workloads.ts';
