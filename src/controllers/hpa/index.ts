export { HpaController, hpaRef, type HpaControllerConfig, type HpaObject } from './controller.ts';
export { metricsApiSource, type ResourceMetricsSource, type PodUsage, type ResourceName } from './metrics-source.ts';
export { calcReplicas, type PodInfo, type Recommendation, type Target } from './replica-calculator.ts';
