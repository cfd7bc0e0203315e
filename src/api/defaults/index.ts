export { defaultPod, defaultPodSpec, imageTag, podQOSClass } from './pod.ts';
export { defaultEndpoints, defaultNamespace, defaultNode, defaultSecret, defaultService } from './others.ts';
